"""One event across kiosks: B joins A's event from a small file, both take sign-ups, and B's
export merges into A as one list; a hand-made event is mapped onto A's at merge time, with a
preview first. Two real kiosk instances, each on its own database."""

import base64
import io
import json
import re
import shutil
import uuid
from pathlib import Path

import nacl.exceptions
import pytest
from flask import Flask
from sqlalchemy import func, select, text

from kiosk import create_app
from kiosk.extensions import db
from kiosk.models import Event, Signup
from kiosk.services import events, identity, sealing
from tests.conftest import TEST_KEYS, _config, opened_values
from tests.helpers import HX, assert_fragment
from tests.lead_helpers import log_in, set_passphrase

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


@pytest.fixture
def kiosk_b(dialect, request, tmp_path: Path, monkeypatch, app):
    """A second kiosk: its own instance folder and its own database of the same engine."""
    if dialect == "sqlite":
        path = tmp_path / "kiosk-b.db"
        shutil.copy(request.getfixturevalue("migrated_db"), path)
        url, drop = f"sqlite:///{path}", None
    else:
        cluster = request.getfixturevalue("postgres")
        name = cluster.create_database(template=request.getfixturevalue("postgres_template"))
        url, drop = cluster.url(name), name
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance-b"))
    other = create_app(_config(url))
    with other.app_context():
        events.ensure_demo_event()
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()
    if drop:
        request.getfixturevalue("postgres").drop_database(drop)


def lead(app: Flask):
    set_passphrase(app)
    client = app.test_client()
    assert log_in(client).status_code == 303
    return client


def upload(client, url: str, content: bytes, name: str = "file.json", **fields):
    field = "join_file" if url == "/lead/join" else "bundle"
    data = {field: (io.BytesIO(content), name)} | fields
    return client.post(url, data=data, content_type="multipart/form-data", headers=HX)


def sign_up(app: Flask, email: str, first: str = "Ana", **extra: str) -> None:
    data = {"first_name": first, "email": email, "consent": "y"} | extra
    assert app.test_client().post("/signup", data=data).status_code == 303


def people(app: Flask, event_uuid: str) -> list[str]:
    with app.app_context():
        return sorted(
            db.session.scalars(
                select(Signup.email).join(Event).where(Event.uuid == event_uuid)
            ).all()
        )


def export_json(client, event_id: int) -> bytes:
    response = client.post("/lead/export", data={"event": str(event_id), "format": "json"})
    assert response.status_code == 200
    return response.data


def fall_fair(app: Flask) -> tuple[int, str]:
    with app.app_context():
        from datetime import date

        event = events.create_event(
            "Fall fair", on=date(2026, 11, 28), place="Quad", goal_cents=600_000, activate=True
        )
        return event.id, event.uuid


def test_the_join_file_names_the_event_and_nothing_personal(app):
    client = lead(app)
    event_id, event_uuid = fall_fair(app)
    sign_up(app, "ana@example.org")
    response = client.get(f"/lead/events/{event_id}/join-file")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.data)
    assert data["format"] == "rescue-team-kiosk/event-join"
    with app.app_context():
        key = db.session.get(Event, event_id).erasure_key
    # The event's erasure key goes along: both kiosks make the same tombstones.
    assert data["event"].pop("erasure_key") == key
    assert data["event"] == {
        "uuid": event_uuid,
        "name": "Fall fair",
        "date": "2026-11-28",
        "place": "Quad",
        "goal_cents": 600_000,
        "rescue_cost_cents": 300_000,
        "tracking_source": "",
        "language": "en",
    }
    assert b"ana@example.org" not in response.data
    events_page = client.get("/lead/events").get_data(as_text=True)
    assert f"/lead/events/{event_id}/join-file" in events_page
    assert "Set up another kiosk for this event" in events_page


def test_b_joins_as_event_both_take_signups_and_bs_export_merges_as_one_list(app, kiosk_b):
    a, b = lead(app), lead(kiosk_b)
    event_id, event_uuid = fall_fair(app)
    join_file = a.get(f"/lead/events/{event_id}/join-file").data

    joined = upload(b, "/lead/join", join_file, activate="yes")
    assert joined.status_code == 200
    assert "Fall fair" in assert_fragment(joined)
    with kiosk_b.app_context():
        b_event = events.active_event()
        assert (b_event.uuid, b_event.name, b_event.goal_cents) == (
            event_uuid,
            "Fall fair",
            600_000,
        )
        b_event_id = b_event.id

    sign_up(app, "ana@example.org", "Ana")
    sign_up(app, "same@example.org", "Sam")
    sign_up(kiosk_b, "ben@example.org", "Ben")
    # One person on both tablets; on B they add their school.
    sign_up(kiosk_b, "SAME@example.org", "Sam", organisation="State University")

    merged = upload(a, "/lead/import", export_json(b, b_event_id))
    assert merged.status_code == 200
    html = assert_fragment(merged)
    assert "Merged sign-ups: 1" in html
    assert people(app, event_uuid) == ["ana@example.org", "ben@example.org", "same@example.org"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 2  # demo + fair

    # Joining twice changes nothing; a second merge of the same file neither.
    again = upload(b, "/lead/join", join_file)
    assert "already" in again.get_data(as_text=True)
    upload(a, "/lead/import", export_json(b, b_event_id))
    assert people(app, event_uuid) == ["ana@example.org", "ben@example.org", "same@example.org"]


def test_a_hand_made_event_is_mapped_onto_an_existing_one_after_a_preview(app, kiosk_b):
    a, b = lead(app), lead(kiosk_b)
    event_id, event_uuid = fall_fair(app)
    with kiosk_b.app_context():
        hand_made = events.create_event("Fall fair (tablet B)", on=None, activate=True)
        hand_made_id = hand_made.id
    sign_up(app, "ana@example.org")
    sign_up(app, "same@example.org")
    sign_up(kiosk_b, "ben@example.org")
    sign_up(kiosk_b, "same@example.org", last_name="Lee")
    bundle = json.loads(export_json(b, hand_made_id))
    bundle["signups"].append(dict(bundle["signups"][0], uuid=str(uuid.uuid4()), email="x@"))
    raw = json.dumps(bundle).encode()

    preview = upload(a, "/lead/import", raw)
    assert preview.status_code == 200
    html = assert_fragment(preview)
    assert "Fall fair (tablet B)" in html and "is not on this kiosk" in html
    assert people(app, event_uuid) == ["ana@example.org", "same@example.org"]  # nothing yet
    token = re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)
    # The same name is offered first; the counts are for that choice.
    assert re.search(rf'<option value="{event_id}" selected', html)
    for label, n in (("New", 1), ("Merged with the same person", 1), ("Invalid", 1)):
        assert re.search(rf"{label}[^<]*</span>\s*<span[^>]*>{n}<", html), label
    assert "signups[2]" in html

    chosen = a.post(
        "/lead/import/confirm",
        data={"token": token, "into": str(event_id), "action": "import"},
        headers=HX,
    )
    assert chosen.status_code == 200
    assert people(app, event_uuid) == ["ana@example.org", "ben@example.org", "same@example.org"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 2  # no third event
    # The token is spent; the next file of that tablet goes where the first went.
    spent = a.post("/lead/import/confirm", data={"token": token, "into": str(event_id)})
    assert spent.status_code == 422
    sign_up(kiosk_b, "cleo@example.org")
    later = upload(a, "/lead/import", export_json(b, hand_made_id))
    assert "Merged sign-ups" in later.get_data(as_text=True)
    assert "cleo@example.org" in people(app, event_uuid)


def test_the_preview_may_map_onto_a_new_event_instead(app, kiosk_b):
    a, b = lead(app), lead(kiosk_b)
    fall_fair(app)
    with kiosk_b.app_context():
        hand_made_id = events.create_event("Spring walk", on=None, activate=True).id
    sign_up(kiosk_b, "ben@example.org")
    html = assert_fragment(upload(a, "/lead/import", export_json(b, hand_made_id)))
    token = re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)
    assert re.search(r'<option value="new" selected', html)
    done = a.post("/lead/import/confirm", data={"token": token, "into": "new", "action": "import"})
    assert done.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Event).where(Event.name == "Spring walk")) is not None


@pytest.mark.parametrize(
    "into", ["", "abc", "99999999", "-1", "99999999999999999999999999", "new\x00"]
)
def test_a_hostile_mapping_never_gives_a_server_error(app, kiosk_b, into):
    a, b = lead(app), lead(kiosk_b)
    with kiosk_b.app_context():
        hand_made_id = events.create_event("Spring walk", on=None, activate=True).id
    html = assert_fragment(upload(a, "/lead/import", export_json(b, hand_made_id)))
    token = re.search(r'name="token" value="([0-9a-f]{32})"', html).group(1)
    response = a.post("/lead/import/confirm", data={"token": token, "into": into})
    assert response.status_code in (404, 422)


@pytest.mark.parametrize("token", ["", "../../etc/passwd", "0" * 32, "z" * 32])
def test_a_hostile_token_never_gives_a_server_error(app, token):
    client = lead(app)
    response = client.post("/lead/import/confirm", data={"token": token, "into": "new"})
    assert response.status_code == 422


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG",
        b"[]",
        json.dumps({"format": "rescue-team-kiosk/event-join", "version": 1}).encode(),
        json.dumps(
            {"format": "rescue-team-kiosk/event-join", "version": 1, "event": {"uuid": "x"}}
        ).encode(),
        json.dumps(
            {
                "format": "rescue-team-kiosk/event-join",
                "version": 1,
                "event": {"uuid": str(uuid.uuid4()), "name": "\ud800", "goal_cents": 1},
            }
        ).encode(),
        # A number longer than Python will parse (int_max_str_digits): refused, never a 500.
        b'{"format": "rescue-team-kiosk/event-join", "version": 1, "event": {"goal_cents": '
        + b"9" * 5000
        + b"}}",
    ],
    # One carries a fresh UUID: numbered ids keep every xdist worker collecting the same names.
    ids=["png", "list", "no-event", "bad-uuid", "bad-name", "huge-number"],
)
def test_a_bad_join_file_is_refused_beside_the_field_and_nothing_is_stored(app, content):
    client = lead(app)
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Event))
    response = upload(client, "/lead/join", content)
    assert response.status_code == 422
    assert 'id="join_file-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == before


def test_kiosk_event_join_takes_the_file_and_says_what_it_did(app, kiosk_b, tmp_path):
    a = lead(app)
    event_id, event_uuid = fall_fair(app)
    path = tmp_path / "join.json"
    path.write_bytes(a.get(f"/lead/events/{event_id}/join-file").data)
    runner = kiosk_b.test_cli_runner()
    result = runner.invoke(args=["event", "join", str(path), "--activate"])
    assert result.exit_code == 0, result.output
    assert "Joined Fall fair" in result.output and "(active)" in result.output
    with kiosk_b.app_context():
        assert events.active_event().uuid == event_uuid
    again = runner.invoke(args=["event", "join", str(path)])
    assert again.exit_code == 0 and "already" in again.output
    bad = tmp_path / "bad.json"
    bad.write_text("hello")
    refused = runner.invoke(args=["event", "join", str(bad)])
    assert refused.exit_code != 0 and "not valid JSON" in refused.output


def test_kiosk_import_into_maps_an_unknown_event(app, kiosk_b, tmp_path):
    b = lead(kiosk_b)
    event_id, event_uuid = fall_fair(app)
    with kiosk_b.app_context():
        hand_made_id = events.create_event("Tablet B", on=None, activate=True).id
    sign_up(kiosk_b, "ben@example.org")
    path = tmp_path / "b.json"
    path.write_bytes(export_json(b, hand_made_id))
    result = app.test_cli_runner().invoke(args=["import", str(path), "--into", str(event_id)])
    assert result.exit_code == 0, result.output
    assert people(app, event_uuid) == ["ben@example.org"]


def kiosk_rows(html: str) -> dict[str, list[int]]:
    """The dashboard's "Records from each kiosk" table: kiosk id -> [sign-ups, pledges,
    questions]."""
    rows = re.findall(r'<tr data-kiosk="([^"]*)">(.*?)</tr>', html, re.S)
    return {kiosk: [int(n) for n in re.findall(r"<td>(\d+)</td>", cells)] for kiosk, cells in rows}


def test_each_record_keeps_its_kiosk_and_the_dashboard_counts_each_kiosks_records(app, kiosk_b):
    with app.app_context():
        a_id = identity.kiosk_id()  # made when `kiosk serve` prepares the database
    with kiosk_b.app_context():
        b_id = identity.kiosk_id()
    assert a_id != b_id
    a, b = lead(app), lead(kiosk_b)
    event_id, _event_uuid = fall_fair(app)
    upload(b, "/lead/join", a.get(f"/lead/events/{event_id}/join-file").data, activate="yes")
    with kiosk_b.app_context():
        b_event_id = events.active_event().id
    sign_up(app, "ana@example.org", "Ana")
    sign_up(app, "same@example.org", "Sam")
    sign_up(kiosk_b, "ben@example.org", "Ben")
    sign_up(kiosk_b, "cho@example.org", "Cho")
    sign_up(kiosk_b, "same@example.org", "Sam")

    # B's bundle carries B's id on each of its records.
    bundle = json.loads(export_json(b, b_event_id))
    assert {s["kiosk_id"] for s in bundle["signups"]} == {b_id}

    upload(a, "/lead/import", export_json(b, b_event_id))
    # Sam signed up on A first: the merged sign-up stays A's.
    assert kiosk_rows(a.get("/lead/").get_data(as_text=True)) == {
        a_id: [2, 0, 0],
        b_id: [2, 0, 0],
    }
    summary = a.get(f"/lead/events/{event_id}/summary").get_data(as_text=True)
    assert "This kiosk" in summary and b_id[:8] in summary
    # Each kiosk has a name to read; its id is only a detail under it.
    dashboard = a.get("/lead/").get_data(as_text=True)
    names = dict(
        re.findall(
            r'<tr data-kiosk="([^"]*)">\s*(?:\{#.*?#\})?\s*<th scope="row">(.*?)</th>',
            dashboard,
            re.S,
        )
    )
    assert names[a_id].startswith('<span class="kiosk-name">This kiosk</span>')
    assert names[b_id].startswith('<span class="kiosk-name">Kiosk 2</span>')
    assert f'<small class="kiosk-id">id <code>{b_id[:8]}</code></small>' in names[b_id]
    # Carried on: A's own export names B as the kiosk of B's people.
    again = opened_values(json.loads(export_json(a, event_id)))  # its emails travel sealed
    kiosks = {s["email"]: s["kiosk_id"] for s in again["signups"]}
    assert kiosks == {
        "ana@example.org": a_id,
        "same@example.org": a_id,
        "ben@example.org": b_id,
        "cho@example.org": b_id,
    }


@pytest.mark.sqlite_only  # which key seals a field does not depend on the engine
def test_a_joined_kiosk_seals_to_the_first_kiosks_key_so_its_lead_opens_what_b_took(app, kiosk_b):
    a, b = lead(app), lead(kiosk_b)
    event_id, _uuid = fall_fair(app)
    join_file = a.get(f"/lead/events/{event_id}/join-file").data
    with app.app_context():
        a_public = bytes(sealing.public_key())
    with kiosk_b.app_context():
        b_own = base64.b64decode(sealing._stored(sealing.PUBLIC_KEY) or "")
    assert json.loads(join_file)["team_public_key"] == base64.b64encode(a_public).decode()
    assert b_own != a_public

    assert upload(b, "/lead/join", join_file, activate="yes").status_code == 200
    sign_up(kiosk_b, "ben@example.org", "Benedikt Joined")
    with kiosk_b.app_context():
        blob = db.session.scalar(text("SELECT first_name FROM signup WHERE first_name != ''"))
    assert sealing.is_sealed(blob)
    assert sealing.open_sealed(blob, TEST_KEYS[a_public]) == "Benedikt Joined"
    with pytest.raises(nacl.exceptions.CryptoError):
        sealing.open_sealed(blob, TEST_KEYS[b_own])  # B's own key opens nothing B took

    # B's Records page says where those names open instead of "log in again"; A's does not.
    b_records = b.get("/lead/records").get_data(as_text=True)
    assert "seals what it takes with the team's key" in b_records
    assert "Log out and log in again" not in b_records
    assert "seals what it takes" not in a.get("/lead/records").get_data(as_text=True)


@pytest.mark.sqlite_only
def test_a_join_file_with_a_damaged_team_key_is_refused_and_nothing_is_taken(app, kiosk_b):
    a, b = lead(app), lead(kiosk_b)
    event_id, _uuid = fall_fair(app)
    document = json.loads(a.get(f"/lead/events/{event_id}/join-file").data)
    document["team_public_key"] = "not-a-key"
    response = upload(b, "/lead/join", json.dumps(document).encode())
    assert response.status_code == 422 and "team key is damaged" in response.get_data(as_text=True)
    with kiosk_b.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 1  # the demo
