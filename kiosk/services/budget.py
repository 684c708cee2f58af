"""A budget of secret checks shared by every address: at most `limit` in any `window`.

A budget is `limit` rows (slots), each stamped with the moment of the last check it
counted. A check takes a slot whose stamp is at least a window old, in a transaction
serialised on the budget (services/atomic.serialise: an advisory lock on PostgreSQL, the
write lock on SQLite) and committed before the secret is compared, so however many requests
arrive at once, on however many server processes, no window ever holds more than `limit`
checks. Rows never multiply: the table holds `limit` rows per budget, whatever happens.

Time comes from kiosk.clock, as the per-address PIN throttle's: a slot stamped later than
now was taken under a clock that was ahead (a Raspberry Pi without a clock battery); it is
counted from now, so a clock put right never makes anyone wait longer than one window.
"""

from datetime import timedelta

from sqlalchemy import select, update

from kiosk import clock
from kiosk.extensions import db
from kiosk.models import CheckBudget
from kiosk.services.atomic import serialise


def spend(scope: str, limit: int, window: timedelta) -> int:
    """Count one check against `scope`'s budget: 0 if counted, else seconds to wait.

    Commits: the slot is taken (or the refusal decided) before the secret is compared.
    """
    serialise(f"kiosk: check budget {scope}")
    moment = clock.now()
    stamps = dict(
        db.session.execute(
            select(CheckBudget.slot, CheckBudget.used_at).where(CheckBudget.scope == scope)
        ).all()
    )
    if len(stamps) < limit:
        slot = next(n for n in range(limit) if n not in stamps)
        db.session.add(CheckBudget(scope=scope, slot=slot, used_at=moment))
        db.session.commit()
        return 0
    # Stamps from a clock that was ahead count from now: a window, never months.
    db.session.execute(
        update(CheckBudget)
        .where(CheckBudget.scope == scope, CheckBudget.used_at > moment)
        .values(used_at=moment)
        .execution_options(synchronize_session=False)
    )
    oldest_slot, oldest = db.session.execute(
        select(CheckBudget.slot, CheckBudget.used_at)
        .where(CheckBudget.scope == scope)
        .order_by(CheckBudget.used_at, CheckBudget.slot)
        .limit(1)
    ).one()
    oldest = min(oldest or moment - window, moment)
    if moment - oldest < window:
        db.session.commit()
        return max(1, int((window - (moment - oldest)).total_seconds() + 0.999))
    db.session.execute(
        update(CheckBudget)
        .where(CheckBudget.scope == scope, CheckBudget.slot == oldest_slot)
        .values(used_at=moment)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return 0
