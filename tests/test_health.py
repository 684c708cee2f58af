"""GET /healthz answers JSON with the database's state."""

import pytest
from sqlalchemy import event, text

from kiosk.extensions import db


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
