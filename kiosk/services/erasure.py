"""Erasing personal data: one person everywhere, one event after export, and retention.

Tallies are anonymous and always stay. Pledges keep their amount (an event's total must
not change when a donor asks to be forgotten) but lose the name, email and consent.
Sign-ups, questions and press requests are personal through and through: deleted.
The audit log records what was erased, never whose data it was.
"""

import threading
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import Select, delete, func, select, update

from kiosk.extensions import db
from kiosk.models import Event, Pledge, PressRequest, Question, Signup, utcnow
from kiosk.services.audit import record_audit
from kiosk.services.records import Checker
from kiosk.services.settings import retention_days

PURGE_INTERVAL = timedelta(days=1)
EMAIL_MAX = 254
PERSONAL_MODELS: tuple[type, ...] = (Signup, Question, PressRequest)


@dataclass
class Erased:
    """How many records an erasure deleted (sign-ups, questions, press) or anonymised (pledges)."""

    signups: int = 0
    questions: int = 0
    press_requests: int = 0
    pledges: int = 0
    events: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.signups + self.questions + self.press_requests + self.pledges

    def describe(self) -> str:
        counts = [
            (self.signups, "sign-up"),
            (self.pledges, "pledge"),
            (self.questions, "question"),
            (self.press_requests, "press request"),
        ]
        parts = [f"{n} {noun}{'' if n == 1 else 's'}" for n, noun in counts if n]
        return ", ".join(parts) or "no records"


class ErasureRefused(Exception):
    """An erasure that must not happen yet, with the reason for the lead."""


def _anonymous_pledge() -> dict[str, object]:
    return {
        "name": "",
        "email": "",
        "consent_version": None,
        "consent_text": None,
        "consent_at": None,
    }


# ---- One person, everywhere --------------------------------------------------------------


def _by_email(model: type, email: str) -> Select:
    return select(func.count()).select_from(model).where(func.lower(model.email) == email)


def checked_email(value: str | None) -> str:
    """The address typed to find a person's data (InvalidInput when it can't be one).

    Only its shape is checked: an address stored before today's checks must still be found.
    """
    check = Checker()
    message = _("Enter the email address the person signed up with.")
    email = check.text("email", value, EMAIL_MAX, required=message)
    if email and "@" not in email:
        check.errors["email"] = message
    check.done()
    return email


def person_records(email: str) -> Erased:
    """What erasing `email` would touch, for the confirmation step."""
    email = email.strip().lower()
    count = {m: db.session.scalar(_by_email(m, email)) or 0 for m in (*PERSONAL_MODELS, Pledge)}
    return Erased(count[Signup], count[Question], count[PressRequest], count[Pledge])


def erase_person(email: str, actor: str = "") -> Erased:
    """Delete every sign-up, question and press request of `email`; anonymise the pledges."""
    email = email.strip().lower()
    if not email:
        raise ErasureRefused("Enter the person's email address.")
    erased = person_records(email)
    for model in PERSONAL_MODELS:
        db.session.execute(delete(model).where(func.lower(model.email) == email))
    db.session.execute(
        update(Pledge).where(func.lower(Pledge.email) == email).values(**_anonymous_pledge())
    )
    db.session.commit()
    record_audit("erase.person", f"One person erased everywhere: {erased.describe()}", actor)
    return erased


# ---- One event's personal data ------------------------------------------------------------


def _later_than_export(event: Event) -> int:
    """Personal records of `event` created or changed after its last export."""
    moment = event.exported_at
    count = (
        db.session.scalar(
            select(func.count())
            .select_from(Signup)
            .where(Signup.event_id == event.id, Signup.updated_at > moment)
        )
        or 0
    )
    for model in (Question, PressRequest, Pledge):
        count += (
            db.session.scalar(
                select(func.count())
                .select_from(model)
                .where(model.event_id == event.id, model.created_at > moment)
            )
            or 0
        )
    return count


def erasure_refusal(event: Event) -> str | None:
    """Why the event's personal data may not be erased now, or None."""
    if event.exported_at is None:
        return "This event's data was never exported: export it first, or it would be lost."
    later = _later_than_export(event)
    if later:
        return f"{later} records arrived after the last export: export the event again first."
    return None


def _erase_event_records(event: Event) -> Erased:
    erased = Erased(events=[event.name])
    for model in PERSONAL_MODELS:
        result = db.session.execute(delete(model).where(model.event_id == event.id))
        setattr(
            erased,
            {Signup: "signups", Question: "questions"}.get(model, "press_requests"),
            result.rowcount,
        )
    result = db.session.execute(
        update(Pledge)
        .where(Pledge.event_id == event.id, (Pledge.email != "") | (Pledge.name != ""))
        .values(**_anonymous_pledge())
    )
    erased.pledges = result.rowcount
    event.erased_at = utcnow()
    return erased


def erase_event(event: Event, actor: str = "") -> Erased:
    """Erase the event's personal data after it was exported; tallies stay."""
    reason = erasure_refusal(event)
    if reason:
        raise ErasureRefused(reason)
    erased = _erase_event_records(event)
    db.session.commit()
    record_audit(
        "erase.event",
        f"Personal data of event {event.id} ({event.name}): {erased.describe()}",
        actor,
    )
    return erased


# ---- Retention ----------------------------------------------------------------------------


def events_due(days: int | None = None) -> list[Event]:
    """Closed events whose retention period is over and whose personal data is still here."""
    cutoff = utcnow() - timedelta(days=retention_days() if days is None else days)
    return list(
        db.session.scalars(
            select(Event).where(
                Event.status == Event.CLOSED,
                Event.closed_at.is_not(None),
                Event.closed_at < cutoff,
                Event.erased_at.is_(None),
            )
        )
    )


def purge_expired(actor: str = "retention") -> Erased:
    """Erase the personal data of every event closed more than the retention days ago."""
    total = Erased()
    for event in events_due():
        erased = _erase_event_records(event)
        db.session.commit()
        record_audit(
            "purge",
            f"Retention ({retention_days()} days): event {event.id} ({event.name}): "
            f"{erased.describe()}",
            actor,
        )
        for name in ("signups", "questions", "press_requests", "pledges"):
            setattr(total, name, getattr(total, name) + getattr(erased, name))
        total.events.append(event.name)
    return total


def start_daily_purge(app: Flask, interval: timedelta = PURGE_INTERVAL) -> threading.Event:
    """Purge once a day in a background thread; set the returned event to stop it."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval.total_seconds()):
            with app.app_context():
                try:
                    purge_expired()
                except Exception:  # a failed purge today must not stop tomorrow's
                    app.logger.exception("Retention purge failed")
                    db.session.rollback()
                finally:
                    db.session.remove()

    threading.Thread(target=run, name="kiosk-retention", daemon=True).start()
    return stop
