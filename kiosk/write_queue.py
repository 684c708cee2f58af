"""The SQLite write policy: which requests write, and how they take turns writing.

SQLite lets one transaction write at a time. A second writer that finds the database busy
waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ... 100 ms between tries
whatever happens meanwhile: with 8 tablets tapping, a tap or a sign-up often slept on long
after the database was free (bench/results.md). So on the app's own SQLite engine (never on
another engine in the process), the transaction of a request that may write

1. waits for its turn in this process (a `Turn`), which the previous writer hands on as soon
   as it has returned its connection, to whoever asked first: a writer that writes again
   at once (an import, transaction after transaction) queues behind those already waiting,
   so a visitor waits for one transaction, never for a lock won over and over; and
2. begins IMMEDIATE, taking SQLite's write lock at the start: a deferred transaction that
   reads, then writes, fails at once with "database is locked" when another writer got in
   between (the busy timeout cannot help it); one that begins IMMEDIATE waits instead.

A request may write when its method is not GET, HEAD or OPTIONS (a test walks every route:
no GET changes anything), unless its view is marked `@reads_only`: a POST that only reads,
like the lead's export (a POST so that it carries a CSRF token). Such a view reads without
a turn or a lock, so the tablets' taps and sign-ups go on while it reads, and does its own
bookkeeping (an audit entry, an export mark) in a short `separate_write()` afterwards.
Commands and tests outside a request never queue; SQLite's busy timeout keeps them apart
from the server. PostgreSQL is untouched: its own locks do this work.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.pool import ConnectionPoolEntry

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TURN = "kiosk_write_turn"
_READS_ONLY = "kiosk_reads_only"
_WRITING = "kiosk_separate_write"

View = TypeVar("View", bound=Callable[..., Any])


def reads_only(view: View) -> View:
    """Mark a view that changes no data although its method is POST: no turn, no lock.

    Anything it must record goes in a `separate_write()` once it has read what it needs.
    Put it under the route decorator, so the route registers the marked function.
    """
    setattr(view, _READS_ONLY, True)
    return view


def reads_only_view(view: Callable[..., Any] | None) -> bool:
    return bool(getattr(view, _READS_ONLY, False))


_background = threading.local()


@contextmanager
def background_writer() -> Iterator[None]:
    """Writes of a background thread inside the server (a table's sync to its hub) take
    their turn like a request's: one transaction at a time, queued behind the visitors'
    writes already waiting, never holding the lock over theirs."""
    _background.active = True
    try:
        yield
    finally:
        _background.active = False


def may_write() -> bool:
    """True inside a request that may change data: a POST, PUT, PATCH or DELETE, unless its
    view is marked reads_only and this is not its separate write; and in a background
    writer's thread."""
    if getattr(_background, "active", False):
        return True
    if not has_request_context() or request.method in READ_ONLY_METHODS:
        return False
    if g.get(_WRITING):
        return True
    return not reads_only_view(current_app.view_functions.get(request.endpoint or ""))


@contextmanager
def separate_write(session: Session | scoped_session[Any]) -> Iterator[None]:
    """A short transaction of its own that writes, in any request that may write or reads only.

    What the session was reading ends first, so the write begins afresh: it takes its turn
    and BEGIN IMMEDIATE like any write, and gives them back when the block commits.
    """
    session.commit()
    depth = g.get(_WRITING, 0)
    setattr(g, _WRITING, depth + 1)
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        setattr(g, _WRITING, depth)


class Turn:
    """A lock taken in the order it was asked for, and handed on at release to the first
    writer waiting. A plain lock is not fair: released and taken again at once by its holder
    (an import committing a transaction and beginning the next), it stays with the holder,
    and on a loaded CPU a woken waiter may lose every race until its timeout."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds for the turn; True when it is this caller's."""
        with self._guard:
            if not self._held:
                self._held = True
                return True
            handed = threading.Lock()
            handed.acquire()
            self._waiting.append(handed)
        if handed.acquire(timeout=timeout):
            return True
        with self._guard:
            if handed in self._waiting:
                self._waiting.remove(handed)
                return False
        return True  # handed on to us just as we stopped waiting: ours now

    def release(self) -> None:
        with self._guard:
            if self._waiting:
                self._waiting.popleft().release()  # still held: by the next in line
            else:
                self._held = False

    def locked(self) -> bool:
        return self._held

    def waiting(self) -> int:
        """How many writers wait for the turn."""
        return len(self._waiting)


# Raw SQL that writes no table says so (kiosk/page_cache.py's WRITES option; spelled out
# here: this module is imported before it): else its transaction renews every kept screen.
WRITES_NOTHING = {"kiosk_writes": ()}


def install(engine: Engine, timeout_s: float) -> Turn | None:
    """Attach the write policy to a SQLite `engine`; returns the turn its writers share."""
    if engine.dialect.name != "sqlite":
        return None
    lock = Turn()

    def take_turn_and_begin(connection: Connection) -> None:
        if not may_write():
            return  # pysqlite's own way: reads outside a transaction, BEGIN before a write
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # asked for no transaction (the start-up checks): take no lock
        # Never wait for ever: after timeout_s SQLite's own busy timeout decides, as before.
        if lock.acquire(timeout=timeout_s):
            connection.connection.info[TURN] = lock
        connection.exec_driver_sql("BEGIN IMMEDIATE", execution_options=WRITES_NOTHING)

    def give_turn(_dbapi_connection: object, record: ConnectionPoolEntry | None) -> None:
        turn = record.info.pop(TURN, None) if record is not None else None
        if turn is not None:
            turn.release()

    def give_turn_of_broken(
        dbapi_connection: object, record: ConnectionPoolEntry | None, _error: object
    ) -> None:
        give_turn(dbapi_connection, record)

    event.listen(engine, "begin", take_turn_and_begin)
    # Pool events on the engine follow its pool, also the new one after engine.dispose().
    event.listen(engine, "checkin", give_turn)
    event.listen(engine, "invalidate", give_turn_of_broken)
    return lock
