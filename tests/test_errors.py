"""Errors: a full disk or read-only database, a too-large request, a bug. The visitor gets a
calm screen, the volunteer a clear cause, nothing stored is lost, no traceback is shown."""

import logging
import sqlite3

import psycopg
import pytest
from sqlalchemy import event, func, select

from kiosk.extensions import db
from kiosk.models import Tally
from tests.helpers import HX, database_snapshot

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


@pytest.fixture
def app_log(app):
    """What the app logs, caught on its own logger (migrations reset the root's handlers)."""

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.INFO)
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(record.getMessage())

    handler = Keep()
    app.logger.addHandler(handler)
    yield handler.lines
    app.logger.removeHandler(handler)


def tally_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Tally))


def disk_full_error(dialect: str) -> Exception:
    """What the engine's driver raises when the disk is full, with the engine's own words."""
    if dialect == "sqlite":
        return sqlite3.OperationalError("database or disk is full")
    return psycopg.errors.DiskFull(
        'could not extend file "base/16384/16390": No space left on device'
    )


@pytest.fixture
def full_disk(app, dialect):
    """Every INSERT fails as the engine does when the disk is full; call the value to free
    space."""

    def refuse(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT"):
            raise disk_full_error(dialect)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", refuse)

    def free_space() -> None:
        if event.contains(engine, "before_cursor_execute", refuse):
            event.remove(engine, "before_cursor_execute", refuse)

    yield free_space
    free_space()


# What the volunteer reads for each fault, in the engine's own terms: a PostgreSQL server
# has no database file, and a SQLite kiosk no server.
CAUSES = {
    ("full_disk", "sqlite"): "The disk is full",
    ("full_disk", "postgresql"): "The PostgreSQL server is out of disk space",
    ("read_only_database", "sqlite"): "The database file is read-only",
    ("read_only_database", "postgresql"): "The PostgreSQL server accepts no writes",
}


@pytest.mark.parametrize("fault", ["full_disk", "read_only_database"])
def test_a_failing_write_gives_a_calm_screen_a_clear_cause_and_loses_nothing(
    app, client, request, app_log, fault, dialect
):
    cause = CAUSES[(fault, dialect)]
    client.post("/opener", data={"choice": "people"})
    client.post("/opener", data={"choice": "famine"})
    stored = database_snapshot(app)
    request.getfixturevalue(fault)
    response = client.post("/opener", data={"choice": "people"})
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "Please tell a volunteer" in page and cause in page
    assert "Traceback" not in page and "INSERT" not in page
    if dialect == "postgresql":
        assert "file" not in cause
    logged = "\n".join(app_log)
    assert cause in logged and "INSERT" not in logged
    health = client.get("/healthz")
    assert health.status_code == 503
    assert cause in health.get_json()["database"]["write_error"]["cause"]
    assert database_snapshot(app) == stored


def test_an_htmx_tap_during_a_full_disk_swaps_the_calm_screen_into_the_page(client, full_disk):
    response = client.post("/opener", data={"choice": "people"}, headers=HX)
    assert response.status_code == 503
    assert "<html" not in response.get_data(as_text=True)
    assert response.headers["HX-Retarget"] == "#main"


def test_the_kiosk_recovers_once_the_disk_has_room_again(app, client, full_disk):
    assert client.post("/opener", data={"choice": "people"}).status_code == 503
    full_disk()
    assert client.post("/opener", data={"choice": "people"}).status_code == 303
    assert tally_count(app) == 1
    assert client.get("/healthz").status_code == 200


def test_a_request_body_over_the_limit_gets_a_friendly_413_and_stores_nothing(app, client):
    before = database_snapshot(app)
    big = {"choice": "people", "padding": "x" * (70 * 1024)}
    response = client.post("/opener", data=big)
    assert response.status_code == 413
    assert "That is more than we can take" in response.get_data(as_text=True)
    fragment = client.post("/opener", data=big, headers=HX)
    assert fragment.status_code == 413 and "<html" not in fragment.get_data(as_text=True)
    assert database_snapshot(app) == before


@pytest.fixture
def broken_route(app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    return "/boom"


def test_a_bug_shows_a_plain_page_never_a_traceback(client, broken_route):
    response = client.get(broken_route)
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong" in page
    assert "Traceback" not in page and "secret internals" not in page


def test_kiosk_serve_never_runs_debug_whatever_the_environment_says(
    app, runner, broken_route, monkeypatch
):
    served = {}
    monkeypatch.setattr("waitress.serve", lambda app, **kw: served.update(app=app))
    monkeypatch.setenv("FLASK_DEBUG", "1")  # the CLI turns debug on from this
    app.config["PROPAGATE_EXCEPTIONS"] = True
    result = runner.invoke(args=["serve", "--port", "8119"])
    assert result.exit_code == 0, result.output
    assert served["app"] is app and app.debug is False
    response = app.test_client().get(broken_route)
    assert response.status_code == 500
    assert "Traceback" not in response.get_data(as_text=True)


def test_database_failures_are_still_logged_after_the_migrations_ran(app, client, app_log, dialect):
    from kiosk.schema import upgrade

    with app.app_context():
        upgrade()  # what `kiosk serve` does first; alembic configures logging
    assert app.logger.disabled is False

    def refuse(*args):
        raise disk_full_error(dialect)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", refuse)
    try:
        client.post("/opener", data={"choice": "people"})
    finally:
        event.remove(engine, "before_cursor_execute", refuse)
    assert any("disk" in line for line in app_log)


def test_what_the_visitor_typed_survives_a_full_disk_and_can_be_sent_again(app, client, full_disk):
    typed = {"first_name": "Ana", "email": "ana@example.org", "consent": "y"}
    response = client.post("/signup", data=typed, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert 'name="email" value="ana@example.org"' in page and "Send it again" in page
    full_disk()
    assert client.post("/signup", data=typed).status_code == 303


@pytest.fixture
def conflicting_route(app):
    """A write that meets another request's row: what a benign conflict would look like."""
    from sqlalchemy.exc import IntegrityError

    @app.post("/clash")
    def clash():
        raise IntegrityError("INSERT ...", {}, Exception("duplicate key value"))

    return "/clash"


def test_a_conflict_between_two_requests_never_marks_healthz_failing(client, conflicting_route):
    client.post(conflicting_route)
    assert client.get("/healthz").status_code == 200


def test_a_postgresql_server_out_of_reach_is_said_in_its_own_words():
    from sqlalchemy.exc import OperationalError

    from kiosk.services.database_health import database_cause

    refused = psycopg.OperationalError(
        'connection to server at "10.0.0.5", port 5432 failed: Connection refused'
    )
    cause = database_cause(OperationalError("SELECT 1", {}, refused))
    assert "cannot reach the PostgreSQL server" in cause
    missing = psycopg.errors.UndefinedTable('relation "signup" does not exist')
    assert "no kiosk tables yet" in database_cause(OperationalError("SELECT", {}, missing))
