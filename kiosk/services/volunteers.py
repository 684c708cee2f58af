"""The volunteer PIN, the unlocks it opens and the per-tablet limit on wrong PINs.

An unlock lives on the server: a random token in the tablet's HttpOnly cookie, its SHA-256
in the database. "Lock", a visitor screen, a few idle minutes or a new PIN end it for real,
so a copied cookie opens nothing afterwards.

Wrong PINs are counted per client (the tablet's address on the table's network) in one
row, by a single UPDATE ... RETURNING that reserves a check before the PIN is compared: however
many requests arrive at once, on however many server processes, at most MAX_ATTEMPTS
PINs are checked per round. A round ends at the right PIN or when its lockout is over.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kiosk import clock
from kiosk.content import current_content
from kiosk.extensions import Model, db
from kiosk.models import PinThrottle, Signup, Tally, VolunteerUnlock
from kiosk.parsing import normalise
from kiosk.services import budget
from kiosk.services.atomic import changed_rows
from kiosk.services.audit import record_audit
from kiosk.services.events import current_event
from kiosk.services.hashing import hash_secret, verify_secret
from kiosk.services.settings import VOLUNTEER_PIN_HASH, get_setting, set_setting

PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 12

# Five PINs per round; then the tablet waits 1 minute, then 2, 4, 8, at most 15, until the
# right PIN. Wrong PINs typed while it waits are not checked and change nothing.
MAX_ATTEMPTS = 5
FIRST_LOCKOUT = timedelta(minutes=1)
LONGEST_LOCKOUT = timedelta(minutes=15)
# Unlocks not seen for this long are deleted at the next unlock (they opened nothing anyway).
FORGET_UNLOCKS_AFTER = timedelta(days=1)
# How long after counting a conversation the volunteer can take it back.
UNDO_WINDOW = timedelta(seconds=60)

LOCKOUT_ACTION = "volunteer.pin_lockout"

# Every address together: at most 60 PINs checked an hour, so guessing a 4-digit PIN by
# rotating addresses takes days (10,000 PINs / 60 an hour), a 6-digit one years. A tablet
# already unlocked keeps working: its unlock lives on the server and needs no PIN.
BUDGET_SCOPE = "volunteer_pin"
BUDGET_CHECKS = 60
BUDGET_WINDOW = timedelta(hours=1)


def valid_pin(pin: str) -> bool:
    """4 to 12 digits: short enough for a table, long enough not to guess at a glance.

    Read by kiosk.parsing like every number typed: full-width digits ("１２３４", an East Asian
    keyboard) are the digits they show. Leading zeros count, so a PIN is text, not a number.
    """
    pin = normalise(pin)
    return pin.isascii() and pin.isdigit() and PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS


def set_volunteer_pin(pin: str, actor: str = "") -> None:
    pin = normalise(pin)
    if not valid_pin(pin):
        raise ValueError(f"The PIN must be {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits.")
    set_setting(VOLUNTEER_PIN_HASH, hash_secret(pin))
    record_audit("volunteer_pin", "volunteer PIN set", actor)


def volunteer_pin_is_set() -> bool:
    return bool(get_setting(VOLUNTEER_PIN_HASH))


def check_volunteer_pin(pin: str) -> bool:
    pin = normalise(pin)
    return valid_pin(pin) and verify_secret(get_setting(VOLUNTEER_PIN_HASH), pin)


def pin_fingerprint() -> str:
    """A short digest of the stored hash: an unlock made with an old PIN stops working."""
    stored = get_setting(VOLUNTEER_PIN_HASH) or ""
    return hashlib.sha256(stored.encode()).hexdigest()[:16]


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---- Wrong PINs, per tablet -------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """Whether a PIN may be checked now, and if not, for how many seconds to wait."""

    allowed: bool
    wait_seconds: int = 0
    # Which check of its round this one is (1 to MAX_ATTEMPTS), when allowed.
    attempt: int = 0
    # Who waits when not allowed: "tablet" (this address's wrong PINs) or "kiosk" (the
    # hour's PIN checks from every address together are used up).
    reason: str = "tablet"


def lockout_length(lockouts: int) -> timedelta:
    return min(FIRST_LOCKOUT * 2 ** max(lockouts - 1, 0), LONGEST_LOCKOUT)


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


def _insert_once(model: type[Model], **values: object) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: a row another request just made is kept as it is."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(model).values(**values).on_conflict_do_nothing())


def reserve_check(client: str) -> Gate:
    """Count one PIN check for `client` before it is made; refuse while it is locked out.

    The count and the lockout's start are one UPDATE ... RETURNING, committed before the PIN
    is compared, so parallel requests can never check more than MAX_ATTEMPTS PINs.
    """
    client = client[:64]
    for _ in range(3):  # a request that loses a race for a new round asks again
        moment = clock.now()
        _insert_once(PinThrottle, client=client, attempts=0, lockouts=0)
        last = PinThrottle.attempts + 1 >= MAX_ATTEMPTS
        counted = db.session.execute(
            update(PinThrottle)
            .where(PinThrottle.client == client, PinThrottle.attempts < MAX_ATTEMPTS)
            .values(
                attempts=PinThrottle.attempts + 1,
                # The last check of a round starts the lockout, unless that PIN is right.
                locked_at=case((last, moment), else_=PinThrottle.locked_at),
                lockouts=case((last, PinThrottle.lockouts + 1), else_=PinThrottle.lockouts),
            )
            .returning(PinThrottle.attempts)
            .execution_options(synchronize_session=False)
        ).first()
        if counted is not None:
            db.session.commit()
            return Gate(True, attempt=counted.attempts)
        gate, seen = _lockout(client, moment)
        if not gate.allowed:
            db.session.commit()
            return gate
        # The lockout is over: a new round begins with this check (one request starts it).
        started = db.session.execute(
            update(PinThrottle)
            .where(
                PinThrottle.client == client,
                PinThrottle.attempts >= MAX_ATTEMPTS,
                PinThrottle.locked_at == seen,
            )
            .values(attempts=1, locked_at=None)
            .returning(PinThrottle.attempts)
            .execution_options(synchronize_session=False)
        ).first()
        db.session.commit()
        if started is not None:
            return Gate(True, attempt=1)
    return pin_gate(client)


def _lockout(client: str, moment: datetime) -> tuple[Gate, datetime | None]:
    """The lockout of a client whose round is used up: (gate, its locked_at as read)."""
    locked_at, lockouts = db.session.execute(
        select(PinThrottle.locked_at, PinThrottle.lockouts).where(PinThrottle.client == client)
    ).one()
    if locked_at is None:
        return Gate(True), None
    length = lockout_length(lockouts)
    if moment < locked_at:
        # The clock went back: the lockout starts again now and lasts its own length, no
        # more (never until the clock catches up with a moment months away).
        db.session.execute(
            update(PinThrottle)
            .where(PinThrottle.client == client, PinThrottle.locked_at == locked_at)
            .values(locked_at=moment)
            .execution_options(synchronize_session=False)
        )
        return Gate(False, _seconds(length)), moment
    if moment - locked_at < length:
        return Gate(False, _seconds(length - (moment - locked_at))), locked_at
    return Gate(True), locked_at


def pin_gate(client: str) -> Gate:
    """May `client` try a PIN now (read only, for showing the wait)?"""
    row = db.session.get(PinThrottle, client[:64])
    if row is None or row.attempts < MAX_ATTEMPTS or row.locked_at is None:
        return Gate(True)
    moment = clock.now()
    length = lockout_length(row.lockouts)
    if moment < row.locked_at:
        return Gate(False, _seconds(length))
    if moment - row.locked_at < length:
        return Gate(False, _seconds(length - (moment - row.locked_at)))
    return Gate(True)


def attempt_unlock(pin: str, client: str) -> tuple[str | None, Gate]:
    """Check a PIN through the per-tablet limit: (a new unlock's token or None, gate)."""
    gate = reserve_check(client)
    if not gate.allowed:
        return None, gate
    wait = budget.spend(BUDGET_SCOPE, BUDGET_CHECKS, BUDGET_WINDOW)
    if wait:
        return None, Gate(False, wait, reason="kiosk")
    if check_volunteer_pin(pin):
        db.session.execute(
            update(PinThrottle)
            .where(PinThrottle.client == client[:64])
            .values(attempts=0, lockouts=0, locked_at=None)
            .execution_options(synchronize_session=False)
        )
        return start_unlock(client), gate
    after = pin_gate(client)
    if gate.attempt == MAX_ATTEMPTS:  # this PIN was the one that started the lockout
        row = db.session.get(PinThrottle, client[:64])
        minutes = lockout_length(row.lockouts if row else 1).seconds // 60
        record_audit(
            LOCKOUT_ACTION,
            f"Volunteer PIN locked on this tablet for {minutes} min after "
            f"{MAX_ATTEMPTS} wrong PINs in a row",
            client,
        )
    return None, after


# ---- Unlocks ------------------------------------------------------------------------------


def idle_timeout() -> timedelta:
    return timedelta(seconds=float(current_app.config["KIOSK_VOLUNTEER_IDLE_SECONDS"]))


def start_unlock(client: str) -> str:
    """Open the volunteer screen for one browser; returns the token for its cookie."""
    token = secrets.token_urlsafe(32)
    moment = clock.now()
    # Ended and long-idle unlocks can never open anything again: no need to keep them.
    db.session.execute(
        delete(VolunteerUnlock).where(
            or_(
                VolunteerUnlock.ended_at.is_not(None),
                VolunteerUnlock.last_seen_at < moment - FORGET_UNLOCKS_AFTER,
            )
        )
    )
    db.session.add(
        VolunteerUnlock(
            token_hash=_sha256(token),
            pin_fingerprint=pin_fingerprint(),
            client=client[:64],
            created_at=moment,
            last_seen_at=moment,
        )
    )
    db.session.commit()
    return token


def live_unlock(token: str | None) -> VolunteerUnlock | None:
    """The unlock of `token` if it is still open, counting this request as activity.

    Ended, made with another PIN, idle too long, or seen "in the future" (the clock went
    back): closed. One UPDATE decides, so a Lock at the same moment always wins.
    """
    if not token:
        return None
    moment = clock.now()
    unlock_id = db.session.execute(
        update(VolunteerUnlock)
        .where(
            VolunteerUnlock.token_hash == _sha256(token),
            VolunteerUnlock.ended_at.is_(None),
            VolunteerUnlock.pin_fingerprint == pin_fingerprint(),
            VolunteerUnlock.last_seen_at > moment - idle_timeout(),
            VolunteerUnlock.last_seen_at <= moment,
        )
        .values(last_seen_at=moment)
        .returning(VolunteerUnlock.id)
        .execution_options(synchronize_session=False)
    ).scalar()
    db.session.commit()
    return db.session.get(VolunteerUnlock, unlock_id) if unlock_id is not None else None


def end_unlock(token: str | None) -> None:
    """Lock: the token opens nothing any more, wherever its cookie was copied to."""
    if not token:
        return
    db.session.execute(
        update(VolunteerUnlock)
        .where(VolunteerUnlock.token_hash == _sha256(token), VolunteerUnlock.ended_at.is_(None))
        .values(ended_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


# ---- The conversation counter -----------------------------------------------------------


def count_conversation(unlock: VolunteerUnlock) -> Tally:
    """Count one conversation, remembered as this tablet's last (for Undo), in one commit."""
    tally = Tally(event_id=current_event().id, kind=Tally.CONVERSATION, key="table")
    db.session.add(tally)
    db.session.flush()
    unlock.undo_tally_uuid = tally.uuid
    db.session.commit()
    return tally


def undo_seconds_left(unlock: VolunteerUnlock | None) -> int:
    """Seconds left to take back this tablet's last conversation; 0 when there is none."""
    if unlock is None or not unlock.undo_tally_uuid:
        return 0
    created = db.session.scalar(
        select(Tally.created_at).where(Tally.uuid == unlock.undo_tally_uuid)
    )
    if created is None:
        return 0
    left = UNDO_WINDOW - (clock.now() - created)
    return int(left.total_seconds()) if timedelta(0) < left <= UNDO_WINDOW else 0


def undo_conversation(unlock: VolunteerUnlock) -> bool:
    """Take back the last conversation this tablet counted, within UNDO_WINDOW; once only."""
    seen = unlock.undo_tally_uuid
    in_time = undo_seconds_left(unlock) > 0
    # Compare-and-set: of two Undo taps at once, one takes the conversation back.
    claimed = changed_rows(
        update(VolunteerUnlock)
        .where(VolunteerUnlock.id == unlock.id, VolunteerUnlock.undo_tally_uuid == seen)
        .values(undo_tally_uuid=None)
        .execution_options(synchronize_session=False)
    )
    removed = 0
    if claimed and seen and in_time:
        removed = changed_rows(
            delete(Tally).where(Tally.uuid == seen, Tally.kind == Tally.CONVERSATION)
        )
    db.session.commit()
    db.session.refresh(unlock)
    return bool(removed)


# ---- Paper sign-ups -----------------------------------------------------------------------


def paper_consent_versions() -> list[tuple[str, str]]:
    """(version, wording) a paper sheet may carry: the pack's current one first, then the
    current one of each other language (a sheet printed in Korean), then each earlier
    version people agreed to here, with the wording stored with their records."""
    pack = current_content()
    current = [(pack.consent_version, pack.consent_text)] + [
        (other.consent_version, other.consent_text)
        for other in current_app.extensions["kiosk_packs"].values()
        if other.consent_version != pack.consent_version
    ]
    earlier = db.session.execute(
        select(Signup.consent_version, func.min(Signup.consent_text))
        .where(
            Signup.consent_version.is_not(None),
            Signup.consent_text.is_not(None),
            Signup.consent_version.not_in([version for version, _text in current]),
        )
        .group_by(Signup.consent_version)
        .order_by(Signup.consent_version.desc())
    )
    return [*current, *((v, t) for v, t in earlier)]


def consent_languages() -> dict[str, str]:
    """Each language's current consent version -> that language's code: a paper sign-up
    copied from a sheet printed in Korean was made in Korean."""
    packs = current_app.extensions["kiosk_packs"]
    return {pack.consent_version: code for code, pack in packs.items()}
