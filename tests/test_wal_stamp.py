"""SQLite's change signal (kiosk/wal_stamp.py): the kept screens read the generations again
only once a commit, from any connection or process, rewrote the wal-index's header.

Each promise is one test: the stamp moves with every commit and only then; the kept answers
read nothing until it moves; a commit of another process still shows, even after every other
connection closed; a database that gives no stamp is read on every answer."""

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event

from kiosk import wal_stamp
from kiosk.extensions import configure_sqlite, db
from kiosk.fast_path import Counters, fast_path_of
from kiosk.wal_stamp import WalStamp
from tests.helpers import HX

pytestmark = pytest.mark.sqlite_only


def database_of(app) -> str:
    with app.app_context():
        path = db.engine.url.database
    assert path
    return path


def commit_elsewhere(path: str, sql: str) -> None:
    """`sql` committed by another process, which then closes its connection."""
    script = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute(sys.argv[2]); c.close()"
    )
    subprocess.run([sys.executable, "-c", script, path, sql], check=True)


def stamp_of(app) -> WalStamp:
    stamp = wal_stamp.of(app)
    assert stamp is not None, "a SQLite app has a stamp"
    return stamp


def test_the_stamp_moves_with_each_commit_and_only_then(app):
    stamp, path = stamp_of(app), database_of(app)
    first = stamp.stamp()
    assert first is not None, "the kiosk's database is in WAL mode: it has a stamp"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("UPDATE setting SET value = value WHERE 0")  # a statement that changes nothing
    other.execute("BEGIN")
    other.execute("INSERT INTO setting (key, value, updated_at) VALUES ('x', 'y', '2026-01-01')")
    other.execute("ROLLBACK")
    assert stamp.stamp() == first
    other.execute("INSERT INTO setting (key, value, updated_at) VALUES ('x', 'y', '2026-01-01')")
    second = stamp.stamp()
    assert second != first
    commit_elsewhere(path, "DELETE FROM setting WHERE key = 'x'")
    assert stamp.stamp() not in (first, second)
    other.close()


def counting_reads(monkeypatch) -> list[int]:
    reads: list[int] = []
    real = Counters._read

    def counted(self):
        reads.append(1)
        return real(self)

    monkeypatch.setattr(Counters, "_read", counted)
    return reads


# An opener tap as any process writes it: the database's trigger counts it and bumps TALLIES.
OPENER_TAP = (
    "INSERT INTO tally (uuid, event_id, kind, key, created_at, hub_sent) "
    "SELECT 'tap-from-elsewhere', id, 'opener', 'famine', '2026-12-07 12:00:00', 0 "
    "FROM event WHERE status = 'active'"
)


def famine_count(chart: str) -> int:
    match = re.search(r">Famine</span>.*?bar-count\">(\d+)<", chart, re.S)
    assert match, "the chart shows Famine"
    return int(match.group(1))


def famine(client) -> str:
    return client.get("/opener/chart", headers=HX).get_data(as_text=True)


def test_kept_answers_read_the_generations_only_after_a_commit(app, client, monkeypatch):
    client.get("/")
    famine(client)
    reads = counting_reads(monkeypatch)
    hits = fast_path_of(app).hits
    for _ in range(20):
        famine(client)
    assert fast_path_of(app).hits == hits + 20, "the fast path answered each"
    assert reads == [], "and read no generations: nothing committed"
    before = famine_count(famine(client))
    commit_elsewhere(database_of(app), OPENER_TAP)
    assert famine_count(famine(client)) == before + 1
    famine(client)
    assert len(reads) == 1, "one read after the commit, then none"


def test_another_processs_commit_shows_after_every_other_connection_closed(app, client):
    chart = famine(client)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # the pool's connections closed: only the stamp's stays open
    path = database_of(app)
    # Another process opens the database, taps, and closes: were it the last connection, it
    # would delete the wal-index, and the next process would map a new one.
    commit_elsewhere(path, OPENER_TAP)
    assert famine_count(famine(client)) == famine_count(chart) + 1, "the other process's tap shows"


def test_a_database_without_a_wal_index_is_read_on_every_answer(tmp_path: Path):
    path = tmp_path / "rollback-journal.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    engine = create_engine(f"sqlite:///{path}")  # no WAL: a journal, no -shm
    stamp = WalStamp(engine)
    assert stamp.stamp() is None
    reads: list[int] = []
    for _ in range(3):
        assert stamp.counters(lambda: reads.append(1) or {"setup": 1}) == {"setup": 1}
    assert len(reads) == 3
    stamp.close()
    engine.dispose()
    # The kiosk's own engine settings put it in WAL mode: then it has a stamp.
    wal = kiosk_engine(f"sqlite:///{path}")
    stamp = WalStamp(wal)
    assert stamp.stamp() is not None
    stamp.close()
    wal.dispose()


def test_a_wal_index_sqlite_does_not_use_is_not_trusted(app, tmp_path: Path):
    """A `-shm` file with a valid header that SQLite has not mapped (a stale file beside the
    database, where a build keeps its wal-index elsewhere) would never move: no stamp."""
    real = database_of(app) + "-shm"
    assert stamp_of(app).stamp() is not None
    assert wal_stamp._sqlites_header(real) is not None
    stale = tmp_path / "stale.sqlite3-shm"
    stale.write_bytes(Path(real).read_bytes())
    assert wal_stamp._sqlites_header(str(stale)) is None


# Another process asks who holds SQLite's dead-man-switch byte of the wal-index (offset 128:
# 120 + SQLITE_SHM_NLOCK), as a connection opening the database would before it initialises
# the file: F_GETLK answers the holder's process id, or F_UNLCK.
DMS_HOLDER = """
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
asked = struct.pack("@hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 128, 1, 0)
kind, _, _, _, pid = struct.unpack("@hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, asked))
print(pid if kind != fcntl.F_UNLCK else 0)
"""


def test_reading_the_stamp_keeps_sqlites_own_locks_on_the_wal_index(app):
    """POSIX ends every lock a process holds on a file when it closes any descriptor of it: a
    stamp read through a descriptor of its own once released SQLite's, and another process
    then initialised the wal-index again under the serving kiosk (which died of SIGBUS)."""
    path = database_of(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # only the stamp's connection has the database open
    stamp_of(app).close()
    stamp = WalStamp(create_engine_like(app))
    assert stamp.stamp() is not None
    for _ in range(3):
        stamp.stamp()
    holder = subprocess.run(
        [sys.executable, "-c", DMS_HOLDER, path + "-shm"], capture_output=True, text=True
    )
    assert holder.returncode == 0, holder.stderr
    assert int(holder.stdout) == os.getpid(), "this process still holds SQLite's lock"
    stamp.close()


def create_engine_like(app):
    with app.app_context():
        return kiosk_engine(db.engine.url)


def kiosk_engine(url):
    """An engine with the kiosk's connection settings (WAL among them)."""
    engine = create_engine(url)
    event.listen(engine, "connect", configure_sqlite)
    return engine


def test_a_database_that_cannot_answer_at_first_is_asked_again(app, monkeypatch):
    """The stamp's first look finds the database busy or gone: that answer reads, and the
    next look tries again instead of going without a stamp for the process's life."""
    from sqlalchemy.exc import OperationalError

    stamp = WalStamp(create_engine_like(app))
    real = wal_stamp._map_wal_index

    def busy_once(engine):
        monkeypatch.setattr(wal_stamp, "_map_wal_index", real)
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(wal_stamp, "_map_wal_index", busy_once)
    assert stamp.stamp() is None
    assert stamp.stamp() is not None
    stamp.close()
