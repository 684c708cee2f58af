"""The migration to export marks, tombstones and canonical emails, on a database with data
(on each engine: a fresh database taken back to the revision before, filled, migrated)."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from kiosk import create_app
from kiosk.extensions import db
from kiosk.schema import downgrade, upgrade
from kiosk.services import sealing

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines

BEFORE = "f27cab151a57"


NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)


def opened(value: object) -> object:
    return sealing.clear(value) if isinstance(value, str) else value


@pytest.fixture
def old_kiosk(more_databases):
    """A kiosk whose database is at the schema before export marks, with records in it."""
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "old", "SQLALCHEMY_DATABASE_URI": more_databases()}
    )
    with app.app_context():
        downgrade(revision=BEFORE)
        insert_event = text(
            "INSERT INTO event (uuid, name, place, goal_cents, rescue_cost_cents, "
            "tracking_source, status, created_at, erased_at) "
            "VALUES (:uuid, :name, '', 1, 1, '', :status, :created, :erased)"
        )
        for uuid, name, status, erased in [
            ("e1", "Fair", "active", NOV_1),
            ("e2", "Other", "planned", None),
        ]:
            db.session.execute(
                insert_event,
                {"uuid": uuid, "name": name, "status": status, "created": NOV_1, "erased": erased},
            )
        insert_signup = text(
            "INSERT INTO signup (uuid, event_id, first_name, last_name, email, phone, "
            "organisation, interests, source, created_at, updated_at) "
            "VALUES (:uuid, :event, :first, '', :email, :phone, '', :interests, 'kiosk', "
            ":created, :created)"
        )
        for uuid, event, first, email, phone, interests in [
            ("s1", 2, "Jürgen", "jürgen@bücher.de", "", "events"),
            ("s2", 2, "", "Jürgen@xn--bcher-kva.de", "555 0101", "team,events"),
            ("s3", 2, "Ana", "ANA@example.org", "", ""),
            ("s4", 1, "Jürgen", "JU\u0308RGEN@bücher.de", "", ""),
        ]:
            db.session.execute(
                insert_signup,
                {
                    "uuid": uuid,
                    "event": event,
                    "first": first,
                    "email": email,
                    "phone": phone,
                    "interests": interests,
                    "created": NOV_1,
                },
            )
        db.session.execute(
            text(
                "INSERT INTO question (uuid, event_id, text, email, answered, created_at) "
                "VALUES ('q1', 2, 'Why?', ' Ana@EXAMPLE.org', :no, :created)"
            ),
            {"no": False, "created": NOV_1},
        )
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


def rows(sql: str) -> list[tuple]:
    """The rows of `sql`, sealed values opened with the test's key (the upgrade seals them)."""
    found = [tuple(map(opened, row)) for row in db.session.execute(text(sql))]
    # End the read: on PostgreSQL the migration's ALTER TABLE (another connection) waits
    # for every open transaction that touched the table.
    db.session.rollback()
    return found


def test_the_migration_makes_emails_canonical_and_merges_one_person_at_one_event(old_kiosk):
    with old_kiosk.app_context():
        upgrade()
        assert rows("SELECT uuid, email, first_name, phone, interests FROM signup ORDER BY id") == [
            ("s1", "jürgen@bücher.de", "Jürgen", "555 0101", "events,team"),
            ("s3", "ana@example.org", "Ana", "", ""),
            ("s4", "jürgen@bücher.de", "Jürgen", "", ""),
        ]
        assert rows("SELECT email FROM question") == [("ana@example.org",)]


def test_the_migration_starts_every_record_unexported_and_gives_each_event_its_own_key(
    old_kiosk,
):
    with old_kiosk.app_context():
        upgrade()
        assert set(rows("SELECT revision, exported_revision, mailchimp_revision FROM signup")) == {
            (1, None, None)
        }
        keys = [key for (key,) in rows("SELECT erasure_key FROM event")]
        assert len(keys) == 2 and len(set(keys)) == 2
        assert all(len(key) == 64 and int(key, 16) >= 0 for key in keys)
        assert rows("SELECT count(*) FROM tombstone") == [(0,)]


def test_the_migration_closes_an_event_erased_while_active(old_kiosk):
    with old_kiosk.app_context():
        upgrade()
        assert rows("SELECT uuid, status FROM event ORDER BY id") == [
            ("e1", "closed"),
            ("e2", "planned"),
        ]


def test_the_migration_goes_down_and_up_again_without_losing_a_record(old_kiosk):
    with old_kiosk.app_context():
        upgrade()
        downgrade(revision=BEFORE)
        assert rows("SELECT count(*) FROM signup") == [(3,)]
        upgrade()
        assert rows("SELECT count(*) FROM signup") == [(3,)]
        assert rows("SELECT version_num FROM alembic_version")[0][0] != BEFORE
