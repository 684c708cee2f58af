"""A change signal across a hub's processes: the generations kept in memory, no read per answer.

Every answer from a kept screen (kiosk/page_cache.py, kiosk/fast_path.py) needs the
generations of what it shows. Read from the database, they cost a round trip per answer,
nearly free on SQLite and a quarter of a hub process's time on PostgreSQL (bench/results.md,
issue 21). On PostgreSQL each process learns of every change instead:

- Every write to a `generation` row notifies `kiosk_generation` with the row's name, in the
  writer's transaction (migration f1c8a3e5d7b9's trigger): PostgreSQL delivers it only once
  that transaction commits, to every listening connection, in commit order.
- Each process runs one listener connection on a thread of its own (`ChangeSignal`, started
  at the first answer that asks). Once it listens, and once it has checked that the trigger
  exists, the process *trusts* its generations in memory: a new trust period (SIGNAL, its
  number) with every generation at 0, so nothing kept before is found again. Each
  notification then adds one to its generation; so does each commit of this process that
  bumped one (`bump`, called by page_cache after the commit returned), so a visitor's own
  tap shows in the next answer without waiting for the notification.
- A screen is kept under the generations *and* the trust period. Whenever the listener is not
  known to have seen every notification since it connected (not started yet, its
  connection lost, the server restarted, the trigger missing), `counters()` says None and
  the generations are read from the database on every answer, as before, under trust
  period 0: a lost connection never serves a screen kept under values it can no longer
  keep. The listener connects again (a new trust period; everything kept is rendered once
  more).
- What a process still serves after a commit elsewhere is what it served before the
  notification reached it (well under a millisecond on one machine): the next answer after
  the notification is fresh.

PostgreSQL keeps notifications until every listener has read them (a queue of 8 GB): a
listener's thread does nothing else, and a process that is stopped (SIGSTOP) rather than
ended holds the queue until it runs or ends.

SQLite has no NOTIFY, and one process usually serves it (siblings possible): its answers
read the generations again only when a commit, in any process, rewrote the header of its
wal-index (kiosk/wal_stamp.py), on a connection per server thread (fast_path.Counters).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from sqlalchemy.engine import Engine

CHANNEL = "kiosk_generation"
TRIGGER = "generation_notify"
# The counters' name for the trust period a value belongs to: 0 read from the database, else
# the number of the listener's trust period (never used twice in a process).
SIGNAL = "signal"
# A notification's payload that says every generation changed (TRUNCATE generation).
EVERY = "*"
# A test's marker (`caught_up`): the listener has seen every notification committed before.
MARKER = "sync:"
EXTENSION = "kiosk_change_signal"
# How long the listener waits for a notification before it looks whether it should stop.
WAKE_S = 1.0
# Between attempts to connect again (a server restarting, a database gone).
RETRY_S = 0.5
# The listener's connection notices a dead server within seconds even without traffic.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
}
CONNECTION_OK = 0  # libpq's CONNECTION_OK (psycopg.pq.ConnStatus.OK)
HAS_TRIGGER = (
    "SELECT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = to_regclass('generation') "
    "AND tgname = %s AND tgenabled <> 'D')"
)

_trust_periods = itertools.count(1)


class ChangeSignal:
    """One process's (one engine's) generations kept in memory, while its listener is sure.

    `counters()` is read on every answer: one attribute, no lock, no database."""

    def __init__(self, engine: Engine, names: Iterable[str]) -> None:
        self.listens = engine.dialect.name == "postgresql"
        self.names = tuple(names)
        self._engine = engine
        # None: not trusted (read the database). Else a dict never changed once published:
        # a bump publishes a new one.
        self._current: dict[str, int] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._markers: dict[str, threading.Event] = {}
        self._wake = (-1, -1)
        self._close_wake: weakref.finalize[Any, Any] | None = None
        # How the listener connects (a test makes it fail, to keep the signal down).
        self.connect: Callable[[], Any] = self._connect
        self.connected_pid: int | None = None  # the listener's backend (tests end it)
        self.attempts = 0  # times the listener connected or tried to

    # ---- read on every answer ------------------------------------------------------------

    def counters(self) -> dict[str, int] | None:
        """The generations with their trust period, or None: read them from the database."""
        current = self._current
        if current is None and self.listens and self._thread is None:
            self.start()
        return current

    @property
    def trusted(self) -> bool:
        return self._current is not None

    # ---- changes -------------------------------------------------------------------------

    def bump(self, names: Iterable[str]) -> None:
        """This process committed a change to `names` (its own notification comes later)."""
        with self._lock:
            current = self._current
            if current is None:
                return
            new = dict(current)
            for name in names:
                new[name] = new.get(name, 0) + 1
            self._current = new

    def _notified(self, payload: str) -> None:
        if payload.startswith(MARKER):
            marker = self._markers.get(payload)
            if marker is not None:
                marker.set()
            return
        self.bump(self.names if payload == EVERY else (payload,))

    def _trust(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return  # stopped meanwhile: the answers keep reading
            self._current = dict.fromkeys(self.names, 0) | {SIGNAL: next(_trust_periods)}

    def _distrust(self) -> None:
        with self._lock:
            self._current = None

    # ---- the listener --------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or not self.listens or self._stop.is_set():
                return
            self._wake = os.pipe()  # stop() writes a byte: the thread ends at once
            # Closed once: by stop() after the thread ended, else when the signal is collected.
            self._close_wake = weakref.finalize(self, _close, *self._wake)
            self._thread = threading.Thread(
                target=_listen, args=(weakref.ref(self), self._stop, self._wake),
                name="kiosk-listener", daemon=True,
            )  # fmt: skip
            self._thread.start()

    def stop(self) -> None:
        """End the listener (the app is done with): answers read the database from now on;
        its connection is closed when this returns (a database dropped next finds it gone)."""
        with self._lock:
            self._stop.set()
            self._current = None
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        closer = self._close_wake
        if closer is not None and closer.alive:
            os.write(self._wake[1], b"x")
        thread.join(timeout=2 * WAKE_S)
        if closer is not None and not thread.is_alive():
            closer()

    def _connect(self) -> Any:
        import psycopg  # noqa: PLC0415  # PostgreSQL's driver: only a hub has it installed

        args, params = self._engine.dialect.create_connect_args(self._engine.url)
        return psycopg.connect(*args, **{**KEEPALIVES, **params}, autocommit=True)

    def listening(self, timeout: float = 5.0) -> bool:
        """Start the listener and wait until it trusts (True at once on SQLite: nothing to
        wait for, its answers read)."""
        if not self.listens:
            return True
        deadline = time.monotonic() + timeout
        self.counters()  # starts the listener
        while not self.trusted:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def caught_up(self, timeout: float = 5.0) -> bool:
        """Wait until the listener has seen every notification committed before this call
        (a marker sent now, delivered after them); False if it is not listening by then."""
        if not self.listens:
            return True
        deadline = time.monotonic() + timeout
        if not self.listening(timeout):
            return False
        marker = f"{MARKER}{uuid.uuid4().hex}"
        seen = self._markers[marker] = threading.Event()
        try:
            connection = self.connect()
            try:
                connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, marker))
            finally:
                connection.close()
            return seen.wait(max(0.0, deadline - time.monotonic())) and self.trusted
        finally:
            self._markers.pop(marker, None)


def _listen(ref: weakref.ref[ChangeSignal], stop: threading.Event, wake: tuple[int, int]) -> None:
    """The listener's thread: connect, LISTEN, check the trigger, trust, count notifications;
    on any error distrust at once and connect again. Ends with its ChangeSignal, or at once
    when `stop` is set and a byte written to `wake`."""
    while not stop.is_set():
        signal = ref()
        if signal is None:
            return
        connection = None
        try:
            signal.attempts += 1
            connection = signal.connect()
            connection.execute(f"LISTEN {CHANNEL}")
            # Listening: every commit from now on is announced. Only if the trigger that
            # announces them exists is the signal worth trusting.
            has_trigger = connection.execute(HAS_TRIGGER, (TRIGGER,)).fetchone()
            if not (has_trigger and has_trigger[0]):
                raise LookupError("no generation_notify trigger: the database is not at head")
            signal.connected_pid = connection.info.backend_pid
            # Notifications that came with those statements are of commits the new trust
            # period's reads see anyway: only those from now on count.
            signal._trust()
            del signal
            if not _notifications(ref, connection.pgconn, stop, wake[0]):
                return
        except Exception:  # noqa: BLE001  # any failure: distrust, connect again
            signal = ref()
            if signal is not None:
                signal._distrust()
                signal.connected_pid = None
            del signal
            stop.wait(RETRY_S)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()


def _notifications(
    ref: weakref.ref[ChangeSignal], pgconn: Any, stop: threading.Event, wake: int
) -> bool:
    """Hand each notification to the signal as it arrives (libpq's own calls: the socket
    and the wake pipe waited on together); False when the listener is to end. A lost
    connection raises."""
    socket = pgconn.socket
    while True:
        while (notify := pgconn.notifies()) is not None:
            signal = ref()
            if signal is None:
                return False
            signal._notified(notify.extra.decode())
            del signal
        if stop.is_set() or ref() is None:
            return False
        ready, _, _ = select.select([socket, wake], [], [], WAKE_S)
        if wake in ready:
            return False
        if socket in ready:
            pgconn.consume_input()  # raises when the server is gone
            if pgconn.status != CONNECTION_OK:
                raise ConnectionError("the listener's connection was lost")


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def signal_of(app: Flask) -> ChangeSignal:
    signal: ChangeSignal = app.extensions[EXTENSION]
    return signal


def init_app(app: Flask, engine: Engine, names: Iterable[str]) -> ChangeSignal:
    signal = app.extensions[EXTENSION] = ChangeSignal(engine, names)
    return signal
