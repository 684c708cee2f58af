"""GET /healthz answers JSON with the database's state."""

from sqlalchemy import text

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
