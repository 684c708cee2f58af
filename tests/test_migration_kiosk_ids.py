"""The migration that gives records their kiosk (on each engine: a fresh database taken back
to the revision before, a record made, migrated up and down again)."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select, text

from kiosk import create_app
from kiosk.extensions import db
from kiosk.models import Signup
from kiosk.schema import downgrade, upgrade
from kiosk.services import identity

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines

BEFORE = "d5e8f1a2b3c4"
TABLES = ("signup", "pledge", "question", "press_request", "tally")


def kiosk_columns() -> list[str]:
    inspector = inspect(db.engine)
    return [t for t in TABLES if "kiosk_id" in {c["name"] for c in inspector.get_columns(t)}]


def test_records_made_before_kiosk_ids_have_none_and_new_ones_get_this_kiosks(more_databases):
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "old", "SQLALCHEMY_DATABASE_URI": more_databases()}
    )
    with app.app_context():
        downgrade(revision=BEFORE)
        assert kiosk_columns() == []
        event_id = db.session.execute(
            text(
                "INSERT INTO event (uuid, name, place, goal_cents, rescue_cost_cents, "
                "tracking_source, status, created_at) "
                "VALUES ('e1', 'Fair', '', 1, 1, '', 'active', :now) RETURNING id"
            ),
            {"now": datetime(2026, 11, 1, tzinfo=UTC)},
        ).scalar()
        db.session.execute(
            text(
                "INSERT INTO signup (uuid, event_id, first_name, last_name, email, phone, "
                "organisation, interests, source, created_at, updated_at) VALUES ('old', "
                ":event, 'Ana', '', 'ana@example.org', '', '', '', 'kiosk', :now, :now)"
            ),
            {"event": event_id, "now": datetime(2026, 11, 1, tzinfo=UTC)},
        )
        db.session.commit()

        upgrade()
        assert kiosk_columns() == list(TABLES)
        this_kiosk = identity.kiosk_id()
        db.session.add(Signup(event_id=event_id, first_name="Ben", email="ben@example.org"))
        db.session.commit()
        made = dict(db.session.execute(select(Signup.uuid, Signup.kiosk_id)).all())
        assert made.pop("old") is None  # made before kiosk ids: not recorded
        assert list(made.values()) == [this_kiosk]
        db.session.remove()

        downgrade(revision=BEFORE)
        assert kiosk_columns() == []
        upgrade()
        db.session.remove()
        db.engine.dispose()
