"""The lead's Records page: find an event's sign-ups, pledges and questions, correct a field,
erase one record.

A correction is checked by the rules of the form the record came from (a mistyped email is
still refused) and audited with a keyed hash of each changed field's value before and after,
never the value itself: the audit log outlives erasures. The record keeps its UUID, so a
later merge still recognises it.
"""

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any, cast

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kiosk.extensions import db
from kiosk.models import Event, Pledge, Question, Signup, utcnow
from kiosk.parsing import clean_text
from kiosk.services import erasure, pledges, questions, signups
from kiosk.services.audit import record_audit
from kiosk.services.records import Checker, InvalidInput, mark_changed

QUERY_MAX = 100
SHOWN = 50  # records of each kind on one page of results
HASH_CHARS = 12

MODELS: dict[str, type[Signup] | type[Pledge] | type[Question]] = {
    "signup": Signup,
    "pledge": Pledge,
    "question": Question,
}
# What the lead may correct, per kind, in the form's order.
FIELDS: dict[str, tuple[str, ...]] = {
    "signup": ("first_name", "last_name", "email", "phone", "organisation"),
    "pledge": ("name", "email"),
    "question": ("text", "email"),
}
# Where a search looks, per kind.
SEARCHED: dict[str, tuple[str, ...]] = {
    "signup": ("first_name", "last_name", "email", "phone", "organisation"),
    "pledge": ("name", "email"),
    "question": ("text", "email"),
}
NOUNS = {"signup": _l("sign-up"), "pledge": _l("pledge"), "question": _l("question")}

Record = Signup | Pledge | Question


@dataclass
class Found:
    """Records of one event matching a search, newest first, at most SHOWN of each kind."""

    query: str
    records: dict[str, list[Any]] = field(default_factory=dict)
    more: dict[str, int] = field(default_factory=dict)  # how many matched beyond SHOWN

    @property
    def total(self) -> int:
        return sum(len(found) for found in self.records.values())


def clean_query(value: str | None) -> str:
    return clean_text(value)[:QUERY_MAX]


def search(event: Event, query: str) -> Found:
    """The event's records whose searched fields contain `query` (any case); all when empty.

    The fields are sealed at rest (services/sealing.py): the database cannot compare them,
    so the event's records are read in batches, opened with the lead's key and matched
    here, keeping SHOWN of each kind and counting the rest."""
    found = Found(query)
    needle = query.lower()
    for kind, model in MODELS.items():
        newest_first = select(model).where(model.event_id == event.id).order_by(model.id.desc())
        if not needle:
            rows = list(db.session.scalars(newest_first.limit(SHOWN + 1)))
            found.records[kind] = rows[:SHOWN]
            if len(rows) > SHOWN:
                total = db.session.scalar(
                    select(func.count()).select_from(model).where(model.event_id == event.id)
                )
                found.more[kind] = (total or 0) - SHOWN
            continue
        matches: list[Any] = []
        total = 0
        for record in db.session.scalars(newest_first.execution_options(yield_per=500)):
            if any(needle in str(getattr(record, name) or "").lower() for name in SEARCHED[kind]):
                total += 1
                if len(matches) < SHOWN:
                    matches.append(record)
        found.records[kind] = matches
        if total > SHOWN:
            found.more[kind] = total - SHOWN
    return found


def record_of(kind: str, record_id: int) -> Record | None:
    model = MODELS.get(kind)
    # One of the three models: to mypy, their common base.
    return cast(Record | None, db.session.get(model, record_id)) if model is not None else None


def form_of(kind: str, record: Record) -> dict[str, str]:
    return {name: getattr(record, name) or "" for name in FIELDS[kind]}


def _checked(kind: str, record: Record, form: Mapping[str, str | None]) -> dict[str, str]:
    """The corrected fields, checked as the record's own form checks them."""
    check = Checker()
    if kind == "signup":
        cleaned = signups.check_fields(check, **{name: form.get(name) for name in FIELDS[kind]})
    elif kind == "pledge":
        cleaned = {
            "name": check.text("name", form.get("name"), pledges.NAME_MAX),
            "email": check.email("email", form.get("email"), required=False),
        }
    else:
        cleaned = {
            "text": check.text(
                "text",
                form.get("text"),
                questions.QUESTION_MAX,
                required=_("Please write your question."),
                multiline=True,
            ),
            "email": check.email("email", form.get("email"), required=False),
        }
    # The form asks for consent with an email; a correction cannot add what was not agreed.
    if kind != "signup" and cleaned["email"] and record.consent_at is None:
        check.errors.setdefault(
            "email", _("This person did not agree to be emailed: no email can be added.")
        )
    if kind == "signup" and "email" not in check.errors:
        other = signups.find_signup(record.event, cleaned["email"])
        if other is not None and other.id != record.id:
            check.errors["email"] = _("Another sign-up at this event has this email.")
    check.done()
    return cleaned


def fingerprint(value: str) -> str:
    """A keyed hash of a value for the audit log: equal values match, none can be read back."""
    key = str(current_app.secret_key or "").encode()
    return hmac.new(key, value.encode(), sha256).hexdigest()[:HASH_CHARS]


def correct(
    kind: str, record: Record, form: Mapping[str, str | None], actor: str = ""
) -> list[str]:
    """Store the corrected fields; the names of those that changed (audited by hash)."""
    cleaned = _checked(kind, record, form)
    changed = [name for name, value in cleaned.items() if getattr(record, name) != value]
    if not changed:
        return []
    notes = [
        f"{name} {fingerprint(getattr(record, name) or '')}→{fingerprint(cleaned[name])}"
        for name in changed
    ]
    for name in changed:
        setattr(record, name, cleaned[name])
    mark_changed(record)  # what was exported is not this any more: the next export takes it
    if isinstance(record, Signup):
        record.updated_at = utcnow()
    try:
        db.session.commit()
    except IntegrityError:  # the same email arrived for this event meanwhile
        db.session.rollback()
        raise InvalidInput({"email": _("Another sign-up at this event has this email.")}) from None
    record_audit("record.correct", f"{kind} {record.uuid}: {'; '.join(notes)}", actor)
    return changed


def erase(kind: str, record: Record, actor: str = "") -> None:
    """Erase one record through the erasure service: a sign-up or question is deleted, a
    pledge keeps only its amount; its email is tombstoned so no merge brings it back."""
    erasure.erase_record(record, actor=actor)
