"""The database schema's migrations, with Alembic loaded only when one has to run.

Alembic (with Mako and Pygments under it) is a fifth of `kiosk serve`'s start-up. A kiosk
restarting after a crash, a power cut or a reboot nearly always finds its database at the
newest migration already; this module tells that from the migration files themselves and
loads Alembic only for a database that is behind (or for the commands that need it).

The contract with Alembic (tests/test_schema.py): `head_revision()` is Alembic's own head,
and `upgrade()` registers Flask-Migrate on the app it runs in before calling it.
"""

import functools
import logging.config
import re
from types import ModuleType

from flask import current_app
from sqlalchemy import Connection, inspect, text

from kiosk.extensions import db
from kiosk.paths import MIGRATIONS_DIR

REVISION = re.compile(r"^revision(?:: [^=]+)? = ['\"]([0-9a-zA-Z_]+)['\"]", re.MULTILINE)
DOWN_REVISION = re.compile(r"^down_revision(?:: [^=]+)? = (.+)$", re.MULTILINE)
QUOTED = re.compile(r"['\"]([0-9a-zA-Z_]+)['\"]")


class SchemaError(RuntimeError):
    """The migrations folder has no single newest migration (two heads, or none)."""


@functools.cache
def head_revision() -> str:
    """The newest migration this code has: the one no other migration revises."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        if (found := REVISION.search(source)) is None:
            continue
        revisions.add(found[1])
        if (down := DOWN_REVISION.search(source)) is not None:
            revised.update(QUOTED.findall(down[1]))  # a merge revises two
    heads = revisions - revised
    if len(heads) != 1:
        raise SchemaError(f"the migrations have {len(heads)} newest ones: {sorted(heads)}")
    return heads.pop()


def database_revision(connection: Connection) -> str | None:
    """The migration the database is at; None for a database with no schema yet."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def is_at_head() -> bool:
    with db.engine.connect() as connection:
        return database_revision(connection) == head_revision()


def _flask_migrate() -> ModuleType:
    """Flask-Migrate (and Alembic), registered on the current app the first time."""
    import flask_migrate  # the point of this module: loaded only when a migration runs

    if "migrate" not in current_app.extensions:
        flask_migrate.Migrate(current_app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    return flask_migrate


def upgrade(revision: str = "head") -> None:
    _flask_migrate().upgrade(revision=revision)


def downgrade(revision: str) -> None:
    _flask_migrate().downgrade(revision=revision)


def upgrade_if_behind() -> bool:
    """Migrate a database that is behind this code's newest migration; whether it was."""
    if is_at_head():
        _configure_logging()
        return False
    upgrade()
    return True


def _configure_logging() -> None:
    """What Alembic's env.py does as a migration runs (the commands' log format and levels,
    from alembic.ini): the same output whether or not this start had a migration to run."""
    logging.config.fileConfig(MIGRATIONS_DIR / "alembic.ini", disable_existing_loggers=False)
