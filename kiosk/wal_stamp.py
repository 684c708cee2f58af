"""SQLite's own change signal: the stamp of its last commit, read from shared memory.

Every answer from a kept screen needs the generations of what it shows (kiosk/page_cache.py).
On PostgreSQL each process keeps them in memory, told of each commit by a NOTIFY
(kiosk/change_signal.py). SQLite has no NOTIFY, so its answers read them from the database:
a few microseconds alone, but served by eight threads it was about 0.2 ms of CPU per answer
(each read takes SQLite's shared-memory locks and gives up and takes back Python's lock three
times), and it alone kept the kept screens below the bare floor (bench/findings.md, issue 21).

SQLite already says when anything committed. In WAL mode every connection to the database,
in any process, maps the wal-index (the `-shm` file beside it), whose header every commit
rewrites: its change counter (`iChange`, one more per transaction), the last frame and the
WAL's salts (https://www.sqlite.org/walformat.html, "The WAL-Index Header"). Header bytes
equal to those seen before mean no transaction has committed since. So:

- `WalStamp.counters(read)` takes a copy of the header (48 bytes from memory: no system call,
  no lock, Python's lock kept) *before* it reads the counters, and keeps the two together.
  While the header stays the same, those counters are still the counters: no read. When it
  moved, the counters are read again. A commit between the copy and the read makes the header
  differ at the next look, never the other way round: what is kept is never older than the
  header it is kept under.
- It is only ever a reason to skip a read. Anything SQLite does that rewrites the header
  without a commit (a checkpoint restarting the WAL) costs one read more, never a stale
  answer. A database not in WAL mode, without a `-shm` file, or whose header is not the
  format described there (version 3007000, initialised) has no stamp: every answer reads.
- The header is read where SQLite itself maps it in this process (found in Linux's
  /proc/self/maps), never through a file descriptor of ours: closing one would end every
  POSIX lock the process holds on the file, SQLite's included. That mapping stays while a
  connection of this module's own stays open, and while any connection holds SQLite's "dead
  man switch" lock on the wal-index, no other connection deletes or initialises it again,
  nor leaves WAL mode (which needs the database to itself). A stale `-shm` file beside the
  database (a build keeping its wal-index elsewhere) is mapped by no SQLite: no stamp. Where
  the mappings cannot be listed (not Linux): no stamp.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sqlite3
import struct
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from kiosk.extensions import detached_connection

# The wal-index header: the first of its two 48-byte copies, starting with its version.
HEADER_BYTES = 48
WAL_INDEX_VERSION = 3007000
IS_INIT_OFFSET = 12
Counters = dict[str, int]
Header = ctypes.Array[ctypes.c_char]
Read = TypeVar("Read", Counters, Counters | None)


class WalStamp:
    """The header of a SQLite database's wal-index, and the counters last read under it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._opened = False
        self._connection: sqlite3.Connection | None = None
        self._header: Header | None = None
        # (header, counters read after it was copied): one tuple, replaced whole
        self._last: tuple[bytes, Counters] | None = None

    def counters(self, read: Callable[[], Read]) -> Read:
        """The counters `read()` gives (None: it could not say, and nothing is kept), read
        again only when a commit may have moved them."""
        stamp = self.stamp()
        last = self._last
        if stamp is not None and last is not None and last[0] == stamp:
            return last[1]
        counters = read()
        if stamp is not None and counters is not None:
            self._last = (stamp, counters)
        return counters

    def stamp(self) -> bytes | None:
        """The header now, or None when this database has none to trust."""
        if not self._opened:
            self._open()
        shared = self._header
        if shared is None:
            return None
        header = shared.raw  # a copy of the bytes: SQLite may rewrite them meanwhile
        if not header[IS_INIT_OFFSET]:
            return None  # being initialised: read
        return header

    def _open(self) -> None:
        with self._lock:
            if self._opened:
                return
            try:
                self._connection, self._header = _map_wal_index(self.engine)
            except (sqlite3.Error, SQLAlchemyError):
                return  # the database could not say now (busy, gone): asked again next time
            except (OSError, ValueError):
                pass  # no list of mappings, a file gone: no stamp, a read per answer
            self._opened = True

    def close(self) -> None:
        """Stop reading SQLite's mapping before the connection that keeps it is closed."""
        with self._lock:
            self._last = None
            self._header = None
            if self._connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._connection.close()
            self._connection = None


def _map_wal_index(engine: Engine) -> tuple[sqlite3.Connection | None, Header | None]:
    """A connection of the kiosk's own settings kept open, and its wal-index's header."""
    connection = detached_connection(engine)  # the kiosk's pragmas (WAL)
    if not isinstance(connection, sqlite3.Connection):
        return None, None
    keep = False
    try:
        mode = connection.execute("PRAGMA journal_mode").fetchall()[0][0]
        paths = [row[2] for row in connection.execute("PRAGMA database_list") if row[1] == "main"]
        # A read maps the wal-index (and takes its dead-man-switch lock) for this connection.
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        connection.commit()
        if str(mode).lower() != "wal" or not paths or not paths[0]:
            return None, None
        header = _sqlites_header(paths[0] + "-shm")
        if header is None:
            return None, None
        keep = True
        return connection, header
    finally:
        if not keep:
            connection.close()


def _sqlites_header(path: str) -> Header | None:
    """The first bytes of SQLite's own mapping of the wal-index `path` in this process.

    Never through a file descriptor of ours: closing any descriptor of a file ends every POSIX
    lock the process holds on it, SQLite's included (its dead-man-switch and read locks; a
    first version that mapped the file itself let another process truncate and initialise it
    under a serving kiosk, which died of SIGBUS). SQLite's mapping is found in the process's
    list of mappings (Linux's /proc/self/maps): a shared, writable mapping of that file from
    its start. It stays while any connection of this process has the database open, this
    module's own included, and it is the wal-index SQLite uses: a stale file beside the
    database (a build keeping it elsewhere) is mapped by no SQLite. Elsewhere: no stamp."""
    try:
        found = os.stat(path)
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    device = f"{os.major(found.st_dev):02x}:{os.minor(found.st_dev):02x}"
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if (
            len(fields) == 6
            and fields[1] == "rw-s"
            and int(fields[2], 16) == 0
            and fields[3] == device
            and fields[4] == str(found.st_ino)
        ):
            start, end = (int(address, 16) for address in fields[0].split("-"))
            if end - start < HEADER_BYTES:
                return None
            header = (ctypes.c_char * HEADER_BYTES).from_address(start)
            # In the machine's byte order (walformat.html): its version says which.
            if struct.unpack("=I", header.raw[:4])[0] != WAL_INDEX_VERSION:
                return None
            return header
    return None


EXTENSION = "kiosk_wal_stamp"


def of(app: Flask) -> WalStamp | None:
    """The app's stamp: its SQLite database's, None on PostgreSQL (its change signal)."""
    return app.extensions.get(EXTENSION)


def init_app(app: Flask, engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    stamp = app.extensions[EXTENSION] = WalStamp(engine)
    # Its connection ends with the app (tests make many apps in one process); not at the
    # interpreter's exit, when a server thread may still be reading SQLite's mapping.
    weakref.finalize(app, stamp.close).atexit = False
