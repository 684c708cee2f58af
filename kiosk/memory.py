"""The served process's memory given back once a large piece of work is over (an export).

An export of a season's sign-ups reads and writes them a batch at a time, so what it holds at
once is small; but the C library keeps the blocks it freed meanwhile for the next
allocation, and SQLite keeps the connection's page cache full of the pages it read. Neither
is a leak, and neither goes back by itself: after the lead's CSV and Mailchimp exports of
100,000 sign-ups the process stayed about 12 MB larger (bench/memory_probe.py,
bench/findings.md). `shrink_sqlite_cache` and `trim_malloc` return them once an export is out.
"""

import ctypes
import sqlite3

from sqlalchemy import Connection

from kiosk.page_cache import WRITES


def shrink_sqlite_cache(connection: Connection) -> None:
    """Empty the page cache of `connection` if it is SQLite's (the next read reads the file,
    as the first one after a start does); nothing on PostgreSQL, whose cache is the server's."""
    if isinstance(connection.connection.dbapi_connection, sqlite3.Connection):
        # It writes no table: said, or the page cache would take raw SQL to change every
        # screen it keeps (kiosk/page_cache.py) and render them all again.
        connection.exec_driver_sql("PRAGMA shrink_memory", execution_options={WRITES: ()})


def trim_malloc() -> bool:
    """glibc's malloc_trim(0): the free pages of every malloc arena back to the system.
    False, and nothing done, where the C library has no malloc_trim."""
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True
