"""GET /healthz answers JSON with the database's state, and notices what would lose sign-ups:
a deleted or replaced database file, a read-only database, a secret key file gone bad."""

import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event, text

from kiosk import create_app
from kiosk.extensions import db
from kiosk.schema import upgrade
from tests.postgres import Cluster, find_bindir

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


def test_healthz_reports_a_readable_database(client, dialect):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["database"]["dialect"] == dialect
    assert body["database"]["revision"]


def test_healthz_answers_503_when_the_database_is_broken(app, client):
    with app.app_context():
        db.session.execute(text("DROP TABLE alembic_version"))
        db.session.commit()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"]["ok"] is False


# ---- Honest health: the database file, a read-only database, the secret key ----------------


def signup_form(email: str) -> dict:
    return {"first_name": "Min", "email": email, "consent": "y"}


def database_path(app) -> Path:
    with app.app_context():
        return Path(db.engine.url.database)


@pytest.mark.sqlite_only
def test_a_deleted_database_file_is_noticed_and_no_signup_is_thanked_into_it(app, client):
    assert client.post("/signup", data=signup_form("before@example.org")).status_code == 303
    path = database_path(app)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    health = client.get("/healthz")
    assert health.status_code == 503
    assert "deleted" in health.get_json()["database"]["file_error"]
    response = client.post("/signup", data=signup_form("lost@example.org"))
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "Please tell a volunteer" in page and "deleted" in page
    assert "Thank you" not in page


@pytest.mark.sqlite_only
def test_a_database_file_replaced_under_the_running_kiosk_is_noticed(app, client):
    path = database_path(app)
    copy = path.with_name("copy.db")
    with app.app_context():
        db.engine.dispose()
    with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    os.replace(copy, path)
    health = client.get("/healthz")
    assert health.status_code == 503
    assert "replaced" in health.get_json()["database"]["file_error"]
    assert client.post("/opener", data={"choice": "people"}).status_code == 503


@pytest.mark.sqlite_only
def test_a_database_folder_link_pointed_at_another_file_is_noticed(app, tmp_path):
    """The file is checked through the configured path, links followed at each check."""
    path = database_path(app)
    link, elsewhere = tmp_path / "link", tmp_path / "elsewhere"
    link.symlink_to(path.parent, target_is_directory=True)
    keep = ("TESTING", "SECRET_KEY", "WTF_CSRF_ENABLED")
    linked = create_app(
        {key: app.config[key] for key in keep}
        | {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{link / path.name}"}
    )
    client = linked.test_client()
    assert client.post("/opener", data={"choice": "people"}).status_code in (200, 303)
    elsewhere.mkdir()
    with sqlite3.connect(path) as source, sqlite3.connect(elsewhere / path.name) as target:
        source.backup(target)
    link.unlink()
    link.symlink_to(elsewhere, target_is_directory=True)
    assert client.post("/opener", data={"choice": "people"}).status_code == 503
    with linked.app_context():
        db.engine.dispose()


@pytest.mark.sqlite_only
def test_healthz_notices_a_read_only_database_before_any_write_fails(client, read_only_database):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "read-only" in response.get_json()["database"]["write_error"]["cause"]


@pytest.mark.sqlite_only
def test_kiosk_serve_refuses_a_read_only_database(runner, read_only_database, monkeypatch):
    monkeypatch.setattr("waitress.serve", lambda app, **kw: pytest.fail("served"))
    result = runner.invoke(args=["serve", "--port", "8119"])
    assert result.exit_code == 1
    assert "REFUSING TO START" in result.output and "read-only" in result.output


def test_healthz_names_the_secret_key_it_runs_with(client):
    body = client.get("/healthz").get_json()
    assert body["secret_key"] == {"ok": True}


def test_healthz_notices_a_key_file_emptied_under_the_running_kiosk(app, client):
    key_file = Path(app.instance_path) / "secret_key"
    app.config["KIOSK_SECRET_KEY_FILE"] = str(key_file)
    key_file.write_text("")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "empty" in response.get_json()["secret_key"]["error"]


@pytest.mark.sqlite_only
def test_kiosk_serve_logs_a_deleted_database_file_while_it_runs(app, caplog):
    import logging
    import time

    from kiosk.health import watch_database_file

    stop = watch_database_file(app, interval=0.05)
    try:
        with caplog.at_level(logging.ERROR, logger=app.logger.name):
            database_path(app).unlink()
            deadline = time.monotonic() + 5
            while "DATABASE FILE PROBLEM" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        stop.set()
    assert "DATABASE FILE PROBLEM" in caplog.text and "deleted" in caplog.text


def test_healthz_speaks_of_each_engine_in_its_own_terms(client, dialect):
    database = client.get("/healthz").get_json()["database"]
    assert database["at_head"] is True and database["revision"] == database["head"]
    if dialect == "postgresql":
        assert database["server_version"][:2].isdigit()
        assert database["writable"] is True
        assert database["encrypted"] is False and database["host"].startswith("/")  # a socket
        assert "file" not in database
    else:
        assert database["file"].endswith("kiosk.db")
        assert "server_version" not in database


def test_healthz_names_a_schema_behind_this_kiosks_migrations(app, client):
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = 'f27cab151a57'"))
        db.session.commit()
    response = client.get("/healthz")
    assert response.status_code == 503
    database = response.get_json()["database"]
    assert database["at_head"] is False and "this kiosk needs" in database["error"]


@pytest.mark.postgresql_only
def test_healthz_says_when_the_postgresql_server_accepts_no_writes(app, client, dialect):
    def read_only(dbapi_connection, _record):
        dbapi_connection.execute("SET default_transaction_read_only = on")
        dbapi_connection.commit()

    with app.app_context():
        engine = db.engine
        engine.dispose()
    event.listen(engine, "connect", read_only)
    try:
        response = client.get("/healthz")
    finally:
        event.remove(engine, "connect", read_only)
        engine.dispose()
    assert response.status_code == 503
    database = response.get_json()["database"]
    assert database["writable"] is False and "read-only" in database["error"]
    assert "SQLite" not in response.get_data(as_text=True)


# ---- A database failure latched by a request is probed again, not kept forever ------------


@pytest.mark.sqlite_only
def test_healthz_clears_a_lost_database_once_it_answers_without_any_write(app, client):
    """SQLite, the failure simulated: a write fails as when the file cannot be opened; the
    next health check probes, finds the database answering and says ok, though nothing
    was written in between."""

    def refuse(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT"):
            raise sqlite3.OperationalError("unable to open database file")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", refuse)
    try:
        assert client.post("/opener", data={"choice": "people"}).status_code == 503
    finally:
        event.remove(engine, "before_cursor_execute", refuse)
    health = client.get("/healthz")
    assert health.status_code == 200, health.get_json()
    assert "write_error" not in health.get_json()["database"]


@pytest.mark.postgresql_only
def test_a_hub_whose_postgresql_was_stopped_is_healthy_again_when_it_is_started(
    dialect, tmp_path, monkeypatch
):
    """A real PostgreSQL stopped under the kiosk, then started again: with no visitor
    traffic in between, /healthz answers 200 again by itself (behind a proxy's health
    checks, nothing else would ever reach the hub)."""
    cluster = Cluster(find_bindir())
    try:
        cluster.start()
        url = cluster.url(cluster.create_database())
        monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
        config = {"TESTING": True, "SECRET_KEY": "test-secret", "WTF_CSRF_ENABLED": False}
        app = create_app(config | {"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            upgrade()
        client = app.test_client()
        assert client.post("/opener", data={"choice": "people"}).status_code in (200, 303)
        assert client.get("/healthz").status_code == 200
        cluster._run("pg_ctl", "stop", "-D", str(cluster.data), "-m", "fast", "-w")
        assert client.post("/opener", data={"choice": "famine"}).status_code == 503
        assert client.get("/healthz").status_code == 503
        cluster.start_server()
        health = client.get("/healthz")
        assert health.status_code == 200, health.get_json()
        assert health.get_json()["status"] == "ok"
        with app.app_context():
            db.engine.dispose()
    finally:
        cluster.stop()
