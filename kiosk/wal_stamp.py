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
- The mapping stays the database's own: a connection of its own stays open. While any
  connection has the wal-index mapped it holds SQLite's "dead man switch" lock on it, and no
  other connection deletes or initialises the file again, nor leaves WAL mode (which needs
  the database to itself): a process that opens the database later maps this same file.
  And it is the file SQLite uses: on Linux, only one SQLite has mapped to write in this
  process (a build keeping its wal-index elsewhere could leave a stale file beside the
  database, which would never move).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import sqlite3
import struct
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import Engine

# The wal-index header: the first of its two 48-byte copies, starting with its version.
HEADER_BYTES = 48
WAL_INDEX_VERSION = 3007000
IS_INIT_OFFSET = 12
Counters = dict[str, int]


class WalStamp:
    """The header of a SQLite database's wal-index, and the counters last read under it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._opened = False
        self._connection: sqlite3.Connection | None = None
        self._map: mmap.mmap | None = None
        # (header, counters read after it was copied): one tuple, replaced whole
        self._last: tuple[bytes, Counters] | None = None

    def counters(self, read: Callable[[], Counters | None]) -> Counters | None:
        """The counters `read()` gives, read again only when a commit may have moved them."""
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
        shared = self._map
        if shared is None:
            return None
        header = shared[:HEADER_BYTES]
        if not header[IS_INIT_OFFSET]:
            return None  # being initialised: read
        return header

    def _open(self) -> None:
        with self._lock:
            if self._opened:
                return
            with contextlib.suppress(sqlite3.Error, OSError, ValueError):
                self._connection, self._map = _map_wal_index(self.engine)
            self._opened = True

    def close(self) -> None:
        with self._lock:
            self._last = None
            if self._map is not None:
                self._map.close()
            if self._connection is not None:
                self._connection.close()
            self._map = self._connection = None


def _map_wal_index(engine: Engine) -> tuple[sqlite3.Connection | None, mmap.mmap | None]:
    """A connection of the kiosk's own settings kept open, and its wal-index mapped to read."""
    pooled = engine.raw_connection()  # made by the pool: the kiosk's pragmas (WAL)
    pooled.detach()
    connection: Any = pooled.dbapi_connection
    if not isinstance(connection, sqlite3.Connection):
        return None, None
    keep = False
    try:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        path = next(
            (row[2] for row in connection.execute("PRAGMA database_list") if row[1] == "main"),
            "",
        )
        # A read maps the wal-index (and takes its dead-man-switch lock) for this connection.
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        connection.commit()
        if str(mode).lower() != "wal" or not path:
            return None, None
        shared = _map_header(path + "-shm")
        if shared is None:
            return None, None
        keep = True
        return connection, shared
    finally:
        if not keep:
            connection.close()


def _map_header(path: str) -> mmap.mmap | None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        found = os.fstat(descriptor)
        if found.st_size < HEADER_BYTES or not _sqlite_maps(found.st_ino):
            return None
        shared = mmap.mmap(descriptor, HEADER_BYTES, mmap.MAP_SHARED, mmap.PROT_READ)
    finally:
        os.close(descriptor)
    # The header is in the machine's byte order (walformat.html): its version says which.
    if struct.unpack("=I", shared[:4])[0] != WAL_INDEX_VERSION:
        shared.close()
        return None
    return shared


EXTENSION = "kiosk_wal_stamp"


def of(app: Flask) -> WalStamp | None:
    """The app's stamp: its SQLite database's, None on PostgreSQL (its change signal)."""
    return app.extensions.get(EXTENSION)


def init_app(app: Flask, engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    stamp = app.extensions[EXTENSION] = WalStamp(engine)
    # Its connection and mapping end with the app (tests make many apps in one process).
    weakref.finalize(app, stamp.close)


def _sqlite_maps(inode: int) -> bool:
    """Whether SQLite itself has this file mapped to write, in this process: the `-shm` beside
    the database is then the wal-index it uses (a build that keeps it elsewhere, with a stale
    file left beside the database, would otherwise be trusted). Where the process's mappings
    cannot be listed (not Linux), the standard place is trusted."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return True
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[1] == "rw-s" and fields[4] == str(inode):
            return True
    return False
