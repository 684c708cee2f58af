"""SQLite is durable and waits its turn; `kiosk serve` refuses an unsafe database, loudly;
`kiosk check` names everything that would make a deployment unsafe."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy import insert as sa_insert

from kiosk.extensions import db
from kiosk.models import Tally
from kiosk.services import events, lead_auth, safety

STRONG_KEY = "k" * 64


def database_file(app) -> Path:
    with app.app_context():
        return Path(db.engine.url.database)


def test_a_fresh_kiosk_database_passes_the_start_up_checks(app):
    with app.app_context():
        assert safety.database_problems() == []


def another_writer_can_begin(app) -> bool:
    other = sqlite3.connect(database_file(app), timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as error:
        assert "locked" in str(error)
        return False
    finally:
        other.close()


@pytest.mark.sqlite_only
def test_a_posted_request_takes_the_write_lock_when_its_transaction_begins(app):
    with app.test_request_context("/signup", method="POST"):
        db.session.scalar(select(func.count()).select_from(Tally))  # a read opens it
        assert not another_writer_can_begin(app)
        db.session.rollback()
        assert another_writer_can_begin(app)  # free again once the transaction ended


@pytest.mark.sqlite_only
def test_a_get_request_reads_without_holding_up_writers(app):
    with app.test_request_context("/lead/export", method="GET"):
        db.session.scalar(select(func.count()).select_from(Tally))
        assert another_writer_can_begin(app)
        db.session.rollback()


@pytest.fixture
def weaken(app):
    """Run a PRAGMA on every new connection, after the kiosk's own settings."""
    added = []

    def apply(statement: str) -> None:
        def listener(dbapi_connection, _record):
            dbapi_connection.execute(statement)

        with app.app_context():
            db.engine.dispose()
            event.listen(db.engine, "connect", listener)
            added.append(listener)

    yield apply
    with app.app_context():
        for listener in added:
            event.remove(db.engine, "connect", listener)
        db.engine.dispose()


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("PRAGMA synchronous=NORMAL", "synchronous"),
        ("PRAGMA busy_timeout=100", "busy_timeout"),
        ("PRAGMA journal_mode=DELETE", "journal_mode"),
        ("PRAGMA foreign_keys=OFF", "foreign_keys"),
    ],
)
def test_kiosk_serve_refuses_to_start_loudly_when_a_pragma_is_wrong(
    runner, weaken, monkeypatch, statement, named
):
    served = []
    monkeypatch.setattr("waitress.serve", lambda app, **kw: served.append(app))
    weaken(statement)
    result = runner.invoke(args=["serve", "--port", "8119"])
    assert result.exit_code == 1
    assert "REFUSING TO START" in result.output and named in result.output
    assert served == []


def damage_a_page_deep_in_an_index(app) -> None:
    """Damage a leaf page of the tallies' UUID index, far from its first one: only a check
    reading every page finds it (nothing at start looks a tally up by its UUID)."""
    path = database_file(app)
    with app.app_context():
        event_id = events.active_event().id
        taps = [{"event_id": event_id, "kind": Tally.OPENER, "key": "people"}] * 3000
        db.session.execute(sa_insert(Tally), taps)
        db.session.commit()
        db.engine.dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        [index] = [
            name
            for _, name, *_ in connection.execute("PRAGMA index_list(tally)")
            if [c[2] for c in connection.execute(f"PRAGMA index_info({name})")] == ["uuid"]
        ]
        pages = connection.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
            (index,),
        ).fetchall()
    assert len(pages) > 3
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    start = (pages[-1][0] - 1) * page_size
    data[start : start + 12] = b"\x0d" + b"\xff" * 11
    path.write_bytes(bytes(data))


@pytest.mark.sqlite_only
def test_a_damaged_database_file_is_found_once_the_kiosk_serves_and_refuses_writes(
    app, runner, monkeypatch
):
    """The start reads a few pages; the full check reads the rest once the kiosk serves, and
    what it finds stops the sign-ups as a refused start did (and `kiosk check` finds it)."""
    served, checks = [], []
    monkeypatch.setattr("waitress.serve", lambda app, **kw: served.append(app))
    real_check = safety.check_fully_in_background
    monkeypatch.setattr(
        safety, "check_fully_in_background", lambda app: checks.append(real_check(app))
    )
    damage_a_page_deep_in_an_index(app)
    result = runner.invoke(args=["serve", "--port", "8119"])
    assert result.exit_code == 0, result.output
    assert served == [app] and len(checks) == 1
    checks[0].join(timeout=30)
    with app.test_request_context():
        problem = safety.database_file_problem()
    assert problem and "damaged" in problem
    assert "quick_check" in problem or "malformed" in problem
    response = app.test_client().post("/opener", data={"choice": "people"})
    assert response.status_code == 503
    assert app.test_client().get("/healthz").status_code == 503
    checked = runner.invoke(args=["check"])
    assert checked.exit_code != 0
    assert "quick_check" in checked.output or "malformed" in checked.output


@pytest.mark.sqlite_only
def test_kiosk_serve_refuses_a_database_file_whose_first_page_is_damaged(app, runner, monkeypatch):
    monkeypatch.setattr("waitress.serve", lambda app, **kw: pytest.fail("served"))
    path = database_file(app)
    with app.app_context():
        db.engine.dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[:16] = b"not a database!\x00"
    path.write_bytes(bytes(data))
    result = runner.invoke(args=["serve", "--port", "8119"])
    assert result.exit_code == 1
    assert "REFUSING TO START" in result.output and "not a database" in result.output


def bytes_read_by_this_process() -> int:
    """rchar: every byte this process read through read()/pread(), SQLite's pages among them
    (from the disk or the page cache alike: a count, not a time)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.sqlite_only
def test_the_start_up_check_reads_as_much_of_a_large_database_as_of_a_small_one(app):
    """Issue 21.4: every start ran quick_check over the whole file (+1 s at 360 MB). The
    start's checks now read the same few pages however large the file grows."""
    from bench.export_probe import batched, signup_rows
    from kiosk import cli
    from kiosk.models import Signup

    statements: list[str] = []

    def read_by_a_start() -> int:
        with app.app_context():
            db.engine.dispose()  # fresh connections: no page already in a connection's cache
            event.listen(db.engine, "before_cursor_execute", note)
            before = bytes_read_by_this_process()
            try:
                cli.refuse_unsafe_database()
                cli.prepare_database()
            finally:
                event.remove(db.engine, "before_cursor_execute", note)
            return bytes_read_by_this_process() - before

    def note(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    small = read_by_a_start()
    with app.app_context():
        event_id = events.active_event().id
        for batch in batched(signup_rows(event_id, 20_000, ["team"]), 5000):
            db.session.execute(sa_insert(Signup), batch)
        db.session.commit()
        db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.remove()
    grown = database_file(app).stat().st_size
    assert grown > 8_000_000
    large = read_by_a_start()
    assert large - small < 256 * 1024, (small, large, grown)
    assert not [s for s in statements if "quick_check" in s or "integrity_check" in s]


def ready_for_the_table(app) -> None:
    app.config["SECRET_KEY"] = STRONG_KEY
    with app.app_context():
        lead_auth.set_passphrase("a long enough passphrase", actor="test")


def test_kiosk_check_passes_a_safe_deployment(app, runner):
    ready_for_the_table(app)
    result = runner.invoke(args=["check"])
    assert result.exit_code == 0, result.output
    assert "UNSAFE" not in result.output and "OK" in result.output


def test_kiosk_check_names_debug_mode(app, runner, monkeypatch):
    ready_for_the_table(app)
    monkeypatch.setenv("FLASK_DEBUG", "1")
    result = runner.invoke(args=["check"])
    assert result.exit_code == 1 and "Debug mode is on" in result.output


@pytest.mark.parametrize("key", ["", "test-secret", "short"])
def test_kiosk_check_names_a_missing_example_or_short_secret_key(app, runner, key):
    ready_for_the_table(app)
    app.config["SECRET_KEY"] = key
    result = runner.invoke(args=["check"])
    assert result.exit_code == 1 and "secret key" in result.output


def test_kiosk_check_names_a_secret_key_file_others_can_read(app, runner):
    ready_for_the_table(app)
    key_file = Path(app.instance_path) / "secret_key"
    key_file.write_text(STRONG_KEY)
    key_file.chmod(0o644)
    result = runner.invoke(args=["check"])
    assert result.exit_code == 1 and "chmod 600" in result.output


def test_kiosk_check_names_a_missing_lead_passphrase(app, runner):
    app.config["SECRET_KEY"] = STRONG_KEY
    result = runner.invoke(args=["check"])
    assert result.exit_code == 1 and "passphrase" in result.output


@pytest.mark.sqlite_only
def test_kiosk_check_names_wrong_pragmas(app, runner, weaken):
    ready_for_the_table(app)
    weaken("PRAGMA synchronous=OFF")
    result = runner.invoke(args=["check"])
    assert result.exit_code == 1 and "synchronous" in result.output


def test_kiosk_check_names_an_invalid_content_pack(tmp_path, copy_pack):
    pack = copy_pack(lambda text: text.replace("[org]", "[organisation]", 1))
    env = os.environ | {"KIOSK_INSTANCE": str(tmp_path / "inst"), "KIOSK_CONTENT": str(pack)}
    kiosk = Path(sys.executable).parent / "kiosk"
    result = subprocess.run(
        [kiosk, "check"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "content pack is invalid" in result.stderr and "en.toml" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.sqlite_only
def test_kiosk_check_names_database_files_other_users_can_read(app, runner):
    ready_for_the_table(app)
    path = database_file(app)
    path.chmod(0o644)
    result = runner.invoke(args=["check"])
    assert result.exit_code == 1
    assert f"chmod 600 {path}" in result.output


def test_kiosk_check_and_serve_say_where_their_database_is(app, runner):
    ready_for_the_table(app)
    result = runner.invoke(args=["check"])
    assert app.instance_path in result.output
    with app.app_context():
        assert db.engine.url.render_as_string(hide_password=True) in result.output


@pytest.mark.postgresql_only
def test_kiosk_check_on_postgresql_speaks_of_the_server_not_a_file(app, runner, dialect):
    ready_for_the_table(app)
    result = runner.invoke(args=["check"])
    assert result.exit_code == 0, result.output
    assert "PostgreSQL 1" in result.output and "migrations at head" in result.output
    assert "SQLite" not in result.output and "quick_check" not in result.output


def test_kiosk_check_names_a_schema_behind_head(app, runner):
    ready_for_the_table(app)
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = 'f27cab151a57'"))
        db.session.commit()
    result = runner.invoke(args=["check"])
    assert result.exit_code == 1 and "this kiosk needs" in result.output


def test_kiosk_check_with_the_postgresql_server_out_of_reach_says_so(tmp_path):
    from tests.postgres import free_port

    env = os.environ | {
        "KIOSK_INSTANCE": str(tmp_path / "inst"),
        "KIOSK_DATABASE_URL": f"postgresql+psycopg://kiosk@127.0.0.1:{free_port()}/kiosk",
        "KIOSK_SECRET_KEY": STRONG_KEY,
    }
    kiosk = Path(sys.executable).parent / "kiosk"
    result = subprocess.run(
        [kiosk, "check"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "cannot reach the PostgreSQL server" in result.stdout
    assert "no tables yet" not in result.stdout and "SQLite" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
