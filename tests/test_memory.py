"""What a large piece of work leaves in the served process goes back (kiosk/memory.py): the
lead's export empties its SQLite connection's page cache and has glibc return the free
memory of its arenas, once the file is out (issue 21: +11-13 MB stayed after the CSV and
Mailchimp exports of 100,000 sign-ups; +2.4 MB with this, bench/memory_probe.py)."""

import _sqlite3
import ctypes

from sqlalchemy import create_engine, select, text

from kiosk import memory, page_cache
from kiosk.extensions import db
from kiosk.services import events, exports, safety, signups


def test_an_export_gives_its_memory_back_once_its_last_piece_is_out(app, lead, monkeypatch):
    calls: list[str] = []
    shrink = memory.shrink_sqlite_cache
    monkeypatch.setattr(
        memory, "shrink_sqlite_cache", lambda c: (calls.append("page cache"), shrink(c))
    )
    monkeypatch.setattr(memory, "trim_malloc", lambda: calls.append("malloc") or True)
    monkeypatch.setattr(exports, "EXPORT_BATCH", 1)
    with app.app_context():
        for name in ("Jisoo", "Minho"):
            signups.record_signup(first_name=name, email=f"{name}@example.org", consent=True)
        event_id = events.active_event().id
    response = lead.post("/lead/export", data={"event": event_id, "format": "csv"})
    pieces = iter(response.response)
    assert b"@example.org" in next(pieces)
    assert calls == []  # not while the file is being sent
    assert b"@example.org" in b"".join(pieces)
    assert calls == ["page cache", "malloc"]


def sqlite_memory_used() -> int:
    # Through Python's own sqlite3 module: its SQLite, linked in or loaded beside it.
    library = ctypes.CDLL(_sqlite3.__file__)
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return library.sqlite3_memory_used()


def test_shrinking_empties_the_page_cache_a_large_read_filled(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'big.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE row (payload BLOB)")
        connection.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
            "INSERT INTO row SELECT randomblob(1000) FROM n"
        )
    engine.dispose()
    with engine.connect() as connection:
        before = sqlite_memory_used()
        connection.execute(text("SELECT sum(length(payload)) FROM row")).scalar()
        filled = sqlite_memory_used()
        memory.shrink_sqlite_cache(connection)
        shrunk = sqlite_memory_used()
    engine.dispose()
    assert filled - before > 1_000_000  # SQLite's default cache: up to 2 MB per connection
    assert shrunk - before < 200_000, (before, filled, shrunk)


def test_the_full_check_of_the_file_leaves_no_pages_in_the_connections_cache(app):
    with app.app_context():
        with db.engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE filler (payload BLOB)")
            connection.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
                " INSERT INTO filler SELECT randomblob(1000) FROM n"
            )
        db.engine.dispose()  # the pool's one connection opens afresh, its cache empty
        with db.engine.connect() as connection:
            connection.exec_driver_sql("SELECT count(*) FROM filler WHERE rowid < 3")
        before = sqlite_memory_used()
        assert safety.full_check() is None  # reads the file's 3 MB through it
        grown = sqlite_memory_used() - before
    assert grown < 300_000, grown  # without the shrink: SQLite's default 2 MB cache


def test_malloc_is_trimmed_where_the_c_library_can_and_skipped_where_it_cannot(monkeypatch):
    assert memory.trim_malloc() is True  # glibc, on the kiosk's Linux
    monkeypatch.setattr(memory.ctypes, "CDLL", lambda _name: object())
    assert memory.trim_malloc() is False


def test_emptying_the_page_cache_changes_no_kept_screen(app):
    """PRAGMA shrink_memory writes nothing: the export and the full check leave every kept
    screen kept (raw SQL that does not say so is taken to write every watched table)."""
    with app.app_context():
        before = page_cache.generations()
        memory.shrink_sqlite_cache(db.session.connection())
        db.session.commit()
        assert page_cache.generations() == before


def test_an_export_whose_memory_cannot_be_given_back_is_still_marked_sent(app, lead, monkeypatch):
    """Emptying the cache is a nicety: its failure never stands between a whole file and the
    marks that say its records were exported."""
    from sqlalchemy.engine import Connection
    from sqlalchemy.exc import OperationalError

    from kiosk.models import Signup

    real = Connection.exec_driver_sql

    def refusing(self, statement, *args, **kwargs):
        if "shrink_memory" in statement:
            raise OperationalError(statement, {}, Exception("disk I/O error"))
        return real(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "exec_driver_sql", refusing)
    with app.app_context():
        signups.record_signup(first_name="Jisoo", email="jisoo@example.org", consent=True)
        event_id = events.active_event().id
    response = lead.post("/lead/export", data={"event": event_id, "format": "csv"})
    assert b"@example.org" in response.get_data()
    with app.app_context():
        assert all(s.exported_revision == s.revision for s in db.session.scalars(select(Signup)))
