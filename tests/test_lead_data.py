"""The lead's Data page: importing a tablet's file, erasing a person and an event's data."""

import io
import json
import re

import pytest
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import Event, Signup, Tally
from kiosk.services import events
from tests.helpers import HX, assert_fragment, assert_full_page
from tests.lead_helpers import PASSPHRASE, log_in, set_passphrase
from tests.test_imports import signup, tablet_bundle


@pytest.fixture
def lead_client(app, client):
    set_passphrase(app)
    assert log_in(client).status_code == 303
    return client


def upload(client, content: bytes, name: str = "tablet.json", headers=None):
    return client.post(
        "/lead/import",
        data={"bundle": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        headers=headers or {},
    )


def confirm_new(client, preview_html: str, extra: dict | None = None):
    """Take the preview of a file of an unknown event: import it as a new event."""
    token = re.search(r'name="token" value="([0-9a-f]{32})"', preview_html).group(1)
    data = {"token": token, "into": "new", "action": "import"} | (extra or {})
    return client.post("/lead/import/confirm", data=data, headers=HX)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_the_data_page_offers_import_and_erasure(lead_client):
    html = assert_full_page(lead_client.get("/lead/data"))
    assert 'id="data_import"' in html and 'type="file"' in html
    assert 'id="data_erase_person"' in html and 'id="data_erase_events"' in html


def test_uploading_a_tablets_file_reports_what_was_added_then_skipped(app, lead_client):
    raw = json.dumps(tablet_bundle([signup("a@example.org", "Ana")], tallies=2)).encode()
    preview = assert_fragment(upload(lead_client, raw, headers=HX))
    assert "is not on this kiosk" in preview and count(app, Signup) == 0
    first = assert_fragment(confirm_new(lead_client, preview))
    assert "Added: 1 sign-up, 2 taps" in first
    second = upload(lead_client, raw, headers=HX).get_data(as_text=True)
    assert "Skipped, already here: 1 sign-up, 2 taps" in second
    assert count(app, Signup) == 1


def test_a_large_bundle_is_accepted_despite_the_visitor_form_limit(app, lead_client):
    raw = json.dumps(tablet_bundle(tallies=2000)).encode()
    assert len(raw) > app.config["MAX_CONTENT_LENGTH"]
    preview = upload(lead_client, raw, headers=HX)
    assert preview.status_code == 200
    assert confirm_new(lead_client, preview.get_data(as_text=True)).status_code == 200
    assert count(app, Tally) == 2000


def test_uploading_a_foreign_file_is_refused_with_a_reason_and_nothing_changes(app, lead_client):
    response = upload(lead_client, b"Email Address,First Name\nx@example.org,X\n", "list.csv", HX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "not valid JSON" in html and "Nothing was imported." in html
    assert count(app, Event) == 1
    assert upload(lead_client, b"", "", HX).status_code == 422


def test_uploading_a_bundle_with_a_5000_digit_integer_is_refused_with_a_reason(app, lead_client):
    raw = b'{"format": "rescue-team-kiosk/event", "version": ' + b"7" * 5000 + b"}"
    response = upload(lead_client, raw, "tablet.json", HX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "a number of 5,000 digits" in html and "Nothing was imported." in html
    assert count(app, Event) == 1


def add_person(app, email: str = "minji@example.org") -> None:
    with app.app_context():
        event = events.active_event()
        db.session.add(Signup(event_id=event.id, first_name="Minji", email=email))
        db.session.commit()


def test_erasing_a_person_asks_first_then_erases(app, lead_client):
    add_person(app)
    ask = assert_fragment(
        lead_client.post("/lead/erase/person", data={"email": "minji@example.org"}, headers=HX)
    )
    assert "Yes, erase this person" in ask and "1 sign-up" in ask
    assert count(app, Signup) == 1
    done = lead_client.post(
        "/lead/erase/person", data={"email": "minji@example.org", "confirm": "yes"}, headers=HX
    )
    assert "Erased: 1 sign-up" in done.get_data(as_text=True)
    assert count(app, Signup) == 0
    assert "erase.person" in lead_client.get("/lead/audit").get_data(as_text=True)


def test_erasing_someone_unknown_or_no_email_says_so(app, lead_client):
    none = lead_client.post("/lead/erase/person", data={"email": "x@example.org"}, headers=HX)
    assert "Nothing here belongs to x@example.org" in none.get_data(as_text=True)
    bad = lead_client.post("/lead/erase/person", data={"email": "nobody"}, headers=HX)
    assert bad.status_code == 422


def test_erasing_an_event_before_export_is_refused_with_the_reason(app, lead_client):
    add_person(app)
    with app.app_context():
        event_id = events.active_event().id
    active = lead_client.post(f"/lead/events/{event_id}/erase", data={"confirm": "yes"}, headers=HX)
    assert active.status_code == 409 and "Close the event first" in active.get_data(as_text=True)
    lead_client.post(f"/lead/events/{event_id}/close")
    response = lead_client.post(
        f"/lead/events/{event_id}/erase", data={"confirm": "yes"}, headers=HX
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Not in any export yet: 1 sign-up" in html
    # and it offers the exports that would take the sign-up
    assert 'name="format" value="csv"' in html and 'name="format" value="mailchimp"' in html
    assert count(app, Signup) == 1
    unconfirmed = lead_client.post(f"/lead/events/{event_id}/erase", headers=HX)
    assert unconfirmed.status_code == 422


def test_erasing_an_exported_event_keeps_its_tallies(app, lead_client):
    add_person(app)
    app.test_client().post("/opener", data={"choice": "people"})
    with app.app_context():
        event_id = events.active_event().id
    lead_client.post(f"/lead/events/{event_id}/close")
    lead_client.post("/lead/export", data={"event": event_id, "format": "csv"}).get_data()
    response = lead_client.post(
        f"/lead/events/{event_id}/erase", data={"confirm": "yes"}, headers=HX
    )
    assert response.status_code == 200
    assert "1 sign-up" in response.get_data(as_text=True)
    assert count(app, Signup) == 0 and count(app, Tally) == 1


def test_a_large_bundle_passes_the_csrf_check_too_but_only_for_a_logged_in_lead(app):
    app.config["WTF_CSRF_ENABLED"] = True
    set_passphrase(app)
    lead = app.test_client()
    page = lead.get("/lead/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    lead.post("/lead/login", data={"passphrase": PASSPHRASE, "csrf_token": token})
    raw = json.dumps(tablet_bundle(tallies=2000)).encode()
    assert len(raw) > app.config["MAX_CONTENT_LENGTH"]
    response = lead.post(
        "/lead/import",
        data={"bundle": (io.BytesIO(raw), "tablet.json"), "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    done = confirm_new(lead, response.get_data(as_text=True), {"csrf_token": token})
    assert done.status_code == 200
    assert count(app, Tally) == 2000
    stranger = app.test_client().post(
        "/lead/import",
        data={"bundle": (io.BytesIO(raw), "tablet.json")},
        content_type="multipart/form-data",
    )
    assert stranger.status_code == 413
