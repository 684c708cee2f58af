"""Extension singletons, bound to the app in create_app so any module can import them."""

import contextlib
import sqlite3
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from flask_babel import Babel
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

from kiosk import hooks, write_queue

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

if TYPE_CHECKING:
    # db.Model is made at run time from Base, and a type checker cannot take an attribute as
    # a base class (pallets-eco/flask-sqlalchemy#1186): to it, the models extend Base.
    Model = Base
else:
    Model = db.Model
csrf = CSRFProtect()
htmx = Htmx()
babel = Babel()

SQLITE_BUSY_TIMEOUT_MS = 5000


def configure_sqlite(dbapi_connection: object, _record: object) -> None:
    """Open every connection of the kiosk's SQLite database durable and safe for several
    waitress threads (attached to the app's engine only, in init_app)."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a sign-up the visitor was thanked for survives a power cut.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # Erased rows and freed pages are overwritten with zeros, not left readable in the file
    # (some builds default to it, not all); services/backup.py scrubs the WAL after erasure.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def detached_connection(engine: Engine) -> Any:
    """A DBAPI connection of its own, made by `engine`'s pool (so with the kiosk's connection
    settings) and detached from it: kept by the caller, who closes it."""
    pooled = engine.raw_connection()
    pooled.detach()
    return pooled.dbapi_connection


@hooks.for_everyone("ends the request's database session; the fast path opens none")
def end_session(_error: BaseException | None = None) -> None:
    """Return the request's connection, whatever became of the database server meanwhile.

    Runs before Flask-SQLAlchemy's own teardown. When a PostgreSQL server restarted (or was
    killed) under an open transaction, rolling it back fails: the connection is dead and
    there is nothing to roll back. The pool drops that connection; the answer the request
    already has (a thank-you for a committed sign-up) stands instead of becoming a 500.
    """
    try:
        db.session.remove()
    except SQLAlchemyError as error:
        current_app.logger.warning("Dropped a dead database connection: %s", type(error).__name__)
        with contextlib.suppress(SQLAlchemyError):
            db.session.remove()


def init_app(app: Flask) -> None:
    with hooks.registered(app, hooks.FOR_EVERYONE, "Flask-SQLAlchemy ends the session"):
        db.init_app(app)
    app.teardown_appcontext(end_session)
    # CSRFProtect checks POSTs (a kept screen is a GET; a tap the fast path counts has its
    # token checked there, as here: fast_path._csrf_valid) and gives templates csrf_token,
    # which page_cache replaces with a placeholder in a shared render.
    with hooks.registered(
        app, hooks.FOR_EVERYONE, "CSRFProtect: POSTs only (a fast tap's: fast_path), csrf_token"
    ):
        csrf.init_app(app)
    htmx.init_app(app)
    with app.app_context():
        engine = db.engine
    # The engine exists but has not connected yet: these see its first connection.
    event.listen(engine, "connect", configure_sqlite)
    app.extensions["kiosk_write_turn"] = write_queue.install(
        engine, timeout_s=SQLITE_BUSY_TIMEOUT_MS / 1000
    )
