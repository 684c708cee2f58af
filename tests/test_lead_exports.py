"""Exports in the browser, and the round trip: export on one tablet, import on another."""

import csv
import io
import json
import shutil
import zipfile
from datetime import date

import pytest
from sqlalchemy import select

from kiosk import create_app
from kiosk.extensions import db
from kiosk.models import AuditEntry, Event, Signup
from kiosk.services import erasure, events, exports, imports, signups
from kiosk.services.events import ensure_demo_event
from kiosk.services.exports import export_file_name
from tests.conftest import opened_values
from tests.data_helpers import export_now
from tests.lead_helpers import log_in, set_passphrase


@pytest.fixture
def lead_client(app, client):
    set_passphrase(app)
    assert log_in(client).status_code == 303
    return client


def sign_up(email: str, first: str, **extra):
    return signups.record_signup(first_name=first, email=email, consent=True, **extra)


def all_exports() -> str:
    """Every export format of every event, as one text to search."""
    return "".join(
        "".join(exports.export_chunks(event, name))
        for event in events.list_events()
        for name in exports.FORMATS
    )


def test_export_file_names_carry_the_event_and_its_date():
    event = Event(name="Spring Fair: Quad #2", date=date(2027, 4, 2))
    assert export_file_name(event, "csv") == "rescue-team_spring-fair-quad-2_2027-04-02_csv.csv"
    assert export_file_name(event, "json").endswith("_2027-04-02_json.json")
    undated = Event(name="Walk-up")
    assert export_file_name(undated, "mailchimp", today=date(2026, 11, 23)) == (
        "rescue-team_walk-up_2026-11-23_mailchimp.csv"
    )
    assert export_file_name(None, "tallies", today=date(2026, 11, 23)) == (
        "rescue-team_all-events_2026-11-23_tallies.zip"
    )


def test_a_csv_export_downloads_marks_the_event_exported_and_is_audited(app, lead_client):
    with app.app_context():
        sign_up("jisoo@example.org", "지수")
        event = events.active_event()
        event_id, expected_name = event.id, export_file_name(event, "csv")
    response = lead_client.post("/lead/export", data={"event": event_id, "format": "csv"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert f'filename="{expected_name}"' in response.headers["Content-Disposition"] or (
        expected_name in response.headers["Content-Disposition"]
    )
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[1][0] == "지수" and rows[1][2] == "jisoo@example.org"
    with app.app_context():
        assert db.session.get(Event, event_id).exported_at is not None
        details = list(
            db.session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "export"))
        )
    assert any("as csv" in detail for detail in details)


@pytest.mark.parametrize("format_name", list(exports.FORMATS))
def test_every_format_downloads_for_one_event(app, lead_client, format_name):
    with app.app_context():
        sign_up("a@example.org", "Ana")
        event_id = events.active_event().id
    response = lead_client.post("/lead/export", data={"event": event_id, "format": format_name})
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.get_data()


def test_all_events_download_as_a_zip_of_one_file_per_event(app, lead_client):
    with app.app_context():
        sign_up("a@example.org", "Ana")
        events.create_event("Second fair", on=date(2027, 1, 5))
    response = lead_client.post(
        "/lead/export", data={"event": "all", "format": "json", "keep": "yes"}
    )
    assert response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = sorted(archive.namelist())
    assert len(names) == 2 and any("second-fair_2027-01-05_json.json" in n for n in names)
    for name in names:
        assert json.loads(archive.read(name))["format"] == "rescue-team-kiosk/event"
    with app.app_context():
        assert all(e.exported_at is not None for e in events.list_events())


def test_an_unknown_format_or_event_is_refused(app, lead_client):
    assert (
        lead_client.post("/lead/export", data={"event": "1", "format": "xlsx"}).status_code == 400
    )
    assert lead_client.post("/lead/export", data={"event": "x", "format": "csv"}).status_code == 400
    assert (
        lead_client.post("/lead/export", data={"event": "999", "format": "csv"}).status_code == 404
    )


def test_the_data_page_offers_every_export_format(lead_client):
    html = lead_client.get("/lead/data").get_data(as_text=True)
    for name in exports.FORMATS:
        assert f'name="format" value="{name}"' in html
    assert '<option value="all">' in html


def test_erasing_a_person_removes_them_from_every_export(app, lead_client):
    with app.app_context():
        sign_up("minji@example.org", "Minji", last_name="Park")
        sign_up("other@example.org", "Other")
        event = events.active_event()
        from kiosk.models import Pledge, Question

        db.session.add_all(
            [
                Pledge(
                    event_id=event.id,
                    amount_cents=2000,
                    name="Minji Park",
                    email="minji@example.org",
                ),
                Question(event_id=event.id, text="How?", email="Minji@Example.org"),
            ]
        )
        db.session.commit()
        assert "minji@example.org" in all_exports().lower()
    lead_client.post("/lead/erase/person", data={"email": "minji@example.org", "confirm": "yes"})
    with app.app_context():
        everything = all_exports()
    assert "minji" not in everything.lower() and "Park" not in everything
    assert "other@example.org" in everything


def test_an_event_exported_in_the_browser_may_then_be_erased(app, lead_client):
    with app.app_context():
        sign_up("a@example.org", "Ana")
        event_id = events.active_event().id
    lead_client.post(f"/lead/events/{event_id}/close")
    refused = lead_client.post(f"/lead/events/{event_id}/erase", data={"confirm": "yes"})
    assert refused.status_code == 409
    # A JSON made to merge tablets is no export of record; one the lead keeps is.
    lead_client.post("/lead/export", data={"event": event_id, "format": "json"}).get_data()
    again = lead_client.post(f"/lead/events/{event_id}/erase", data={"confirm": "yes"})
    assert again.status_code == 409
    kept = {"event": event_id, "format": "json", "keep": "yes"}
    lead_client.post("/lead/export", data=kept).get_data()
    assert (
        lead_client.post(f"/lead/events/{event_id}/erase", data={"confirm": "yes"}).status_code
        == 200
    )
    with app.app_context():
        assert db.session.scalar(select(Signup)) is None


@pytest.fixture
def second_tablet(migrated_db, tmp_path):
    """Another kiosk with its own database, as on a second tablet."""
    path = tmp_path / "tablet-b.db"
    shutil.copy(migrated_db, path)
    other = create_app(
        {"TESTING": True, "SECRET_KEY": "b", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}
    )
    yield other
    with other.app_context():
        db.engine.dispose()


def test_two_tablets_of_one_event_merge_through_their_json_exports(app, second_tablet):
    with app.app_context():
        event = events.active_event()
        sign_up("jisoo@example.org", "Jisoo", interests=["events"])
        sign_up("ana@example.org", "Ana")
        bundle_a = exports.json_bundle(event)
    # Tablet B imported A's event first (so they share it), then took its own sign-ups.
    with second_tablet.app_context():
        ensure_demo_event()
        imports.import_bundle(bundle_a)
        shared = db.session.scalar(
            select(Event).where(Event.uuid == json.loads(bundle_a)["event"]["uuid"])
        )
        events.activate_event(shared)
        sign_up("JISOO@example.org", "Jisoo", interests=["fundraising"], phone="(202) 555-0101")
        sign_up("ben@example.org", "Ben")
        bundle_b = exports.json_bundle(shared)
    with app.app_context():
        report = imports.import_bundle(bundle_b)
        assert report.added.get("signups") == 1 and report.merged == 1
        people = {s.email: s for s in db.session.scalars(select(Signup))}
        assert sorted(people) == ["ana@example.org", "ben@example.org", "jisoo@example.org"]
        assert set(people["jisoo@example.org"].interests.split(",")) == {"events", "fundraising"}
        assert people["jisoo@example.org"].phone == "+12025550101"
        again = imports.import_bundle(bundle_b)
        assert again.added == {} and again.merged == 0


def test_an_exported_bundle_round_trips_into_an_empty_kiosk(app, second_tablet):
    with app.app_context():
        sign_up("a@example.org", "Ana")
        app.test_client().post("/opener", data={"choice": "people"})
        bundle = exports.json_bundle(events.active_event())
    with second_tablet.app_context():
        report = imports.import_bundle(bundle)
        assert report.event_created and report.added == {"signups": 1, "tallies": 1}
        imported = db.session.scalar(
            select(Event).where(Event.uuid == json.loads(bundle)["event"]["uuid"])
        )
        # Its email travels sealed: the bundle, opened with the tests' keys, holds her once.
        again = opened_values(json.loads(exports.json_bundle(imported)))
        assert [s["email"] for s in again["signups"]] == ["a@example.org"]
        assert "a@example.org" not in exports.json_bundle(imported)


def test_retention_leaves_every_export_of_a_purged_event_without_people(app):
    with app.app_context():
        sign_up("a@example.org", "Ana")
        event = events.active_event()
        events.close_event(event)
        from datetime import timedelta

        from kiosk.models import utcnow

        event.closed_at = utcnow() - timedelta(days=91)
        event.date = event.closed_at.date()  # it took place the day it closed
        db.session.commit()
        export_now(event, "csv")  # retention erases only what was exported
        erasure.purge_expired()
        assert "a@example.org" not in all_exports()


# ---- Streamed downloads: marked only once the whole file is out ---------------------------------


def _audited_exports(app) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "export"))
        )


def _unmarked(app) -> int:
    with app.app_context():
        unmarked = select(Signup).where(Signup.exported_revision.is_(None))
        return len(list(db.session.scalars(unmarked)))


@pytest.mark.both_engines
def test_a_download_is_sent_a_batch_at_a_time_and_marked_only_after_its_last_piece(
    app, lead_client, monkeypatch
):
    monkeypatch.setattr(exports, "EXPORT_BATCH", 2)
    with app.app_context():
        for n in range(5):
            sign_up(f"p{n}@example.org", f"P{n}")
        event_id = events.active_event().id
    response = lead_client.post("/lead/export", data={"event": event_id, "format": "csv"})
    pieces = iter(response.response)
    sent = [next(pieces) for _ in range(3)]  # the header and 2 rows, then 2 rows, then 1 row
    assert b"".join(sent).decode("utf-8-sig").count("@example.org") == 5
    # Every row is out, but the server has not asked for more: nothing is marked yet.
    assert _unmarked(app) == 5
    assert list(pieces) == []
    assert _unmarked(app) == 0
    assert any("as csv" in detail for detail in _audited_exports(app))


@pytest.mark.both_engines
def test_a_download_broken_off_before_its_end_marks_nothing_and_is_audited(
    app, lead_client, monkeypatch
):
    """The lead's browser closed, or the network went, mid-file: the records it held may not
    be in any file the lead keeps, so none counts as exported; the next export takes them."""
    monkeypatch.setattr(exports, "EXPORT_BATCH", 2)
    with app.app_context():
        for n in range(5):
            sign_up(f"p{n}@example.org", f"P{n}")
        event_id = events.active_event().id
    response = lead_client.post("/lead/export", data={"event": event_id, "format": "csv"})
    pieces = iter(response.response)
    assert b"@example.org" in next(pieces)
    response.close()  # what waitress does when the client goes away
    assert _unmarked(app) == 5
    assert any("broken off" in detail for detail in _audited_exports(app))
    with app.app_context():
        assert db.session.get(Event, event_id).exported_at is None
    whole = lead_client.post("/lead/export", data={"event": event_id, "format": "csv"})
    assert whole.get_data().decode("utf-8-sig").count("@example.org") == 5
    assert _unmarked(app) == 0


def test_a_zip_of_every_event_streams_and_marks_each_events_records(app, lead_client):
    with app.app_context():
        sign_up("a@example.org", "Ana")
        second = events.create_event("둘째 행사", on=date(2027, 1, 5))
        events.activate_event(second)
        sign_up("b@example.org", "Bo")
    response = lead_client.post("/lead/export", data={"event": "all", "format": "csv"})
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"] or (
        "all-events" in response.headers["Content-Disposition"]
    )
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert archive.testzip() is None
    texts = [archive.read(name).decode("utf-8-sig") for name in archive.namelist()]
    assert sorted(t.count("@example.org") for t in texts) == [1, 1]
    assert _unmarked(app) == 0


def test_a_korean_event_name_downloads_with_an_ascii_fallback_file_name(app, lead_client):
    with app.app_context():
        korean = events.create_event("봄 축제", on=date(2027, 4, 2))
        event_id = korean.id
    response = lead_client.post("/lead/export", data={"event": event_id, "format": "tallies"})
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    assert "filename*=UTF-8''rescue-team_%EB%B4%84-%EC%B6%95%EC%A0%9C_2027-04-02_tallies.csv" in (
        disposition
    )
    assert response.get_data().startswith("\ufeff".encode())
