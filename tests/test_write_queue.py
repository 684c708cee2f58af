"""Writing requests take turns on a lock in the process; reads and commands never queue."""

import threading
import time

import pytest
from flask import Flask
from sqlalchemy import text

from kiosk.extensions import db
from kiosk.write_queue import Turn

# The write queue exists for SQLite's single writer; PostgreSQL has none.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def turn(app: Flask) -> Turn:
    lock = app.extensions["kiosk_write_turn"]
    assert lock is not None
    return lock


def test_a_post_requests_transaction_holds_the_turn_until_it_commits(app, turn) -> None:
    with app.test_request_context("/signup", method="POST"):
        db.session.execute(text("SELECT 1"))
        assert turn.locked()
        db.session.commit()
        assert not turn.locked()


def test_a_rolled_back_transaction_gives_the_turn_back(app, turn) -> None:
    with app.test_request_context("/signup", method="POST"):
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        assert not turn.locked()


def test_get_requests_and_commands_never_take_the_turn(app, turn) -> None:
    with app.test_request_context("/", method="GET"):
        db.session.execute(text("SELECT 1"))
        assert not turn.locked()
        db.session.rollback()
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        assert not turn.locked()
        db.session.rollback()


def test_a_served_tap_leaves_the_turn_free(app, client, turn) -> None:
    response = client.post("/opener", data={"choice": "people"})

    assert response.status_code == 303
    assert not turn.locked()


def test_a_second_writer_waits_until_the_first_has_committed(app, turn) -> None:
    order: list[str] = []
    second_started = threading.Event()

    def second_writer() -> None:
        with app.test_request_context("/signup", method="POST"):
            second_started.set()
            db.session.execute(text("SELECT 1"))
            order.append("second began")
            db.session.commit()

    with app.test_request_context("/signup", method="POST"):
        db.session.execute(text("SELECT 1"))
        thread = threading.Thread(target=second_writer)
        thread.start()
        second_started.wait(timeout=5)
        # Time for the second writer to get in, were it not made to wait its turn.
        time.sleep(0.2)
        order.append("first commits")
        db.session.commit()
    thread.join(timeout=10)

    assert order == ["first commits", "second began"]


def _wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_writer_that_writes_again_at_once_queues_behind_the_writer_waiting(turn) -> None:
    """Issue 25: an import commits and begins its next transaction at once. A plain lock
    stayed with it (a woken waiter loses the race on a busy CPU) until visitors timed out;
    the turn goes to whoever asked first."""
    order: list[str] = []

    def visitor() -> None:
        assert turn.acquire(timeout=10)
        order.append("visitor")
        turn.release()

    assert turn.acquire(timeout=1)  # the import's transaction
    thread = threading.Thread(target=visitor)
    thread.start()
    _wait_until(lambda: turn.waiting() == 1)
    turn.release()  # committed...
    assert turn.acquire(timeout=10)  # ...and at once the next transaction
    order.append("import")
    turn.release()
    thread.join(timeout=10)

    assert order == ["visitor", "import"]
    assert not turn.locked()


def test_a_writer_that_gives_up_waiting_leaves_the_line(turn) -> None:
    assert turn.acquire(timeout=1)
    assert not turn.acquire(timeout=0.05)
    assert turn.waiting() == 0
    turn.release()
    assert not turn.locked(), "not handed to the writer who left"


# ---- The policy belongs to the app's engine; a POST that only reads takes no turn ----------


def test_the_write_policy_stays_on_the_apps_own_engine(app, turn, tmp_path) -> None:
    from sqlalchemy import create_engine

    other = create_engine(f"sqlite:///{tmp_path / 'someone-elses.db'}")
    try:
        with app.test_request_context("/signup", method="POST"), other.connect() as connection:
            # The kiosk's pragmas are not forced on a database that is not the kiosk's...
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
            # ...nor BEGIN IMMEDIATE, nor the kiosk's turn, on its transactions.
            assert not connection.connection.dbapi_connection.in_transaction
            assert not turn.locked()
    finally:
        other.dispose()


def test_the_export_is_a_post_that_reads_without_taking_the_turn(app, turn) -> None:
    from kiosk.write_queue import separate_write

    with app.test_request_context("/lead/export", method="POST"):
        db.session.execute(text("SELECT 1"))
        assert not turn.locked()
        assert not db.session.connection().connection.dbapi_connection.in_transaction
        # Its bookkeeping (the audit entry, the export mark) is a short write of its own.
        with separate_write(db.session):
            db.session.execute(text("SELECT 1"))
            assert turn.locked()
            assert db.session.connection().connection.dbapi_connection.in_transaction
        assert not turn.locked()


def test_every_view_marked_as_reading_only_is_a_post_that_writes_nothing(app) -> None:
    """The marker is explicit: today the lead's export and the visitor's email hint carry it."""
    from kiosk.write_queue import reads_only_view

    marked = {endpoint for endpoint, view in app.view_functions.items() if reads_only_view(view)}
    assert marked == {"lead.export", "visitor.email_hint"}


# Alone a tap takes a few ms; during the export it shares the GIL with the CSV writer (tens of
# ms). While the export held the write lock, the tap waited for all of it (1.2 s of 1.2 s).
# The bound is a share of the export's own time, so a slow machine slows both alike.
TAP_SHARE_OF_EXPORT = 0.25
EXPORT_SIGNUPS = 10_000


def _insert_signups(app, count: int) -> int:
    """`count` sign-ups of the active event, inserted in bulk with Core (seconds, not minutes)."""
    import uuid

    from sqlalchemy import insert

    from kiosk.models import Signup, utcnow
    from kiosk.services import events

    with app.app_context():
        event_id = events.active_event().id
        now = utcnow()
        rows = [
            {
                "uuid": str(uuid.uuid4()),
                "event_id": event_id,
                "first_name": f"Visitor {n}",
                "last_name": "Kim",
                "email": f"visitor{n}@example.org",
                "interests": "events",
                "consent_version": "v1",
                "consent_text": "You may email me.",
                "consent_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(count)
        ]
        db.session.execute(insert(Signup), rows)
        db.session.commit()
        return event_id


def _timed_tap(app) -> float:
    started = time.perf_counter()
    response = app.test_client().post("/opener", data={"choice": "people"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 303
    return elapsed


def test_an_opener_tap_is_not_held_up_by_a_large_export(app, figure) -> None:
    """Measured, not slept: the tap starts once the export is reading its sign-ups and must
    finish within a small share of the export's time, while the export is still at work."""
    from sqlalchemy import event as sa_event

    from tests.lead_helpers import log_in, set_passphrase

    event_id = _insert_signups(app, EXPORT_SIGNUPS)
    set_passphrase(app)
    lead = app.test_client()
    assert log_in(lead).status_code == 303
    alone = min(_timed_tap(app) for _ in range(3))
    finished: dict[str, float] = {}

    def export() -> None:
        response = lead.post("/lead/export", data={"event": event_id, "format": "csv"})
        response.get_data()  # the file is read as it is sent
        finished["export"] = time.perf_counter()
        finished["status"] = response.status_code

    worker = threading.Thread(target=export)
    reading = threading.Event()

    def notice_the_export_reading(_conn, _cursor, statement, *_args) -> None:
        if threading.current_thread() is worker and "FROM signup" in statement:
            reading.set()

    with app.app_context():
        engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", notice_the_export_reading)
    try:
        started = time.perf_counter()
        worker.start()
        assert reading.wait(timeout=60), "the export never read its sign-ups"
        tap = _timed_tap(app)
        tapped_at = time.perf_counter()
        worker.join(timeout=120)
    finally:
        sa_event.remove(engine, "before_cursor_execute", notice_the_export_reading)
    assert finished["status"] == 200
    export_s = finished["export"] - started
    figure(
        f"export test: a tap takes {alone * 1000:.0f} ms alone, {tap * 1000:.0f} ms while "
        f"{EXPORT_SIGNUPS} sign-ups export ({export_s:.1f} s)"
    )
    assert tap < TAP_SHARE_OF_EXPORT * export_s, (
        f"a tap took {tap:.3f} s of a {export_s:.1f} s export"
    )
    # The tap overlapped the export: it finished while the export was still running.
    assert tapped_at < finished["export"]
