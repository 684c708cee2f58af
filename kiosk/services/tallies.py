"""Anonymous tallies: opener answers, FAQ opens, conversations. No personal data here."""

from datetime import UTC, datetime

from sqlalchemy import func, select

from kiosk import clock
from kiosk.extensions import db
from kiosk.models import Event, Tally
from kiosk.services.atomic import insert_new
from kiosk.services.events import current_event
from kiosk.services.records import clean_idempotency_key


def record_tally(kind: str, key: str, idempotency_key: str | None = None) -> bool:
    """Count one tap of `kind` (opener, faq_open, ...) for the active event; False when
    this tap was counted already (the same form's key, resent after a timeout).

    One Core INSERT ... ON CONFLICT DO NOTHING: the unique (idempotency_key, kind, key)
    decides on both engines, whichever server process the resend reaches.
    """
    values = {
        "event_id": current_event().id,
        "kind": kind,
        "key": key,
        "idempotency_key": clean_idempotency_key(idempotency_key),
    }
    counted = insert_new(Tally, values) is not None
    db.session.commit()
    return counted


def count_by_key(event: Event, kind: str) -> dict[str, int]:
    rows = db.session.execute(
        select(Tally.key, func.count())
        .where(Tally.event_id == event.id, Tally.kind == kind)
        .group_by(Tally.key)
    )
    return {key: count for key, count in rows}


def total(event: Event, kind: str) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Tally)
            .where(Tally.event_id == event.id, Tally.kind == kind)
        )
        or 0
    )


def bars(counts: dict[str, int], labels: list[tuple[str, str]]) -> list[dict[str, object]]:
    """Rows for a bar chart, in the order of `labels` (key, label), with a 0-100 width."""
    largest = max(counts.values(), default=0)
    return [
        {
            "key": key,
            "label": label,
            "count": counts.get(key, 0),
            "percent": round(100 * counts.get(key, 0) / largest) if largest else 0,
        }
        for key, label in labels
    ]


def total_since(event: Event, kind: str, since: datetime) -> int:
    """Taps of `kind` at `event` from `since` on (e.g. today's conversations)."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Tally)
            .where(Tally.event_id == event.id, Tally.kind == kind, Tally.created_at >= since)
        )
        or 0
    )


def start_of_today() -> datetime:
    """Midnight of today on this machine's clock (the table's local day), as aware UTC."""
    local_now = clock.local_now()
    return local_now.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
