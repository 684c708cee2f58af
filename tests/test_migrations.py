"""Migrations on each engine: down to nothing and up to head again, and the models match the
migrated schema (alembic's autogenerate finds nothing to do)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from kiosk.extensions import db


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
