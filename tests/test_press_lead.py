"""Press requests on the lead's side: the dashboard's list, marking them handled (audited),
the press CSV, and the JSON bundle that carries them to another kiosk."""

import csv
import io
import json
import threading
import uuid

from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import AuditEntry, PressRequest
from kiosk.services import dashboard, exports, imports, press
from kiosk.services.events import active_event, create_event


def request_from(name: str, email: str, **changes) -> PressRequest:
    fields = {
        "name": name,
        "outlet": "The Daily Example",
        "website": "https://daily.example.com",
        "email": email,
        "topics": "Resettlement and work",
        "commissioned": "yes",
        "outline": "Three people, three first jobs",
        "deadline": "2026-12-20",
        "past_work": "daily.example.com/a daily.example.com/b",
        "agreed": True,
        "idempotency_key": uuid.uuid4().hex,
    }
    return press.record_press_request(**(fields | changes))


def read_csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_the_dashboard_lists_the_requests_still_to_pass_on(app):
    with app.app_context():
        first = request_from("Jo", "jo@example.com")
        second = request_from("Kim", "kim@example.com")
        assert press.mark_handled(first.id) is True
        picture = dashboard.event_picture(active_event())
        assert [r.name for r in picture.press_waiting] == ["Kim"]
        assert picture.press_waiting[0].id == second.id


def test_marking_handled_is_audited_once_and_an_unknown_request_is_none(app):
    with app.app_context():
        record = request_from("Jo", "jo@example.com")
        assert press.mark_handled(record.id, actor="127.0.0.1") is True
        assert press.mark_handled(record.id, actor="127.0.0.1") is False
        assert press.mark_handled(9999) is None
        entries = list(
            db.session.scalars(select(AuditEntry).where(AuditEntry.action == "press.handled"))
        )
        assert len(entries) == 1
        assert entries[0].detail == f"Press request {record.id} marked handled"
        assert "Jo" not in entries[0].detail and "jo@" not in entries[0].detail


def test_two_leads_marking_at_once_audit_it_once(app):
    with app.app_context():
        record_id = request_from("Jo", "jo@example.com").id
    results = []

    def mark() -> None:
        with app.app_context():
            results.append(press.mark_handled(record_id))

    threads = [threading.Thread(target=mark) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    with app.app_context():
        count = (
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "press.handled")
        )
        assert db.session.scalar(count) == 1


def test_the_press_csv_names_its_columns_and_keeps_the_csv_rules(app):
    with app.app_context():
        request_from('=HYPERLINK("http://evil")', "evil@example.com", commissioned="no")
        request_from("김기자", "kim@example.kr")
        rows = read_csv("".join(exports.press_csv(active_event())))
    assert list(rows[0]) == exports.PRESS_COLUMNS
    assert rows[0]["Name"] == '\'=HYPERLINK("http://evil")'
    assert (rows[0]["Commissioned"], rows[0]["Outline"]) == ("no", "")
    korean = rows[1]
    assert korean["Name"] == "김기자"
    assert korean["Past Work"] == "https://daily.example.com/a; https://daily.example.com/b"
    assert (korean["Deadline"], korean["For"]) == ("2026-12-20", "Connect: North Korea")
    assert (korean["Guidelines Version"], korean["Handled"]) == ("press-2026-11-v1", "no")
    assert korean["Agreed"] and len(korean["UUID"]) == 36


def test_writing_the_press_csv_marks_the_event_exported_and_is_audited(app):
    with app.app_context():
        request_from("Jo", "jo@example.com")
        event = active_event()
        assert event.exported_at is None
        exports.mark_exported(event, "press", actor="test")
        assert event.exported_at is not None
        audit = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "export"))
        assert audit.detail.endswith("as press")


def test_press_requests_travel_to_another_kiosk_in_the_json_bundle_once(app):
    with app.app_context():
        request_from("Jo", "jo@example.com")
        bundle = json.loads(exports.json_bundle(active_event()))
        [carried] = bundle["press_requests"]
        assert carried["consent_version"] == "press-2026-11-v1"
        assert carried["deadline"] == "2026-12-20" and carried["commissioned"] is True
        # Another kiosk: the same file twice adds the request once.
        bundle["event"]["uuid"] = str(uuid.uuid4())
        carried["uuid"] = str(uuid.uuid4())
        create_event("Other table", activate=False)
        imports.import_bundle(json.dumps(bundle))
        imports.import_bundle(json.dumps(bundle))
        names = db.session.scalars(select(PressRequest.name).order_by(PressRequest.id))
        assert list(names) == ["Jo", "Jo"]
