"""Migrations on each engine: down to nothing and up to head again, and the models match the
migrated schema (alembic's autogenerate finds nothing to do)."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from kiosk.extensions import db
from kiosk.schema import downgrade, upgrade
from kiosk.services import sealing

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


def schema_differences() -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def table_names() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_the_models_match_the_migrated_schema(app):
    with app.app_context():
        assert schema_differences() == []


def test_migrations_go_down_to_nothing_and_up_to_head_again(app):
    with app.app_context():
        db.session.remove()
        downgrade(revision="base")
        assert table_names() <= {"alembic_version"}
        upgrade()
        assert table_names() >= {table.name for table in db.metadata.sorted_tables}
        assert schema_differences() == []


def test_the_one_sign_up_per_person_index_first_merges_people_stored_twice(app):
    """A live database may hold one person twice (two tablets at once, before the index):
    the migrations merge them into the earliest row (their emails in the canonical form,
    later details filling in, interests adding up), then index."""
    rows = [
        ("Ana", "", "", "events", "2026-11-20 10:00:00", "Ana@Example.org"),
        ("Ana", "Kim", "", "fundraising", "2026-11-20 10:05:00", "ana@example.org"),
        ("Ana-Sofia", "", "555 0101", "events,jobs", "2026-11-20 10:09:00", "ana@example.org"),
        ("Ben", "", "", "", "2026-11-20 10:01:00", "ben@example.org"),
    ]
    with app.app_context():
        db.session.remove()
        downgrade(revision="f27cab151a57")
        with db.engine.begin() as connection:
            event_id = connection.execute(text("SELECT min(id) FROM event")).scalar()
            for n, (first, last, phone, interests, moment, email) in enumerate(rows):
                connection.execute(
                    text(
                        "INSERT INTO signup (uuid, event_id, first_name, last_name, email, phone,"
                        " organisation, interests, source, consent_version, consent_text,"
                        " consent_at, created_at, updated_at) VALUES (:uuid, :event, :first,"
                        " :last, :email, :phone, '', :interests, 'kiosk', :version, 'ok',"
                        " :moment, :moment, :moment)"
                    ),
                    {
                        "uuid": f"00000000-0000-4000-8000-00000000000{n}",
                        "event": event_id,
                        "first": first,
                        "last": last,
                        "email": email,
                        "phone": phone,
                        "interests": interests,
                        "version": f"v{n}",
                        "moment": moment,
                    },
                )
        upgrade()
        assert schema_differences() == []
        stored = db.session.execute(
            text(
                "SELECT uuid, first_name, last_name, phone, interests, email, consent_version"
                " FROM signup ORDER BY id"
            )
        ).all()
        # The latest migration seals them: opened with the test's own key.
        stored = [tuple(sealing.clear(v) if isinstance(v, str) else v for v in r) for r in stored]
    assert [tuple(row) for row in stored] == [
        (
            "00000000-0000-4000-8000-000000000000",  # the earliest row stays
            "Ana-Sofia",
            "Kim",
            "555 0101",
            "events,fundraising,jobs",
            "ana@example.org",
            # The canonical-email migration before the index merges them and keeps the
            # consent the person first gave (all three gave one).
            "v0",
        ),
        ("00000000-0000-4000-8000-000000000003", "Ben", "", "", "", "ben@example.org", "v3"),
    ]
