"""The served process's memory given back once a large piece of work is over (an export).

An export of a season's sign-ups reads and writes them a batch at a time, so what it holds at
once is small; but the C library keeps the blocks it freed meanwhile for the next
allocation, and SQLite keeps the connection's page cache full of the pages it read. Neither
is a leak, and neither goes back by itself: after the lead's CSV and Mailchimp exports of
100,000 sign-ups the process stayed about 12 MB larger (bench/memory_probe.py,
bench/findings.md). `shrink_sqlite_cache` and `trim_malloc` return them once an export is out.
`limit_malloc_arenas`, at `kiosk serve`'s start, keeps what the threads' malloc holds small.
"""

import contextlib
import ctypes
import sqlite3

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from kiosk.page_cache import WRITES


def shrink_sqlite_cache(connection: Connection) -> None:
    """Empty the page cache of `connection` if it is SQLite's (the next read reads the file,
    as the first one after a start does); nothing on PostgreSQL, whose cache is the server's."""
    if isinstance(connection.connection.dbapi_connection, sqlite3.Connection):
        # Memory given back or not, the work it follows stands: an export's file is still
        # marked as sent, a full check still says what it found.
        with contextlib.suppress(SQLAlchemyError):
            # It writes no table: said, or the page cache would take raw SQL to change every
            # screen it keeps (kiosk/page_cache.py) and render them all again.
            connection.exec_driver_sql("PRAGMA shrink_memory", execution_options={WRITES: ()})


def trim_malloc() -> bool:
    """glibc's malloc_trim(0): the free pages of every malloc arena back to the system.
    False, and nothing done, where the C library has no malloc_trim."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


# glibc's M_ARENA_MAX (malloc.h): how many malloc arenas the process's threads spread over.
M_ARENA_MAX = -8
SERVER_MALLOC_ARENAS = 2
# glibc's M_MMAP_THRESHOLD: blocks this large or larger get pages of their own, given back
# when freed. Set, it stays put; left alone, glibc raises it to the largest block freed, and
# requests of 256 KB (issue 20) then left their blocks in the arenas: +40 MB that stayed.
M_MMAP_THRESHOLD = -3
SERVER_MMAP_THRESHOLD = 128 * 1024


def limit_malloc_arenas() -> bool:
    """Keep waitress's threads to two glibc malloc arenas (3-4 MB less resident memory after
    a busy spell, with no difference in speed we could measure: bench/findings.md), and
    large blocks out of them. False, and nothing changed, where the C library has no
    mallopt."""
    try:
        libc = ctypes.CDLL(None)
        return bool(
            libc.mallopt(M_ARENA_MAX, SERVER_MALLOC_ARENAS)
            and libc.mallopt(M_MMAP_THRESHOLD, SERVER_MMAP_THRESHOLD)
        )
    except (OSError, AttributeError):
        return False
