"""Many tables at once (issue 23's scale, with fewer tables than the benchmark's twenty): a hub
(`kiosk serve` on PostgreSQL) and TABLES tables (`kiosk serve` on SQLite), each behind a TCP
hop of its own (tests/test_sync_crash.py's). Every table holds RECORDS records taken while
the hub was out of reach, some of its people at two tables or at all of them; then every hop
lets traffic through at once, and a visitor signs up at each table while they all sync.

The hub ends with every record of every table (checked by UUID: a chunk dropped anywhere
fails it), each person once per event (a person at several tables is one sign-up there, whose
UUID is one of that person's), every visitor thanked and stored at their table and at the
hub, and every table with nothing waiting. The hub's speed beside twenty tables is measured
by bench/sync_scale.py, not asserted here.
"""

import functools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text

from kiosk.emails import digest_of_record
from kiosk.extensions import db
from kiosk.services import events, imports, joining, sync
from kiosk.services import hub as hub_tables
from tests.served import Kiosk, Visitor, free_port
from tests.test_import_beside_tablets import app_of
from tests.test_imports import signup, tablet_bundle
from tests.test_sync_crash import Hop, Table, at_the_hub, stop_all, wait_for

pytestmark = [pytest.mark.crash, pytest.mark.xdist_group("kiosk_serve"), pytest.mark.postgresql]

TABLES = 4
RECORDS = 100  # at each table before the hub is reachable: sign-ups, pledges, questions, taps
PLEDGES, QUESTIONS, TAPS = 4, 4, 12
SHARED = 12  # people at two tables (the last two of them at every table)
VISITORS = 3  # at each table while it syncs
CHUNK_RECORDS = "10"  # about a dozen chunks a table, so the tables' chunks interleave
# A round every quarter second while the hub answers; refused, the pause doubles up to 4 s.
SYNC_SECONDS = "0.25"
SECTIONS = ("signups", "pledges", "questions", "tallies")
TABLE_OF = {"pledges": "pledge", "questions": "question", "tallies": "tally"}


def tables_of(person: int, tables: int = TABLES, shared: int = SHARED) -> set[int]:
    """The tables shared person `person` signed up at: two, or every table for the last two."""
    if person >= shared - 2:
        return set(range(tables))
    return {person % tables, (person + 1) % tables}


def bundle_of(
    table: int, tables: int = TABLES, records: int = RECORDS, shared: int = SHARED
) -> dict:
    """`records` records of table `table`, as another tablet's file (the table takes them in
    before the hub is reachable): sign-ups (with its shared people), pledges, questions, taps.
    Also the benchmark's (bench/sync_scale.py)."""
    theirs = [
        signup(f"shared-{p}@example.org", f"Shared {p}", minutes=table)
        for p in range(shared)
        if table in tables_of(p, tables, shared)
    ]
    own = records - PLEDGES - QUESTIONS - TAPS - len(theirs)
    people = [signup(f"t{table}-{n}@example.org", f"Person {n}") for n in range(own)]
    bundle = tablet_bundle(
        people + theirs,
        tallies=TAPS,
        pledges=[500 * (n + 1) for n in range(PLEDGES)],
        questions=[f"Question {n} at table {table}?" for n in range(QUESTIONS)],
    )
    assert sum(len(bundle[s]) for s in SECTIONS) == records
    return bundle


def check_hub(
    bundles: list[dict],
    stored: list[tuple],
    held: dict[str, list[str]],
    person: Callable[[str], str],
) -> dict:
    """What the hub holds against what the tables took: `stored` its (email digest, uuid) of
    every sign-up (the emails are sealed: `person` gives an address's digest), `held` the
    UUIDs of its pledges, questions and taps. Lost records (by UUID; a person at several
    tables keeps one of theirs) and duplicated people, counted."""
    people = Counter(digest for digest, _uuid in stored)
    at_hub = dict(stored)
    uuids_of: dict[str, set[str]] = {}
    for bundle in bundles:
        for record in bundle["signups"]:
            uuids_of.setdefault(person(record["email"]), set()).add(record["uuid"])
    lost = [d for d, theirs in uuids_of.items() if at_hub.get(d) not in theirs]
    for section, table in TABLE_OF.items():
        sent = Counter(r["uuid"] for b in bundles for r in b[section])
        lost += list((sent - Counter(held[table])).elements())
    return {
        "lost": lost,
        "duplicated": sorted(d for d, n in people.items() if n > 1),
        "people": len(people),
        "records": sum(len(b[s]) for b in bundles for s in SECTIONS),
    }


class Signing(threading.Thread):
    """A visitor at a table, signing VISITORS people up one after another."""

    def __init__(self, port: int, name: str) -> None:
        super().__init__(daemon=True)
        self.visitor = Visitor(port, name)
        self.thanked: list[str] = []
        self.failures: list[str] = []

    def run(self) -> None:
        for number in range(VISITORS):
            try:
                submission = self.visitor.fill_in_signup(number)
                if self.visitor.send(submission):
                    self.thanked.append(submission.email)
                else:
                    self.failures.append(f"answered {self.visitor.statuses[-1]}")
            except (OSError, AssertionError) as error:
                self.failures.append(repr(error))


def test_four_tables_sync_at_once_and_the_hub_holds_each_record_and_each_person_once(
    postgres, postgres_template, tmp_path, figure, monkeypatch
):
    began = time.monotonic()
    url = postgres.url(postgres.create_database(template=postgres_template))
    # The hub paces its intake as a hub does, resting as long as each chunk took (share 0.5,
    # not the default 0.1, whose longer rests belong to bench/sync_scale.py).
    hub_env = {"KIOSK_DATABASE_URL": url, "KIOSK_HUB_IMPORT_SHARE": "0.5"}
    hub = Kiosk(tmp_path / "hub", free_port(), env=hub_env)
    tables = [Table(tmp_path, f"table-{n}", CHUNK_RECORDS, SYNC_SECONDS) for n in range(TABLES)]
    hops: list[Hop] = []
    engine = create_engine(url)
    lead = functools.partial(at_the_hub, url, monkeypatch, tmp_path / "hub-lead")

    def hub_rows(table: str, *columns: str) -> list[tuple]:
        query = text(f"SELECT {', '.join(columns)} FROM {table}")
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(query)]

    try:
        hub.start()
        for table in tables:
            table.kiosk.start()  # all start at once: the start-ups overlap
        hub.wait_ready(timeout=60)
        with lead():
            event = events.create_event("Spring fair", activate=True)
            person = functools.partial(digest_of_record, event.erasure_key)
            join_file = joining.join_file(event)
            for table in tables:
                hop = Hop(hub.port)  # down: the hub is out of reach until every table is ready
                hops.append(hop)
                table.code = hub_tables.add_table(
                    table.name, [event], f"http://127.0.0.1:{hop.port}"
                )
        bundles = [bundle_of(n) for n in range(TABLES)]
        for table, bundle in zip(tables, bundles, strict=True):
            table.kiosk.wait_ready(timeout=60)
            app = app_of(table.kiosk.instance)
            with app.app_context():
                joined = joining.join_event(join_file, activate=True)
                assert not sync.join(table.code).reached  # kept, to sync once the hub answers
                imports.import_bundle(json.dumps(bundle), into=joined.event)
                db.session.remove()
                db.engine.dispose()
        assert [t.waiting() for t in tables] == [RECORDS] * TABLES
        assert hub_rows("signup", "email") == []
        ready = time.monotonic() - began

        # The hub answers every table at once; a visitor signs up at each meanwhile.
        opened = time.monotonic()
        for hop in hops:
            hop.mode = "up"
        visitors = [Signing(t.kiosk.port, f"visitor-{t.name}") for t in tables]
        for visitor in visitors:
            visitor.start()
        for visitor in visitors:
            visitor.join(timeout=60)
        synced = wait_for(lambda: all(t.waiting() == 0 for t in tables), "every table", 60)
        synced_s = time.monotonic() - opened

        assert [v.failures for v in visitors] == [[]] * TABLES
        thanked = {person(email) for v in visitors for email in v.thanked}
        assert len(thanked) == TABLES * VISITORS
        for table, visitor in zip(tables, visitors, strict=True):
            mine = {person(email) for email in visitor.thanked}
            assert mine <= table.people(), "each thanked visitor stored"

        # Each table says so: its last round reached the hub (a round refused for going too
        # fast, 429, is followed by one that is not). A round notes its sync when it ends,
        # after its last chunk's rest, and a round the hub kept busy notes none: so the
        # status may lag the records by a round.
        def says_synced(status: dict) -> bool:
            return status.get("last_error") is None and bool(status["last_sync"])

        wait_for(lambda: all(says_synced(t.status()) for t in tables), "statuses", 30)
        assert not any(t.status()["revoked"] for t in tables)

        # Each person once per event at the hub, every one of them.
        stored = hub_rows("signup", "email_digest", "uuid", "event_id")  # emails are sealed
        assert len({event_id for _e, _u, event_id in stored}) == 1
        held = {table: [uuid for (uuid,) in hub_rows(table, "uuid")] for table in TABLE_OF.values()}
        from_tables = [(d, u) for d, u, _event in stored if d not in thanked]
        found = check_hub(bundles, from_tables, held, person)
        assert found["duplicated"] == []
        assert found["lost"] == []
        everyone = {person(s["email"]) for b in bundles for s in b["signups"]}
        assert len(everyone) == TABLES * (RECORDS - PLEDGES - QUESTIONS - TAPS) - sum(
            len(tables_of(p)) - 1 for p in range(SHARED)
        )
        assert sorted(d for d, _u, _event in stored) == sorted(everyone | thanked)
        # Nothing more than the tables sent: the same number of each kind of record.
        assert {t: len(u) for t, u in held.items()} == {
            TABLE_OF[s]: sum(len(b[s]) for b in bundles) for s in TABLE_OF
        }

        received = hub_rows("hub_table", "name", "records_received", "chunks_received")
        assert all(records >= RECORDS + VISITORS for _name, records, _chunks in received)
        figure(
            f"sync scale: {TABLES} tables x {RECORDS} records ({SHARED} people at 2+ tables) + "
            f"{VISITORS} visitors each, synced at once in {synced_s:.1f} s (all 0 waiting after "
            f"{synced:.1f} s more); hub received {sorted(received)}; set-up {ready:.1f} s, "
            f"whole test {time.monotonic() - began:.1f} s"
        )
        for table in tables:
            assert "Traceback" not in table.kiosk.log.read_text()
        assert "Traceback" not in hub.log.read_text()
    finally:
        stop_all(tables, hub, hops, engine)
