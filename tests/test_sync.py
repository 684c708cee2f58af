"""Many tables, one hub, at the level of requests: the hub's endpoints for tables, join codes,
and a table's sync rounds carried to the hub's app in this process (tests/test_sync_crash.py
runs real processes over a link that fails). The hub is `app` (both engines where SQL
decides); the table is a second kiosk on SQLite."""

import base64
import functools
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from kiosk import create_app
from kiosk.extensions import db
from kiosk.models import Event, HubTable, Signup, Tally
from kiosk.services import erasure, events, hub, imports, sealing, sync, volunteers
from tests.conftest import TEST_KEYS, _config
from tests.helpers import database_snapshot
from tests.lead_helpers import log_in, set_passphrase
from tests.test_imports import signup

HUB_URL = "http://127.0.0.1:9"  # never dialled here: requests go to the hub's app in-process


@pytest.fixture
def table(request, tmp_path: Path, monkeypatch, app) -> Iterator[Flask]:
    """A table's kiosk: its own instance folder and SQLite database."""
    path = tmp_path / "table.db"
    shutil.copy(request.getfixturevalue("migrated_db"), path)
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance-table"))
    other = create_app(_config(f"sqlite:///{path}"))
    with other.app_context():
        events.ensure_demo_event()
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


class Link:
    """The network between the table and the hub's app: up, down, or losing the hub's
    answers to chunks of records after the hub has stored them. `busy`: how many of the
    next chunks reach the hub while another import holds its turn."""

    def __init__(self, hub_app: Flask) -> None:
        self.hub_app = hub_app
        self.mode = "up"
        self.calls: list[str] = []
        self.busy = 0

    def exchange(self, client: sync.Client, path: str, body: bytes) -> tuple[int, bytes]:
        if self.mode == "down":
            raise sync.HubUnreachable("The hub refused the connection.")
        self.calls.append(path)
        post = functools.partial(
            self.hub_app.test_client().post,
            path,
            data=body,
            headers={"Authorization": f"Bearer {client.code.token}"},
            content_type="application/json",
        )
        if path == "/hub/records" and self.busy:
            self.busy -= 1
            with self.hub_app.app_context(), imports._import_turn():
                answer = post()
            return answer.status_code, answer.get_data()
        answer = post()
        if self.mode == "lose_answers" and path == "/hub/records":
            raise sync.HubUnreachable("The connection dropped.")
        return answer.status_code, answer.get_data()


@pytest.fixture
def link(app, monkeypatch) -> Link:
    wire = Link(app)
    monkeypatch.setattr(
        sync.Client, "exchange", lambda client, path, body: wire.exchange(client, path, body)
    )
    return wire


def hub_event(app: Flask, name: str = "Spring fair") -> str:
    with app.app_context():
        return events.create_event(name).uuid


def add_table(app: Flask, event_uuid: str, name: str = "Library steps") -> str:
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.uuid == event_uuid))
        return hub.add_table(name, [event], HUB_URL)


def joined_table(table: Flask, code: str) -> None:
    with table.app_context():
        joined = sync.join(code)
        assert joined.reached, joined.problem


def sign_up(app: Flask, email: str, first: str = "Ana") -> None:
    data = {"first_name": first, "email": email, "consent": "y"}
    assert app.test_client().post("/signup", data=data).status_code == 303


def tap(app: Flask) -> None:
    with app.app_context():
        db.session.add(Tally(event=events.active_event(), kind=Tally.OPENER, key="people"))
        db.session.commit()


def emails(app: Flask, event_uuid: str) -> list[str]:
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.uuid == event_uuid))
        return sorted(db.session.scalars(select(Signup.email).where(Signup.event_id == event.id)))


def sync_round(table: Flask) -> sync.Round | None:
    with table.app_context():
        return sync.sync_once()


def state(table: Flask) -> dict:
    with table.app_context():
        return sync.status()


# ---- Join codes -------------------------------------------------------------------------------


def test_a_join_code_is_one_line_and_reads_back(app):
    uuid = hub_event(app)
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.uuid == uuid))
        code = hub.add_table("Library steps", [event], "https://hub.example.org", "AB:" * 31 + "CD")
        stored = db.session.scalar(select(HubTable))
    assert "\n" not in code and code.startswith("RTK1-")
    read = hub.read_code(code)
    assert read.hub == "https://hub.example.org"
    assert read.events == (uuid,)
    assert read.table == "Library steps"
    assert read.fingerprint == "ab" * 31 + "cd"
    # Only the token's hash stays on the hub.
    assert stored.token_hash == hub.token_hash(read.token)
    assert read.token not in json.dumps(stored.events)


@pytest.mark.parametrize(
    "address",
    ["http://hub.example.org", "http://192.168.1.5:8000", "ftp://hub.example.org", "hub"],
)
def test_a_hub_address_must_be_https_except_to_this_machine(address):
    with pytest.raises(hub.HubRefused):
        hub.checked_address(address)


@pytest.mark.parametrize("address", ["https://hub.example.org", "http://127.0.0.1:8170"])
def test_https_and_loopback_http_are_accepted(address):
    assert hub.checked_address(address + "/") == address


@pytest.mark.parametrize("code", ["", "hello", "RTK1-!!!!", "RTK1-e30", "RTK1-" + "A" * 40])
def test_a_damaged_join_code_is_refused_with_a_message(code):
    with pytest.raises(hub.HubRefused, match="join code"):
        hub.read_code(code)


def test_a_second_table_of_the_same_name_is_refused(app):
    uuid = hub_event(app)
    add_table(app, uuid)
    with pytest.raises(hub.HubRefused, match="already called"):
        add_table(app, uuid)


# ---- The hub's endpoints -------------------------------------------------------------------------


def test_the_hub_refuses_a_missing_or_wrong_token_and_changes_nothing(app, client):
    uuid = hub_event(app)
    add_table(app, uuid)
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.uuid == uuid))
        from kiosk.services.exports import bundle

        chunk = bundle(event) | {"signups": [signup("ana@example.org", "Ana")]}
    before = database_snapshot(app)
    for path in ("/hub/hello", "/hub/changes", "/hub/records"):
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
            answer = client.post(path, headers=headers, json=chunk)
            assert answer.status_code == 401
            assert answer.json == {"error": "Unknown table token."}
    assert database_snapshot(app) == before


def test_a_revoked_table_is_told_so(app, client):
    code = hub.read_code(add_table(app, hub_event(app)))
    with app.app_context():
        hub.revoke_table(db.session.scalar(select(HubTable.id)))
    answer = client.post("/hub/hello", headers={"Authorization": f"Bearer {code.token}"})
    assert answer.status_code == 403
    assert answer.json["revoked"] is True


def test_a_table_may_not_send_or_read_another_event(app, client):
    mine, other = hub_event(app), hub_event(app, "Other fair")
    code = hub.read_code(add_table(app, mine))
    auth = {"Authorization": f"Bearer {code.token}"}
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.uuid == other))
        from kiosk.services.exports import bundle

        chunk = bundle(event)
    answer = client.post("/hub/records", headers=auth, json=chunk)
    assert answer.status_code == 422
    assert client.post("/hub/changes", headers=auth, json={"event": other}).status_code == 403


def test_the_hubs_answers_hold_nothing_personal(app, client):
    uuid = hub_event(app)
    code = hub.read_code(add_table(app, uuid))
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.uuid == uuid))
        events.activate_event(event)
    sign_up(app, "secret.person@example.org", "Secretname")
    auth = {"Authorization": f"Bearer {code.token}"}
    answers = [
        client.post("/hub/hello", headers=auth).get_data(as_text=True),
        client.post("/hub/changes", headers=auth, json={"event": uuid}).get_data(as_text=True),
    ]
    for answer in answers:
        assert "secret.person" not in answer and "Secretname" not in answer


def test_the_hub_endpoints_need_no_csrf_token(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    code = hub.read_code(add_table(app, hub_event(app)))
    answer = client.post("/hub/hello", headers={"Authorization": f"Bearer {code.token}"})
    assert answer.status_code == 200
    assert answer.json["table"] == "Library steps"


@pytest.mark.both_engines  # a commit that only read writes nothing on either engine
def test_a_tables_rounds_note_its_last_sync_at_most_every_half_minute(app, client, clock):
    uuid = hub_event(app)
    code = hub.read_code(add_table(app, uuid))

    def round_then_noted() -> object:
        auth = {"Authorization": f"Bearer {code.token}"}
        answer = client.post("/hub/changes", headers=auth, json={"event": uuid})
        assert answer.status_code == 200
        assert answer.json["team"] is None and answer.json["erasures"] == []
        with app.app_context():
            noted = db.session.scalar(select(HubTable.last_sync_at))
            assert noted is not None
            return noted.replace(microsecond=0)

    first = clock().replace(microsecond=0)
    assert round_then_noted() == first
    clock.move(seconds=hub.LAST_SYNC_NOTE_S - 1)  # the next rounds: not noted, no write
    assert round_then_noted() == first
    clock.move(seconds=1)
    assert round_then_noted() == clock().replace(microsecond=0)
    clock.move(minutes=-10)  # a clock set back is noted at once
    assert round_then_noted() == clock().replace(microsecond=0)


def test_each_table_is_rate_limited():
    limit = hub.RateLimit(per_minute=3)
    assert [limit.allow(1) for _ in range(4)] == [True, True, True, False]
    assert limit.allow(2)  # another table has its own budget


def test_an_oversized_chunk_is_refused_whole(app, client):
    code = hub.read_code(add_table(app, hub_event(app)))
    answer = client.post(
        "/hub/records",
        headers={"Authorization": f"Bearer {code.token}"},
        data=b"x" * (70 * 1024),
        content_type="application/json",
    )
    assert answer.status_code == 413


@pytest.mark.both_engines  # the import turn is an advisory lock on PostgreSQL
def test_a_chunk_is_told_busy_at_once_while_another_import_holds_the_turn(app, client):
    uuid = hub_event(app)
    code = hub.read_code(add_table(app, uuid))
    auth = {"Authorization": f"Bearer {code.token}"}
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.uuid == uuid))
        from kiosk.services.exports import bundle

        chunk = bundle(event) | {"signups": [signup("ana@example.org", "Ana")]}
    before = database_snapshot(app)
    # Another chunk (or the lead's file) is being written: it holds the turn.
    with app.app_context(), imports._import_turn():
        began = time.monotonic()
        answer = client.post("/hub/records", headers=auth, json=chunk)
        waited = time.monotonic() - began
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.json["busy"] is True and answer.json["retry_after"] == 1
    assert "again" in answer.json["error"]
    assert waited < 1  # answered, not parked until the turn came
    assert database_snapshot(app) == before  # nothing of it stored, not even counted
    # The table sends it again once the turn is free: stored.
    again = client.post("/hub/records", headers=auth, json=chunk)
    assert again.status_code == 200 and again.json["added"] == 1
    assert emails(app, uuid) == ["ana@example.org"]
    with app.app_context():
        assert db.session.scalar(select(HubTable.chunks_received)) == 1


def free_turn_within(app: Flask, seconds: float) -> float:
    """Seconds until a chunk could take the import turn (polled), at most `seconds`."""
    began = time.monotonic()
    with app.app_context():
        while time.monotonic() - began < seconds:
            try:
                imports._turn_at_once()()  # taken and given back at once
            except imports.ImportBusy:
                time.sleep(0.01)
                continue
            return time.monotonic() - began
    raise AssertionError("the import turn was never given back")


@pytest.mark.both_engines  # the rest is the import turn: an advisory lock on PostgreSQL
def test_a_hub_that_took_a_chunk_answers_the_next_busy_until_its_rest_has_passed(app, client):
    app.config["KIOSK_HUB_IMPORT_SHARE"] = 0.04  # a rest of 24 times the chunk's import
    uuid = hub_event(app)
    code = hub.read_code(add_table(app, uuid))
    auth = {"Authorization": f"Bearer {code.token}"}
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.uuid == uuid))
        from kiosk.services.exports import bundle

        frame = bundle(event)
    first = frame | {"signups": [signup("ana@example.org", "Ana")]}
    second = frame | {"signups": [signup("bo@example.org", "Bo")]}
    taken = client.post("/hub/records", headers=auth, json=first)
    assert taken.status_code == 200 and taken.json["added"] == 1
    rest = taken.json["rest"]
    # The table is told how long the hub rests (and a little more).
    assert hub.REST_MARGIN_S < rest <= imports.LONGEST_REST_S + hub.REST_MARGIN_S
    told = client.post("/hub/records", headers=auth, json=second)
    assert told.status_code == 503 and told.json["busy"] is True
    assert told.json["retry_after"] >= 1 and int(told.headers["Retry-After"]) >= 1
    # Every process is told busy, not only this one: the rest is the import turn itself.
    with app.app_context(), pytest.raises(imports.ImportBusy):
        imports._turn_at_once()
    waited = free_turn_within(app, imports.LONGEST_REST_S + 5)
    assert waited > 0  # held on after the answer, then given back by itself
    again = client.post("/hub/records", headers=auth, json=second)
    assert again.status_code == 200 and again.json["added"] == 1
    assert emails(app, uuid) == ["ana@example.org", "bo@example.org"]
    free_turn_within(app, imports.LONGEST_REST_S + 5)  # no rest outlives the test
    with app.app_context():
        assert db.session.scalar(select(HubTable.chunks_received)) == 2


def test_waiting_tables_are_told_to_come_back_in_turn_not_each_second(monkeypatch):
    from kiosk import hub as endpoints

    waiting = endpoints.WaitingTables()
    assert [waiting.place(table) for table in (7, 8, 9)] == [1, 2, 3]
    assert waiting.place(8) == 2  # told busy again: keeps its place
    waiting.taken(7)  # its chunk was taken
    assert waiting.place(9) == 2 and waiting.place(10) == 3
    # The hub takes a chunk every 0.5 s: the third waiting table comes back in 1.5 s.
    monkeypatch.setattr(endpoints, "_waiting", waiting)
    monkeypatch.setattr(imports, "last_period_s", lambda: 0.5)
    with Flask(__name__).app_context():
        assert endpoints.busy(10).json["retry_after"] == 1.5
        assert endpoints.busy(8).json["retry_after"] == 1  # never sooner than a second
    monkeypatch.setattr(imports, "last_period_s", lambda: 60.0)
    with Flask(__name__).app_context():
        assert endpoints.busy(8).json["retry_after"] == endpoints.BUSY_LONGEST_S


def test_a_table_waits_the_rest_the_hub_asks_for_after_a_chunk(app, table, link, monkeypatch):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    sign_up(table, "ana@example.org")
    slept: list[float] = []
    monkeypatch.setattr(sync.time, "sleep", slept.append)
    real = link.exchange

    def pacing_hub(client, path, body):
        status, raw = real(client, path, body)
        if path == "/hub/records" and status == 200:
            raw = json.dumps(json.loads(raw) | {"rest": 2.5}).encode()
        return status, raw

    monkeypatch.setattr(link, "exchange", pacing_hub)
    done = sync_round(table)
    assert (done.sent, done.busy) == (1, 0)
    assert 2.5 in slept  # the hub's rest, not only the table's own (half the chunk's time)
    assert sync._rest_of({"rest": 1e9}) == sync.BUSY_LONGEST_S
    assert sync._rest_of({"rest": "soon"}) == sync._rest_of({}) == 0


def test_a_lead_file_import_still_waits_for_its_turn(app):
    """Only a table's chunk is told busy: the lead's file waits for the import before it."""
    import threading

    with app.app_context():
        event = events.create_event("Autumn fair")
        from kiosk.services.exports import bundle

        raw = json.dumps(bundle(event) | {"signups": [signup("bo@example.org", "Bo")]})
    done = threading.Event()

    def lead_imports() -> None:
        with app.app_context():
            imports.import_bundle(raw, actor="lead")
            db.session.remove()
        done.set()

    with app.app_context(), imports._import_turn():
        worker = threading.Thread(target=lead_imports)
        worker.start()
        assert not done.wait(0.3)  # waiting for the turn, not refused
    worker.join(10)
    assert done.is_set()
    with app.app_context():
        assert db.session.scalar(select(Signup.email).where(Signup.event_id == event.id)) == (
            "bo@example.org"
        )


# ---- A table's sync rounds ---------------------------------------------------------------------


@pytest.mark.both_engines  # the hub's import merges and erases in SQL
def test_a_table_sends_what_the_hub_lacks_once(app, table, link):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    for n in range(5):
        sign_up(table, f"person{n}@example.org")
    tap(table)
    assert state(table)["waiting"] == 6
    done = sync_round(table)
    assert done.sent == 6
    assert emails(app, uuid) == [f"person{n}@example.org" for n in range(5)]
    assert state(table)["waiting"] == 0
    assert state(table)["last_error"] is None
    # A second round sends nothing: the records say the hub has them.
    assert sync_round(table).sent == 0
    with app.app_context():
        row = db.session.scalar(select(HubTable))
        assert row.records_received == 6
        assert db.session.scalar(select(func.count()).select_from(Tally)) == 1


@pytest.mark.both_engines  # the hub's import merges and erases in SQL
def test_an_answer_lost_after_the_hub_stored_the_chunk_is_resent_harmlessly(app, table, link):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    for n in range(3):
        sign_up(table, f"person{n}@example.org")
    link.mode = "lose_answers"
    with pytest.raises(sync.HubUnreachable):
        sync_round(table)
    assert state(table)["waiting"] == 3  # nothing acknowledged...
    assert len(emails(app, uuid)) == 3  # ...though the hub stored it
    assert state(table)["unreachable_since"] is not None
    link.mode = "up"
    assert sync_round(table).sent == 3
    assert emails(app, uuid) == [f"person{n}@example.org" for n in range(3)]
    assert state(table)["waiting"] == 0
    assert state(table)["unreachable_since"] is None


def test_a_table_whose_hub_never_answers_works_as_before(app, table, link):
    link.mode = "down"
    with table.app_context():
        code = hub.JoinCode(HUB_URL, ("00000000-0000-4000-8000-000000000000",), "t" * 43, "T")
        joined = sync.join(code.encode())
    assert not joined.reached
    sign_up(table, "ana@example.org")
    with pytest.raises(sync.HubUnreachable):
        sync_round(table)
    with table.app_context():
        assert "not reachable since" in sync.status_line()


def test_a_table_seals_to_the_hubs_key_from_the_moment_it_joins_reached_or_not(app, table, link):
    link.mode = "down"
    code = add_table(app, hub_event(app))
    with app.app_context():
        hub_public = bytes(sealing.public_key())
    assert hub.read_code(code).key == base64.b64encode(hub_public).decode()
    with table.app_context():
        assert not sync.join(code).reached
    sign_up(table, "ana@example.org", "Anastasia Table")
    with table.app_context():
        blob = db.session.scalar(text("SELECT first_name FROM signup WHERE first_name != ''"))
    assert sealing.open_sealed(blob, TEST_KEYS[hub_public]) == "Anastasia Table"


def test_an_edit_at_the_table_is_sent_again(app, table, link, clock):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    sign_up(table, "ana@example.org", "Ana")
    sync_round(table)
    clock.move(minutes=1)  # bundles carry whole seconds: the later sign-up is newer
    sign_up(table, "ana@example.org", "Anna")  # the same person again: a merge, a new revision
    assert state(table)["waiting"] == 1
    sync_round(table)
    with app.app_context():
        assert db.session.scalar(select(Signup.first_name)) == "Anna"


@pytest.mark.both_engines  # the hub's import merges and erases in SQL
def test_erasure_at_the_hub_reaches_the_table_and_is_never_sent_back(app, table, link):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    sign_up(table, "gone@example.org")
    sign_up(table, "stays@example.org")
    sync_round(table)
    with app.app_context():
        erasure.erase_person("gone@example.org")
    done = sync_round(table)
    assert done.forgotten == 1
    assert emails(table, uuid) == ["stays@example.org"]
    sync_round(table)
    assert emails(app, uuid) == ["stays@example.org"]


@pytest.mark.both_engines  # the hub's import merges and erases in SQL
def test_erasure_at_a_table_reaches_the_hub(app, table, link):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    sign_up(table, "gone@example.org")
    sync_round(table)
    with table.app_context():
        erasure.erase_person("gone@example.org")
    sync_round(table)
    assert emails(app, uuid) == []


def test_a_revoked_table_stops_and_says_so(app, table, link):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    with app.app_context():
        hub.revoke_table(db.session.scalar(select(HubTable.id)))
    sign_up(table, "ana@example.org")
    assert sync_round(table) is None
    assert state(table)["revoked"] is True
    with table.app_context():
        assert "revoked" in sync.status_line()
    assert emails(app, uuid) == []


def test_the_hubs_event_settings_reach_the_table(app, table, link):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.uuid == uuid))
        event.place = "Main quad"
        db.session.commit()
    sync_round(table)
    with table.app_context():
        assert db.session.scalar(select(Event.place).where(Event.uuid == uuid)) == "Main quad"


def test_hub_status_prints_json(app, table, link):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    sign_up(table, "ana@example.org")
    result = table.test_cli_runner().invoke(args=["hub", "status"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["hub"] == HUB_URL
    assert printed["waiting"] == 1
    assert {"hub", "last_sync", "waiting", "last_error"} <= printed.keys()


def test_add_table_command_prints_a_join_code(app):
    hub_event(app)
    result = app.test_cli_runner().invoke(
        args=["hub", "add-table", "Quad", "--url", "https://hub.example.org"]
    )
    assert result.exit_code == 0, result.output
    assert hub.read_code(result.stdout.strip().splitlines()[-1]).table == "Quad"


# ---- The lead's pages ------------------------------------------------------------------------


def test_the_lead_adds_a_table_sees_its_code_and_revokes_it(app):
    set_passphrase(app)
    lead = app.test_client()
    log_in(lead)
    with app.app_context():
        event_id = events.active_event().id
    page = lead.post(
        "/lead/hub/tables",
        data={
            "name": "Library steps",
            "event": str(event_id),
            "hub_url": "https://hub.example.org",
        },
    )
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "kiosk hub join RTK1-" in text
    assert "data:image/svg+xml;base64," in text
    # The answer to the form is still the Hub page: the menu marks Hub, and only Hub.
    assert 'href="/lead/hub" aria-current="page"' in text
    assert text.count('aria-current="page"') == 1
    with app.app_context():
        table_id = db.session.scalar(select(HubTable.id))
    assert lead.post(f"/lead/hub/tables/{table_id}/revoke").status_code == 303
    assert "revoked" in lead.get("/lead/hub").get_data(as_text=True)


def test_the_lead_form_says_what_is_wrong(app):
    set_passphrase(app)
    lead = app.test_client()
    log_in(lead)
    page = lead.post("/lead/hub/tables", data={"name": "", "event": "x", "hub_url": "http://a.b"})
    assert page.status_code == 422
    page = lead.post("/lead/hub/join", data={"code": "nonsense"})
    assert page.status_code == 422
    assert "RTK1-" in page.get_data(as_text=True)


def test_the_table_shows_its_status_on_the_lead_console(app, table, link):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    sync_round(table)
    set_passphrase(table)
    lead = table.test_client()
    log_in(lead)
    assert "Synced 0 min ago · 0 waiting" in lead.get("/lead/").get_data(as_text=True)
    assert "Synced 0 min ago" in lead.get("/lead/hub").get_data(as_text=True)


def test_the_volunteer_screen_says_how_the_sync_stands(app, table, link):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    sign_up(table, "ana@example.org")
    link.mode = "down"
    with pytest.raises(sync.HubUnreachable):
        sync_round(table)
    with table.app_context():
        volunteers.set_volunteer_pin("4821")
    volunteer = table.test_client()
    assert volunteer.post("/volunteer/unlock", data={"pin": "4821"}).status_code == 303
    page = volunteer.get("/volunteer/").get_data(as_text=True)
    assert "Hub not reachable since" in page and "1 waiting" in page


def test_a_kiosk_without_a_hub_shows_no_sync_status(app, client):
    set_passphrase(app)
    log_in(client)
    assert "sync-status" not in client.get("/lead/").get_data(as_text=True)


def test_a_busy_hub_is_a_short_pause_not_a_failure(app, table, link, monkeypatch):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    for n in range(3):
        sign_up(table, f"person{n}@example.org")
    slept: list[float] = []
    monkeypatch.setattr(sync.time, "sleep", slept.append)
    link.busy = 2  # the first chunk twice finds the hub writing another import
    done = sync_round(table)  # no HubUnreachable: the sync thread's failures stay at 0
    assert (done.sent, done.busy) == (3, 2)
    assert link.calls.count("/hub/records") == 3
    pauses = [s for s in slept if s >= sync.BUSY_SHORTEST_S * 5]
    assert len(pauses) == 2  # each after the hub's Retry-After (1 s) and a little jitter
    assert all(1.0 <= s <= 1.0 * (1 + sync.BUSY_JITTER) for s in pauses)
    assert emails(app, uuid) == [f"person{n}@example.org" for n in range(3)]
    now = state(table)
    assert now["last_error"] is None and now["unreachable_since"] is None
    assert now["waiting"] == 0
    assert sync.busy_pause(1.0) != sync.busy_pause(1.0)  # spread, not in lockstep


def test_a_hub_busy_all_round_leaves_the_tables_error_and_backoff_as_they_were(
    app, table, link, monkeypatch
):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    sign_up(table, "ana@example.org")
    link.mode = "down"
    with pytest.raises(sync.HubUnreachable):
        sync_round(table)
    failed = state(table)
    link.mode = "up"
    monkeypatch.setattr(sync.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(sync, "BUSY_WAITS_PER_ROUND", 3)
    link.busy = 3
    done = sync_round(table)  # returns: not counted as a failure, so no doubled pause
    assert (done.sent, done.busy, done.more) == (0, 3, True)  # the next round at once
    after = state(table)
    assert after["last_error"] == failed["last_error"] == "The hub refused the connection."
    assert after["unreachable_since"] == failed["unreachable_since"]
    assert after["waiting"] == 1 and emails(app, uuid) == []


def test_a_503_that_is_not_the_hubs_busy_answer_is_a_failure(app, table, link, monkeypatch):
    """A proxy's 503 (the hub's process down) is not "busy": the table backs off as before."""
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    sign_up(table, "ana@example.org")
    real = link.exchange

    def proxy(client, path, body):
        if path == "/hub/records":
            return 503, b'{"error": "Service Unavailable"}'
        return real(client, path, body)

    monkeypatch.setattr(link, "exchange", proxy)
    with pytest.raises(sync.HubUnreachable) as raised:
        sync_round(table)
    assert not isinstance(raised.value, sync.HubBusy)
    assert "503" in state(table)["last_error"]


def test_a_round_ends_after_its_chunks_and_the_next_goes_on(app, table, link, monkeypatch):
    uuid = hub_event(app)
    joined_table(table, add_table(app, uuid))
    for n in range(3):
        sign_up(table, f"person{n}@example.org")
    table.config["KIOSK_SYNC_CHUNK_RECORDS"] = "1"
    monkeypatch.setattr(sync, "CHUNKS_PER_ROUND", 2)
    first = sync_round(table)
    assert (first.sent, first.more) == (2, True)
    assert state(table)["waiting"] == 1
    assert state(table)["last_sync"] is not None  # noted at the end of each round
    second = sync_round(table)
    assert (second.sent, second.more) == (1, False)
    assert len(emails(app, uuid)) == 3


def test_the_sync_thread_outlives_a_database_that_went_away_under_its_round(app, monkeypatch):
    """A hub's PostgreSQL restarted (or a test's database dropped) under a round: ending the
    round's session fails, and the thread goes on to the next round instead of dying."""
    from sqlalchemy.exc import OperationalError

    rounds: list[int] = []
    failures: list[BaseException] = []
    real_remove = db.session.remove

    def remove_once_broken() -> None:
        rounds.append(1)
        if len(rounds) == 1:
            raise OperationalError("ROLLBACK", {}, Exception("terminating connection"))
        real_remove()

    monkeypatch.setattr(db.session, "remove", remove_once_broken)
    monkeypatch.setattr(threading, "excepthook", lambda hook: failures.append(hook.exc_value))
    app.config["KIOSK_SYNC_SECONDS"] = "0.05"
    stop = sync.start(app)
    try:
        deadline = time.monotonic() + 10
        while len(rounds) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
    assert failures == []
    assert len(rounds) >= 3, "rounds went on after the broken one"
