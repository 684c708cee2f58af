"""Helpers for the tests of the data promises: nothing lost, nothing resurrected.

They drive the kiosk as people do: a visitor posts the forms, the lead exports, closes,
merges and erases through the console, and time moves by patching kiosk.clock.now.
"""

import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

from flask import has_app_context
from sqlalchemy import Text, func, select, type_coerce

import kiosk.clock
from kiosk.extensions import db
from kiosk.models import Event
from kiosk.services import events
from tests.helpers import HX
from tests.lead_helpers import log_in, set_passphrase


class MovableClock:
    """Stands in for kiosk.clock.now: a moment (now, when made) that tests move on or back.

    It starts at the real time, as the records the `app` fixture made before it did.
    """

    def __init__(self, moment: datetime | None = None) -> None:
        self.moment = moment or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.moment

    def move(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


def movable_clock(monkeypatch) -> MovableClock:
    """Patch kiosk.clock.now with a MovableClock (the `clock` fixture of conftest)."""
    fake = MovableClock()
    monkeypatch.setattr(kiosk.clock, "now", fake)
    return fake


def logged_in_lead(app):
    """A second browser: the team lead, logged in (the visitor keeps `client`)."""
    set_passphrase(app)
    browser = app.test_client()
    assert log_in(browser).status_code == 303
    return browser


def visitor_signs_up(client, email: str, first_name: str = "Minji", **extra) -> None:
    data = {
        "first_name": first_name,
        "email": email,
        "consent": "y",
        "idempotency_key": uuid.uuid4().hex,
    } | extra
    response = client.post("/signup", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)


def visitor_pledges(client, email: str = "", name: str = "") -> None:
    data = {"kind": "once", "amount": "30", "name": name, "email": email}
    if email:
        data["consent"] = "y"
    assert client.post("/pledge", data=data).status_code == 303


def visitor_asks(client, question: str = "How can I help?", email: str = "") -> None:
    data = {"question": question, "email": email}
    if email:
        data["consent"] = "y"
    assert client.post("/ask", data=data).status_code == 303


def active_event_id(app) -> int:
    with app.app_context():
        return events.active_event().id


def lead_exports(lead, event_id: int, format_name: str, **extra) -> bytes:
    response = lead.post("/lead/export", data={"event": event_id, "format": format_name} | extra)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data()


def lead_closes(lead, event_id: int) -> None:
    assert lead.post(f"/lead/events/{event_id}/close").status_code == 303


def lead_erases_event(lead, event_id: int):
    return lead.post(f"/lead/events/{event_id}/erase", data={"confirm": "yes"}, headers=HX)


def lead_erases_person(lead, email: str):
    return lead.post("/lead/erase/person", data={"email": email, "confirm": "yes"}, headers=HX)


def lead_looks_up_person(lead, email: str) -> str:
    response = lead.post("/lead/erase/person", data={"email": email}, headers=HX)
    return response.get_data(as_text=True)


def lead_imports(lead, raw: bytes, into: str = "new"):
    """Upload a tablet's file; a file of an event unknown here is previewed first (issue 11),
    then taken into `into` ("new": the file's own event)."""
    response = lead.post(
        "/lead/import",
        data={"bundle": (io.BytesIO(raw), "tablet.json")},
        content_type="multipart/form-data",
        headers=HX,
    )
    preview = re.search(r'name="token" value="([0-9a-f]{32})"', response.get_data(as_text=True))
    if preview is None:
        return response
    data = {"token": preview.group(1), "into": into, "action": "import"}
    return lead.post("/lead/import/confirm", data=data, headers=HX)


class _WithEmail:
    """`with_email` asked outside an app context: made into SQL by `count`, inside one."""

    def __init__(self, model, emails: tuple[str, ...]) -> None:
        self.model, self.emails = model, emails

    def clause(self):
        return with_any_email(self.model, self.emails)


def with_any_email(model, emails):
    """Records of `model` holding one of `emails`. Emails are sealed (a sealed bind never
    equals a stored value), so this compares their digests under each event's key, as the
    kiosk does (services/erasure.of_person)."""
    if not has_app_context():
        return _WithEmail(model, tuple(emails))
    from kiosk.emails import digest_of_record

    # The keys of the events holding such records: fewer digests, fewer bound values.
    keys = db.session.scalars(
        select(Event.erasure_key).where(Event.id.in_(select(model.event_id).distinct()))
    ).all()
    digests = {digest_of_record(key, email) for key in keys for email in emails} - {""}
    return model.email_digest.in_(sorted(digests))


def with_email(model, email: str):
    """Records of `model` holding `email` (with_any_email)."""
    return with_any_email(model, (email,))


def sealed_traces(app, email: str) -> list[str]:
    """The sealed values of `email`'s sign-ups as stored: what a copy of the file holds of the
    person now that her fields are sealed (`grep` finds these, never her address)."""
    from kiosk.models import Signup

    with app.app_context():
        stored = [type_coerce(c, Text()) for c in (Signup.email, Signup.organisation)]
        rows = db.session.execute(select(*stored).where(with_email(Signup, email))).all()
    return [value for row in rows for value in row if value]


def count(app, model, *where) -> int:
    with app.app_context():
        where = tuple(w.clause() if isinstance(w, _WithEmail) else w for w in where)
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def event_of(app, event_id: int) -> Event:
    with app.app_context():
        event = db.session.get(Event, event_id)
        db.session.expunge(event)
        return event


def bundle_json(raw: bytes) -> dict:
    return json.loads(raw.decode("utf-8"))


def export_now(event: Event, *format_names: str, keep: bool = False) -> str:
    """Export `event` in each format as the lead or `kiosk export` does (inside an app
    context): write it, then mark what it wrote. The text of the last one."""
    from kiosk.services import exports

    text = ""
    for name in format_names:
        marks = exports.Marks()
        text = "".join(exports.export_chunks(event, name, marks))
        exports.mark_exported(event, name, actor="test", marks=marks, keep=keep)
    return text


# Every kind of personal record, exported: sign-ups (CSV), pledges, questions, and a kept
# JSON for what has no CSV of its own yet (press requests).
EVERYTHING = ("csv", "pledges", "questions")
