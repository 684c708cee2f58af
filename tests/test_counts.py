"""Counts kept as records arrive (kiosk/services/counts.py): exact after every kind of write,
and read without touching the records they count."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert, select, text

from kiosk import page_cache
from kiosk.extensions import db
from kiosk.models import Event, Signup, Tally
from kiosk.services import counts, dashboard, erasure, imports
from kiosk.services.events import ensure_demo_event
from tests.data_helpers import (
    active_event_id,
    lead_closes,
    lead_exports,
    visitor_asks,
    visitor_pledges,
    visitor_signs_up,
)
from tests.helpers import HX
from tests.test_imports import signup, tablet_bundle


def assert_counts_exact(app) -> None:
    """Every event's kept counts equal a recount of its rows."""
    with app.app_context():
        for event_id in db.session.scalars(select(Event.id)):
            assert counts.kept(event_id) == counts.recount(event_id)
        db.session.rollback()


def tap(client, choice: str) -> None:
    assert client.post("/opener", data={"choice": choice}, headers=HX).status_code == 200


@pytest.mark.both_engines
def test_kept_counts_equal_a_recount_after_taps_signups_an_import_an_erasure_and_a_purge(
    app, client, lead, runner, clock
):
    tap(client, "people")
    tap(client, "people")
    tap(client, "famine")
    assert client.post("/faq/what-we-do", headers=HX).status_code == 200
    event_id = active_event_id(app)
    with app.app_context():
        # A conversation counted, then one taken back (the volunteer's undo): plain SQL.
        for _ in range(2):
            db.session.add(Tally(event_id=event_id, kind=Tally.CONVERSATION, key="table"))
        db.session.commit()
        first = db.session.scalar(select(Tally.id).where(Tally.kind == Tally.CONVERSATION))
        db.session.execute(text("DELETE FROM tally WHERE id = :id"), {"id": first})
        db.session.commit()
    visitor_signs_up(client, "minji@example.org")
    visitor_signs_up(client, "minji@example.org", first_name="Min-ji")  # merged into one
    visitor_signs_up(client, "ana@example.org", first_name="Ana")
    visitor_pledges(client, "ana@example.org", "Ana")
    visitor_asks(client, "Where do the rescues start?", "ana@example.org")
    assert_counts_exact(app)

    # Another tablet's file merged into this event: a person both hold, new ones, taps.
    bundle = tablet_bundle(
        [signup("minji@example.org", "Minji"), signup("ben@example.org", "Ben", minutes=90)],
        tallies=3,
        pledges=[1500, 2500],
        questions=["Can I volunteer?"],
    )
    with app.app_context():
        imports.import_bundle(json.dumps(bundle), into=db.session.get(Event, event_id))
        assert counts.records_total(event_id, "pledge") == (3, 3000 + 1500 + 2500)
    assert_counts_exact(app)

    with app.app_context():
        erasure.erase_person("ana@example.org")  # sign-up and question deleted, pledge kept
    assert_counts_exact(app)

    lead_closes(lead, event_id)
    lead_exports(lead, event_id, "csv")
    clock.move(days=91)
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(Signup.id)) is None  # the purge deleted them
        kept = counts.kept(event_id)
    assert ("signup", None) not in kept and kept[("tally", "opener", "people")] == 5
    assert_counts_exact(app)


TAPS_SQL = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :many)
INSERT INTO tally (uuid, event_id, kind, key, created_at)
SELECT 'tap-' || i, :event_id, 'opener', 'people', :at FROM n
"""
SIGNUPS_SQL = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :many)
INSERT INTO signup (uuid, event_id, email, first_name, last_name, phone, organisation,
    interests, source, locale, revision, created_at, updated_at)
SELECT 'signup-' || i, :event_id, 'p' || i || '@example.org', 'P', '', '', '', '', 'kiosk',
    '', 1, :at, :at FROM n
"""
COUNTED = ("tally", "signup", "pledge")


def statements_of(app, ask) -> list[str]:
    """The SQL statements `ask()` issues."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement.lower())

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        ask()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def tables_read(statements: list[str]) -> set[str]:
    return {
        table
        for statement in statements
        for table in COUNTED
        if f"from {table} " in statement or f"from {table}\n" in statement
    }


def test_the_chart_and_the_dashboard_read_the_same_statements_at_none_and_at_many_records(
    app, client, lead
):
    def chart() -> None:
        assert client.get("/opener/chart", headers=HX).status_code == 200

    def poll() -> None:
        assert lead.get("/lead/", headers=HX).status_code == 200

    tap(client, "people")  # the active event, and a first tap
    visitor_signs_up(client, "minji@example.org")
    # The chart keeps the event's id per setup generation, which nothing below changes: once
    # kept, each new chart reads the counts alone, at few records as at many.
    chart()
    tap(client, "people")
    few = [statements_of(app, chart), statements_of(app, poll)]

    event_id = active_event_id(app)
    with app.app_context():
        moment = datetime(2026, 12, 1, 10, tzinfo=UTC).replace(tzinfo=None)
        for statement, many in ((TAPS_SQL, 20_000), (SIGNUPS_SQL, 3_000)):
            db.session.execute(
                text(statement),
                {"many": many, "event_id": event_id, "at": moment},
                # Raw SQL says what it writes (page_cache.WRITES), else every screen renews.
                execution_options={page_cache.WRITES: ("tally", "signup")},
            )
        db.session.commit()
        assert counts.tally_total(event_id, Tally.OPENER) == 20_002
        assert len(dashboard.signups_per_hour(db.session.get(Event, event_id))) == 24
    many = [statements_of(app, chart), statements_of(app, poll)]

    assert chart_rendered_again(many[0])
    for at_few, at_many in zip(few, many, strict=True):
        assert tables_read(at_few) == tables_read(at_many) == set()
        assert len(at_few) == len(at_many)
    assert 'data-value="3001"' in lead.get("/lead/", headers=HX).get_data(as_text=True)


def chart_rendered_again(statements: list[str]) -> bool:
    """The chart was not answered from the page cache: it read the opener's counts."""
    return any("from tally_count" in statement for statement in statements)


def test_signups_per_hour_show_each_local_hour_of_the_last_day(app, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # 30 minutes off the hour
    import time

    time.tzset()
    try:
        with app.app_context():
            event = Event(name="Fair", goal_cents=1, rescue_cost_cents=1, status=Event.CLOSED)
            db.session.add(event)
            db.session.commit()
            start = datetime(2026, 12, 1, 3, 20, tzinfo=UTC)  # 08:50 in Kolkata
            for minutes in (0, 15, 70, 30 * 60 - 55, 30 * 60 - 25, 30 * 60):
                moment = (start + timedelta(minutes=minutes)).replace(tzinfo=None)
                db.session.execute(
                    insert(Signup).values(
                        event_id=event.id,
                        email=f"p{minutes}@example.org",
                        first_name="P",
                        created_at=moment,
                    )
                )
            db.session.commit()
            hours = dashboard.signups_per_hour(event)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    # 30 h after the first sign-up: the day that ends at 14:00 on the next day.
    assert [(bar.label, bar.count) for bar in hours][:2] == [("15:00", 0), ("16:00", 0)]
    # 13:55 and 14:25, 14:50 there: buckets of 15 minutes add up to the local hours.
    assert [(bar.label, bar.count) for bar in hours][-2:] == [("13:00", 1), ("14:00", 2)]
    assert sum(bar.count for bar in hours) == 3 and len(hours) == 24


@pytest.mark.postgresql_only
def test_two_server_connections_count_taps_at_once_without_waiting_for_each_other(app):
    """A hub: each connection owns a shard of the counts and of the chart's generation, so a
    tap's transaction never waits for another's, nor deadlocks with one that counts the same
    keys in the other order."""
    with app.app_context():
        event_id = ensure_demo_event().id
        engine = db.engine
    first, second = engine.connect(), engine.connect()
    try:
        shards = [
            connection.exec_driver_sql("SELECT current_setting('kiosk.shard', true)").scalar()
            for connection in (first, second)
        ]
        assert "" not in shards and None not in shards and shards[0] != shards[1]
        tap_sql = text(
            "INSERT INTO tally (uuid, event_id, kind, key, created_at) "
            "VALUES (:uuid, :event_id, 'opener', :key, now())"
        )
        for connection in (first, second):
            connection.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
        # Neither commits until both counted both keys: one would wait for ever on a shared row.
        first.execute(tap_sql, {"uuid": "tap-1", "event_id": event_id, "key": "people"})
        second.execute(tap_sql, {"uuid": "tap-2", "event_id": event_id, "key": "famine"})
        first.execute(tap_sql, {"uuid": "tap-3", "event_id": event_id, "key": "famine"})
        second.execute(tap_sql, {"uuid": "tap-4", "event_id": event_id, "key": "people"})
        second.commit()
        first.commit()
    finally:
        first.close()
        second.close()
    with app.app_context():
        assert counts.tally_total(event_id, Tally.OPENER) == 4
    assert_counts_exact(app)


OLD_ROWS = [
    "INSERT INTO event (uuid, name, goal_cents, rescue_cost_cents, tracking_source, status, "
    "created_at, erasure_key, place) VALUES ('e-1', 'Fair', 1, 1, '', 'closed', :at, 'k', '')",
    "INSERT INTO tally (uuid, event_id, kind, key, created_at) VALUES "
    "('t-1', :event, 'opener', 'people', :at), ('t-2', :event, 'opener', 'people', :at), "
    "('t-3', :event, 'conversation', 'table', :at)",
    "INSERT INTO signup (uuid, event_id, email, first_name, last_name, phone, organisation, "
    "interests, source, locale, revision, created_at, updated_at, kiosk_id) VALUES "
    "('s-1', :event, 'a@example.org', 'A', '', '', '', '', 'kiosk', '', 1, :at, :at, 'k-1'), "
    "('s-2', :event, 'b@example.org', 'B', '', '', '', '', 'kiosk', '', 1, :at, :at, NULL)",
    "INSERT INTO pledge (uuid, event_id, email, kind, amount_cents, name, revision, created_at) "
    "VALUES ('p-1', :event, '', 'once', 1500, '', 1, :at), "
    "('p-2', :event, '', 'once', 2500, '', 1, :at)",
    "INSERT INTO question (uuid, event_id, email, text, answered, revision, created_at) "
    "VALUES ('q-1', :event, '', 'Why?', false, 1, :at)",
]


@pytest.mark.both_engines
def test_the_migration_counts_the_records_already_stored(app):
    from kiosk.schema import downgrade, upgrade

    with app.app_context():
        downgrade(revision="c4a7e2f9b1d3")
        at = datetime(2026, 12, 1, 10, 40)
        with db.engine.begin() as connection:
            connection = connection.execution_options(kiosk_no_generation_bump=True)
            connection.execute(text(OLD_ROWS[0]), {"at": at})
            event_id = connection.execute(text("SELECT id FROM event WHERE uuid = 'e-1'")).scalar()
            for statement in OLD_ROWS[1:]:
                connection.execute(text(statement), {"at": at, "event": event_id})
        upgrade()
        kept = counts.kept(event_id)
        assert kept == counts.recount(event_id)
    assert kept[("tally", "opener", "people")] == 2 and kept[("pledge", None, "cents")] == 4000
    assert kept[("signup", "k-1")] == kept[("signup", None)] == 1


def test_an_opener_tap_bumps_the_charts_generation_and_an_faq_open_bumps_none(app, client):
    tap(client, "people")  # the active event made, and a first tap
    with app.app_context():
        before = page_cache.generations()
        db.session.rollback()
    assert client.post("/faq/what-we-do", headers=HX).status_code == 200
    with app.app_context():
        assert page_cache.generations() == before  # no visitor screen shows FAQ opens
        db.session.rollback()
    tap(client, "famine")
    with app.app_context():
        after = page_cache.generations()
    assert after[page_cache.TALLIES] == before[page_cache.TALLIES] + 1
    assert after[page_cache.SETUP] == before[page_cache.SETUP]
