"""Check-then-act that holds with several server processes: the database decides, not us.

A hub runs several server processes on one PostgreSQL database, so no lock or check held in
this process can keep two requests apart. Three tools, the same on both engines:

- `insert_new(model, values)`: INSERT ... ON CONFLICT DO NOTHING RETURNING the new id. The row
  is stored unless a unique constraint already holds one like it; then None. PostgreSQL waits
  for a conflicting row another transaction has not committed yet, so None means "there is
  one, committed": a fresh SELECT finds it. `insert_new_many` does the same for many rows in
  one statement (an import's chunk).
- `serialise(name)`: the rest of this transaction runs alone among the transactions that
  serialise on the same name, in every process. PostgreSQL: `pg_advisory_xact_lock`, released
  at commit or rollback. SQLite: the database's one write lock, taken at once (a request that
  may write already holds it: kiosk/extensions.py begins it IMMEDIATE).
- `held_lock(name)`: a lock across several transactions (migrations at start-up, the daily
  retention purge) on a connection of its own; with `wait=False` it says at once whether it
  got the lock, so a second process skips what the first is doing.
"""

import functools
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, func, select
from sqlalchemy.dialects import postgresql, sqlite

from kiosk.extensions import Model, db
from kiosk.write_queue import WRITES_NOTHING


def lock_key(name: str) -> int:
    """A stable signed 64-bit number for `name`: PostgreSQL's advisory locks take bigints."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def dialect_name() -> str:
    return db.session.get_bind().dialect.name


def dialect_insert(name: str) -> Any:
    """The INSERT of engine `name`: both say ON CONFLICT the same way."""
    return postgresql.insert if name == "postgresql" else sqlite.insert


@functools.cache
def insert_new_statement(
    model: type[Model], dialect: str, returning: tuple[str, ...] | None = None
) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the primary key (or the columns named in
    `returning`), for engine `dialect`; the rows go as the parameters of each execution.
    Built once per model, engine and columns: building it (some twenty columns coerced, a
    cache key made) cost more than running it."""
    insert = dialect_insert(dialect)(model)
    if returning is None:
        return insert.on_conflict_do_nothing().returning(model.__mapper__.primary_key[0])
    columns = model.__table__.c
    return insert.on_conflict_do_nothing().returning(*(columns[name] for name in returning))


def insert_new(model: type[Model], values: dict[str, Any]) -> Any | None:
    """Insert a row of `model` unless a unique constraint already holds one like it.

    Returns the new row's primary key, or None when nothing was inserted. Column defaults
    (uuid, created_at) are filled in as for any insert. Commits nothing.
    """
    statement = insert_new_statement(model, dialect_name())
    return db.session.execute(statement, values).scalar()


@functools.cache
def insert_new_record_statement(model: type[Model], dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the whole row as a `model` (the ORM's
    INSERT with RETURNING of the entity), for engine `dialect`; built once."""
    statement = dialect_insert(dialect)(model).on_conflict_do_nothing().returning(model)
    # A row id the session still holds from a row deleted meanwhile is this new row now.
    return statement.execution_options(populate_existing=True)


def insert_new_record(model: type[Model], values: dict[str, Any]) -> Any | None:
    """`insert_new`, returning the stored row as a `model` in the session (every column as
    stored, defaults included) instead of its key: no read after the insert. None when
    nothing was inserted. Commits nothing."""
    statement = insert_new_record_statement(model, dialect_name())
    return db.session.scalars(statement, [values]).first()


def insert_new_many(model: type[Model], rows: list[dict[str, Any]]) -> set[str]:
    """`insert_new` for many rows of `model` in one statement; returns the UUIDs stored.

    A row that a unique constraint already holds one like (its UUID, or the same person at
    the event) is left out, as by insert_new: the caller deals with those one by one.
    Commits nothing.
    """
    if not rows:
        return set()
    insert = dialect_insert(dialect_name())
    table = model.__table__
    # One statement compiled once (cached), sent as SQLAlchemy's "insertmanyvalues": a few
    # multi-row INSERTs, each returning the UUIDs it stored.
    statement = insert(table).on_conflict_do_nothing().returning(table.c.uuid)
    return set(db.session.execute(statement, rows).scalars())


def upsert(model: type[Model], values: dict[str, Any], *, update: tuple[str, ...]) -> None:
    """Insert a row of `model`, or update the columns `update` of the row its primary key
    already names: one INSERT ... ON CONFLICT DO UPDATE, so two processes writing the same
    key at once both succeed (the last one's value stays). Commits nothing."""
    statement = dialect_insert(dialect_name())(model).values(**values)
    keys = [column.name for column in model.__mapper__.primary_key]
    changes = {name: statement.excluded[name] for name in update}
    db.session.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))


def serialise(name: str) -> None:
    """Make the rest of this transaction run alone among those serialised on `name`."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(lock_key(name))))
    elif connection.dialect.name == "sqlite":
        raw = connection.connection.driver_connection
        if not raw.in_transaction:  # type: ignore[union-attr]  # pysqlite's sqlite3.Connection, never None
            # Outside a request (a command, a test): take the write lock now, not at the
            # first write, so what this transaction reads next is still true when it writes.
            connection.exec_driver_sql("BEGIN IMMEDIATE", execution_options=WRITES_NOTHING)


@contextmanager
def held_lock(name: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold `name` across transactions on a connection of its own; yields whether it got it.

    SQLite has one kiosk process and its own file lock: nothing to hold, always True.
    """
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    key = lock_key(name)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if wait:
            connection.execute(select(func.pg_advisory_lock(key)))
            got = True
        else:
            got = bool(connection.execute(select(func.pg_try_advisory_lock(key))).scalar())
        try:
            yield got
        finally:
            if got:
                connection.execute(select(func.pg_advisory_unlock(key)))


def changed_rows(statement: Executable) -> int:
    """Run an UPDATE or DELETE in the session; how many rows it changed."""
    # Session.execute is typed to return a Result; a DML statement's is a CursorResult.
    return cast(CursorResult[Any], db.session.execute(statement)).rowcount
