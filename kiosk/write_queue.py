"""Writing requests take turns on a lock in this process, not in SQLite's busy handler.

SQLite lets one transaction write at a time. A second writer that finds the database busy
waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ... 100 ms between tries
whatever happens meanwhile: with 8 tablets tapping, a tap or a sign-up often slept on long
after the database was free (bench/results.md). Here the transactions of requests that may
write wait on a lock instead, and the next one starts as soon as the previous one has
returned its connection. Reads (GET, HEAD, OPTIONS) never queue: in WAL mode readers neither
block writers nor wait for them. Commands and tests outside a request don't queue either;
SQLite's busy timeout still keeps them apart from the server.
"""

from __future__ import annotations

import threading
from weakref import WeakKeyDictionary

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry, Pool

# Requests that never write (tested: no GET changes anything) read from a snapshot.
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TURN = "kiosk_write_turn"


def may_write() -> bool:
    """True inside a request whose method may change data (POST, PUT, PATCH, DELETE)."""
    return has_request_context() and request.method not in READ_ONLY_METHODS


# Each SQLite database that queues its writers: its lock, and how long to wait for it.
_turns: WeakKeyDictionary[Engine, tuple[threading.Lock, float]] = WeakKeyDictionary()


def queue_writers(engine: Engine, timeout_s: float) -> threading.Lock | None:
    """Make writing requests on a SQLite `engine` take turns; returns the lock they share."""
    if engine.dialect.name != "sqlite":
        return None
    lock, _timeout = _turns.setdefault(engine, (threading.Lock(), timeout_s))
    return lock


# On the Engine class and first: listeners on the class run before those on an engine, so
# the turn comes before any BEGIN (IMMEDIATE) that another "begin" listener emits.
@event.listens_for(Engine, "begin", insert=True)
def _take_turn(connection: Connection) -> None:
    turn = _turns.get(connection.engine)
    if turn is None or not may_write():
        return
    lock, timeout_s = turn
    # Never wait for ever: after timeout_s SQLite's own busy timeout decides, as before.
    if lock.acquire(timeout=timeout_s):
        connection.connection.info[TURN] = lock


@event.listens_for(Pool, "checkin")
def _give_turn(_dbapi_connection: object, record: ConnectionPoolEntry | None) -> None:
    lock = record.info.pop(TURN, None) if record is not None else None
    if lock is not None:
        lock.release()


@event.listens_for(Pool, "invalidate")
def _give_turn_of_broken(
    dbapi_connection: object, record: ConnectionPoolEntry | None, _error: BaseException | None
) -> None:
    _give_turn(dbapi_connection, record)
