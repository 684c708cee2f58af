"""Press requests on the lead's side: the dashboard's list, marking them handled (audited),
the press CSV, and the JSON bundle that carries them to another kiosk."""

import csv
import io
import json
import threading
import uuid

import pytest
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import AuditEntry, Event, PressRequest
from kiosk.services import dashboard, exports, imports, press
from kiosk.services.events import active_event, create_event
from tests.helpers import HX, assert_fragment, assert_full_page
from tests.lead_helpers import log_in, set_passphrase


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
    assert (korean["Deadline"], korean["For"]) == ("2026-12-20", "LiNK Rescue Team")
    assert (korean["Guidelines Version"], korean["Handled"]) == ("press-2026-12-v2", "no")
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
        assert carried["consent_version"] == "press-2026-12-v2"
        assert carried["deadline"] == "2026-12-20" and carried["commissioned"] is True
        # Another kiosk: the same file twice adds the request once.
        bundle["event"]["uuid"] = str(uuid.uuid4())
        carried["uuid"] = str(uuid.uuid4())
        create_event("Other table", activate=False)
        imports.import_bundle(json.dumps(bundle))
        imports.import_bundle(json.dumps(bundle))
        names = db.session.scalars(select(PressRequest.name).order_by(PressRequest.id))
        assert list(names) == ["Jo", "Jo"]


# ---- The lead's console ------------------------------------------------------------------


@pytest.fixture
def lead_client(app, client):
    set_passphrase(app)
    assert log_in(client).status_code == 303
    return client


def test_a_press_request_shows_on_the_dashboard_until_marked_handled(app, client, lead_client):
    visitor = app.test_client()
    form = {
        "name": "Jo Reporter",
        "outlet": "The Daily Example",
        "website": "daily.example.com",
        "commissioned": "yes",
        "outline": "First jobs",
        "deadline": "2026-12-20",
        "topics": "Work, friends,\nlanguage",
        "email": "jo@daily.example.com",
        "agree": "y",
    }
    assert visitor.post("/press/request", data=form).status_code == 303
    html = assert_full_page(lead_client.get("/lead/"))
    panel = html.split('id="press_title"')[1].split("</section>")[0]
    assert "Jo Reporter" in panel and "The Daily Example" in panel
    assert "deadline 2026-12-20" in panel and "Press requests to answer" in html
    assert "Connect: North Korea" not in panel and "pass on" not in html  # the team answers
    assert "jo@daily.example.com" in panel and "commissioned" in panel
    with app.app_context():
        request_id = db.session.scalar(select(PressRequest.id))
    fragment = assert_fragment(lead_client.post(f"/lead/press/{request_id}/handled", headers=HX))
    assert "Jo Reporter" not in fragment and "No press requests waiting." in fragment
    with app.app_context():
        assert db.session.get(PressRequest, request_id).handled
        actions = db.session.scalars(select(AuditEntry.action))
        assert "press.handled" in list(actions)
    assert lead_client.post("/lead/press/9999/handled").status_code == 404


def test_only_the_lead_may_mark_a_press_request_handled(app, client):
    with app.app_context():
        record_id = request_from("Jo", "jo@example.com").id
    response = client.post(f"/lead/press/{record_id}/handled")
    assert response.status_code == 303 and "/lead/login" in response.headers["Location"]
    with app.app_context():
        assert not db.session.get(PressRequest, record_id).handled


def test_the_data_page_offers_the_press_csv(lead_client):
    assert 'name="format" value="press"' in lead_client.get("/lead/data").get_data(as_text=True)
    response = lead_client.post("/lead/export", data={"event": "1", "format": "press"})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith("_press.csv")
    assert response.get_data(as_text=True).startswith("\ufeffName,Outlet,Email")


def test_the_event_form_chooses_the_language_new_visitors_meet(app, lead_client):
    event_id = active_event_id(app)
    page = lead_client.get(f"/lead/events/{event_id}/edit").get_data(as_text=True)
    assert '<option value="ko" lang="ko">한국어</option>' in page
    form = {"name": "Bazaar", "date": "2026-11-28", "goal": "3000", "rescue_cost": "3000"}
    refused = lead_client.post(f"/lead/events/{event_id}/edit", data=form | {"locale": "xx"})
    assert refused.status_code == 422
    refused_page = refused.get_data(as_text=True)
    assert 'aria-describedby="locale-hint locale-error"' in refused_page
    assert 'id="locale-error">Choose one of the languages offered.' in refused_page
    response = lead_client.post(f"/lead/events/{event_id}/edit", data=form | {"locale": "ko"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Event, event_id).locale == "ko"
    assert '<html lang="ko">' in app.test_client().get("/").get_data(as_text=True)
    lead_client.post(f"/lead/events/{event_id}/edit", data=form | {"locale": ""})
    with app.app_context():
        assert db.session.get(Event, event_id).locale is None


def test_kiosk_event_create_takes_the_language_of_the_event(app, runner):
    result = runner.invoke(args=["event", "create", "--name", "바자회", "--language", "ko"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(Event.locale).where(Event.name == "바자회")) == "ko"
    refused = runner.invoke(args=["event", "create", "--name", "X", "--language", "xx"])
    assert refused.exit_code != 0 and "speaks en, ko" in refused.output


def active_event_id(app) -> int:
    with app.app_context():
        return active_event().id
