"""Extension singletons, bound to the app in create_app so any module can import them."""

import sqlite3

from flask import Flask
from flask_babel import Babel
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase

from kiosk import i18n
from kiosk.paths import MIGRATIONS_DIR
from kiosk.write_queue import may_write, queue_writers

# Named constraints let migrations alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(directory=str(MIGRATIONS_DIR), render_as_batch=True)
csrf = CSRFProtect()
htmx = Htmx()
babel = Babel()

SQLITE_BUSY_TIMEOUT_MS = 5000


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection: object, _record: object) -> None:
    """Open every SQLite connection durable and safe for several waitress threads."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a sign-up the visitor was thanked for survives a power cut.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin(connection: Connection) -> None:
    """Begin a request that may write IMMEDIATE: take SQLite's write lock at the start.

    A deferred transaction that reads, then writes, fails at once with "database is locked"
    when another writer got in between (the busy timeout cannot help it); one that begins
    IMMEDIATE waits its turn for up to the busy timeout instead. Everything else (GET
    requests, which never write, the CLI, tests) keeps pysqlite's own way: reads outside a
    transaction, BEGIN before the first write; so a slow export download never holds up a
    sign-up. PostgreSQL is untouched.
    """
    if connection.dialect.name != "sqlite":
        return
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return  # asked for no transaction (the start-up checks): take no lock
    if may_write():
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def select_locale() -> str:
    return i18n.current_locale()


def init_app(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    with app.app_context():
        turn = queue_writers(db.engine, timeout_s=SQLITE_BUSY_TIMEOUT_MS / 1000)
    app.extensions["kiosk_write_turn"] = turn
