"""What would make a deployment unsafe: checked by `kiosk serve` (the database part, which
refuses to start) and reported in full by `kiosk check`."""

import contextlib
import functools
import os
import sqlite3
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import inspect, literal, select, table, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DatabaseError, SQLAlchemyError

from kiosk import memory
from kiosk.config import (
    KEY_FILE_NAME,
    SecretKeyError,
    kiosk_command,
    read_secret_key,
    sqlite_file,
)
from kiosk.extensions import SQLITE_BUSY_TIMEOUT_MS, db
from kiosk.schema import head_revision
from kiosk.services import lead_auth
from kiosk.services.database_health import database_cause

# synchronous=FULL is 2: a thanked-for sign-up survives a power cut.
SQLITE_SYNCHRONOUS_FULL = 2
# Keys a developer might paste from an example: never good enough for a kiosk in public.
KNOWN_WEAK_KEYS = {"", "dev", "secret", "changeme", "test-secret", "change-me"}
MIN_SECRET_KEY_LENGTH = 32


@dataclass
class DatabaseState:
    """What `kiosk check` and /healthz say about the database, in its engine's own terms."""

    dialect: str
    ok: bool = True
    facts: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # Unsafe, but no reason to refuse to serve: `kiosk check` reports them with the rest.
    advice: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.ok = False
        self.problems.append(problem)


def database_state(*, check: str = "", schema: bool = True) -> DatabaseState:
    """The database's connection, schema and writability; SQLite's file itself is checked
    with `check`: "full" reads every page (quick_check: `kiosk check`, and in the background
    once `kiosk serve` serves), "bounded" reads the header, the schema and each table's first
    pages, whatever the file's size (`kiosk serve` before it starts), "" not at all (/healthz).

    SQLite: the file's pragmas (WAL, synchronous FULL, busy timeout, foreign keys). PostgreSQL:
    the server's version, whether this connection may write (not a standby, not read-only),
    and whether it is encrypted when the server is on another machine. Both: the migrations
    at head. AUTOCOMMIT: the checks take no lock another connection could be waiting on.
    """
    state = DatabaseState(db.engine.dialect.name)
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if state.dialect == "postgresql":
                _postgresql_state(connection, state)
            elif state.dialect == "sqlite":
                _sqlite_state(connection, state, check=check)
            if schema:
                _schema_state(connection, state)
    except SQLAlchemyError as error:
        state.fail(database_cause(error))  # type: ignore[arg-type]  # the driver's errors: DBAPIError
    return state


# Where the identity (device, inode) of the SQLite file the kiosk opened is kept.
DATABASE_FILE_IDENTITY = "kiosk_database_file"


def database_path() -> Path | None:
    """The SQLite database file the kiosk uses; None on other engines."""
    return sqlite_file(current_app.config["SQLALCHEMY_DATABASE_URI"])


@functools.lru_cache(maxsize=8)
def _watched_file(database_uri: str) -> Path | None:
    """The database file every write request checks, worked out once per URI (resolving it
    each time was a tenth of a busy kiosk's time: bench/findings.md). Left unresolved:
    stat() follows its symlinks at each check, so a link pointed at another file is seen."""
    return sqlite_file(database_uri, resolve=False)


def remember_database_file() -> None:
    """Note which file the kiosk opens, so a deleted or replaced one is noticed later."""
    path = database_path()
    if path is None:
        return
    try:
        found = path.stat()
    except OSError:
        return
    current_app.extensions.setdefault(DATABASE_FILE_IDENTITY, (found.st_dev, found.st_ino))


def database_file_problem() -> str | None:
    """Whether the SQLite file at the database's path is still the one the kiosk opened.

    A deleted file stays readable and writable through the connections that have it open,
    so every sign-up would be thanked for and then vanish with the last connection. Damage
    that the full check found once the kiosk served (check_fully_in_background) is a
    problem of the file too.
    """
    damage = current_app.extensions.get(DATABASE_DAMAGE)
    if damage:
        return damage
    path = _watched_file(current_app.config["SQLALCHEMY_DATABASE_URI"])
    opened = current_app.extensions.get(DATABASE_FILE_IDENTITY)
    if path is None or opened is None:
        return None
    try:
        found = path.stat()
    except FileNotFoundError:
        return (
            f"The database file {path} was deleted while the kiosk was running: nothing "
            "can be saved. Stop the kiosk, put the file back (a copy is in the instance "
            "folder's backups/) and start it again."
        )
    except OSError as error:
        return f"The database file {path} cannot be reached: {error.strerror}"
    if (found.st_dev, found.st_ino) != opened:
        return (
            f"The database file {path} was replaced while the kiosk was running: "
            "restart the kiosk so it uses the new file."
        )
    return None


def database_write_problem() -> str | None:
    """Whether the database takes writes: a no-op UPDATE, rolled back, tells honestly
    (a read-only file or file system, a read-only PostgreSQL transaction or standby)."""
    try:
        with db.engine.connect() as connection:
            transaction = connection.begin()
            try:
                # A new database has no tables yet: the migrations write to it first, loudly.
                if inspect(connection).has_table("alembic_version"):
                    update = "UPDATE alembic_version SET version_num = version_num"
                    connection.execute(text(update))
            finally:
                transaction.rollback()
    except DatabaseError as error:
        return database_cause(error)
    return None


def _schema_state(connection: Connection, state: DatabaseState) -> None:
    head = head_revision()
    try:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DatabaseError:
        revision = None
    state.facts |= {"revision": revision, "head": head, "at_head": revision == head}
    if revision is None:
        state.fail("The database has no kiosk tables yet: start the kiosk once (`kiosk serve`)")
    elif revision != head:
        state.fail(
            f"The database's schema is at {revision}, this kiosk needs {head}: "
            "run `kiosk serve` once to migrate it"
        )


def _postgresql_state(connection: Connection, state: DatabaseState) -> None:
    version = connection.execute(text("SHOW server_version")).scalar()
    read_only = connection.execute(text("SHOW transaction_read_only")).scalar() == "on"
    standby = bool(connection.execute(text("SELECT pg_is_in_recovery()")).scalar())
    encrypted = bool(
        connection.execute(
            text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ).scalar()
    )
    host = _postgresql_host(connection)
    local = host in ("", "localhost", "127.0.0.1", "::1") or host.startswith("/")
    state.facts |= {
        "server_version": version,
        "writable": not (read_only or standby),
        "host": host or "local socket",
        "encrypted": encrypted,
    }
    if standby:
        state.fail("The PostgreSQL server is a standby (in recovery): it accepts no writes")
    elif read_only:
        state.fail("The PostgreSQL connection is read-only (default_transaction_read_only)")
    if not local and not encrypted:
        state.advice.append(
            f"The connection to the PostgreSQL server at {host} is not encrypted: "
            "add ?sslmode=require (or verify-full) to KIOSK_DATABASE_URL"
        )


def _postgresql_host(connection: Connection) -> str:
    """The server's host as the URL names it (a unix socket's folder starts with /)."""
    url = connection.engine.url
    host = url.host or str(url.query.get("host", "") or "")
    return host if isinstance(host, str) else ""


def _sqlite_state(connection: Connection, state: DatabaseState, *, check: str) -> None:
    state.facts["file"] = connection.engine.url.database
    state.problems += _sqlite_problems(connection, check=check)
    state.ok = not state.problems


def database_problems() -> list[str]:
    """What makes the database unsafe to take sign-ups, in its engine's terms; [] when sound:
    the SQLite file gone or replaced, the engine's own settings (SQLite's pragmas and the
    bounded check of its file; a PostgreSQL standby or read-only connection), writes refused.

    Checked by `kiosk serve` before it migrates: the schema is not looked at here. Its cost
    does not grow with the file: the full check runs once the kiosk serves.
    """
    file_problem = database_file_problem()
    if file_problem:
        return [file_problem]
    state = database_state(check="bounded", schema=False)
    if not state.ok:
        return state.problems
    write_problem = database_write_problem()
    return [write_problem] if write_problem else []


def _sqlite_problems(connection: Connection, *, check: str) -> list[str]:

    def pragma(name: str) -> object:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

    problems = []
    if str(pragma("journal_mode")).lower() != "wal":
        problems.append(f"SQLite journal_mode is {pragma('journal_mode')!r}, not 'wal'")
    if pragma("synchronous") != SQLITE_SYNCHRONOUS_FULL:
        problems.append(f"SQLite synchronous is {pragma('synchronous')}, not 2 (FULL)")
    if int(str(pragma("busy_timeout") or 0)) < SQLITE_BUSY_TIMEOUT_MS:
        problems.append(
            f"SQLite busy_timeout is {pragma('busy_timeout')} ms, under {SQLITE_BUSY_TIMEOUT_MS} ms"
        )
    if pragma("foreign_keys") != 1:
        problems.append("SQLite foreign_keys is off")
    try:
        if check == "full":
            checks = [row[0] for row in connection.exec_driver_sql("PRAGMA quick_check")]
            # It read every page once: they need not stay in this pooled connection's cache.
            memory.shrink_sqlite_cache(connection)
        elif check == "bounded":
            checks = _bounded_check(connection)
        else:
            checks = ["ok"]
    except DatabaseError as error:  # damage bad enough that the check itself cannot read on
        checks = [str(error.orig)]
    if checks != ["ok"]:
        found = "; ".join(map(str, checks[:5]))
        if check == "full":
            problems.append(f"SQLite quick_check found damage: {found}")
        else:
            problems.append(f"SQLite found damage reading the file's first pages: {found}")
    return problems


def _bounded_check(connection: Connection) -> list[str]:
    """What SQLite finds reading the file's header, its schema and each table's first rows:
    a few pages, whatever the file's size (quick_check reads every page: 1 s at 360 MB, on
    every start). A file damaged further in is found by the full check in the background."""
    tables = connection.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).scalars()
    for name in list(tables):
        # A row exists or not: SQLite reads from the table's root down to its first leaf.
        connection.execute(select(literal(1)).select_from(table(name)).limit(1)).all()
    return ["ok"]


# Where the full check's finding on a served kiosk's SQLite file is kept (app.extensions).
DATABASE_DAMAGE = "kiosk_database_damage"


def full_check() -> str | None:
    """SQLite's quick_check over the whole file, on a connection of its own that takes no
    lock; what it found, or None when the file is sound (or no SQLite file)."""
    if db.engine.dialect.name != "sqlite":
        return None  # PostgreSQL checks its own pages
    state = database_state(check="full", schema=False)
    damage = [p for p in state.problems if p.startswith("SQLite quick_check")]
    if not state.ok and not damage:  # it could not even read on: the cause names it
        damage = state.problems
    return "; ".join(damage) or None


def check_fully_in_background(app: Flask) -> threading.Thread:
    """Run full_check once `kiosk serve` serves: a damaged file found by it refuses writes
    from then on (database_file_problem) and /healthz says so, as a start would have."""

    def run() -> None:
        with app.app_context():
            try:
                damage = full_check()
            except Exception:  # noqa: BLE001  # a check that fails is said, never fatal to serving
                app.logger.exception("The full check of the database file could not run")
                return
            if damage:
                app.extensions[DATABASE_DAMAGE] = (
                    f"The database file is damaged ({damage}): nothing more can be saved "
                    "safely. Stop the kiosk and put back a copy from the instance folder's "
                    f"backups/ (`{kiosk_command('restore')}`)."
                )
                app.logger.error("DATABASE FILE PROBLEM: %s", app.extensions[DATABASE_DAMAGE])
            db.session.remove()

    thread = threading.Thread(target=run, name="kiosk-full-check", daemon=True)
    thread.start()
    return thread


def secret_key_problems() -> list[str]:
    key = current_app.config.get("SECRET_KEY") or ""
    problems = []
    if key in KNOWN_WEAK_KEYS or len(key) < MIN_SECRET_KEY_LENGTH:
        problems.append(
            "The secret key is missing, a known example or shorter than "
            f"{MIN_SECRET_KEY_LENGTH} characters: delete it to have one generated, "
            "or set KIOSK_SECRET_KEY"
        )
    return problems


def secret_key_file_problem() -> str | None:
    """Whether the key file still holds the key the kiosk runs with (the next start reads it)."""
    if not current_app.config.get("SECRET_KEY"):
        return "The kiosk has no secret key: set KIOSK_SECRET_KEY or let it write one"
    key_file = current_app.config.get("KIOSK_SECRET_KEY_FILE")
    if not key_file:
        return None
    try:
        on_disk = read_secret_key(Path(key_file))
    except SecretKeyError as error:
        return str(error)
    if on_disk != current_app.config["SECRET_KEY"]:
        return f"The secret key file {key_file} changed since the kiosk started: restart it"
    return None


def private_files() -> list[Path]:
    """The files that hold people's data or the key: the database (with its -wal and -shm),
    its backups and the secret key."""
    instance = Path(current_app.instance_path)
    files = [instance / KEY_FILE_NAME]
    path = database_path()
    if path is not None:
        files += [path, *(path.with_name(path.name + end) for end in ("-wal", "-shm", "-journal"))]
    backups = instance / "backups"
    if backups.is_dir():
        files += sorted(backups.iterdir())
    return files


def file_mode_problems() -> list[str]:
    """Every private file that users other than the kiosk's own can read or change."""
    problems = []
    for path in private_files():
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and mode & (stat.S_IRWXG | stat.S_IRWXO):
            problems.append(f"{path} can be read by other users: chmod 600 {path}")
    return problems


def lead_problems() -> list[str]:
    try:
        has_passphrase = lead_auth.has_passphrase()
    except DatabaseError:
        db.session.rollback()
        return [
            f"The database has no tables yet: start the kiosk once (`{kiosk_command('serve')}`)"
        ]
    if not has_passphrase:
        return [f"No team-lead passphrase is set: run `{kiosk_command('passphrase')}`"]
    return []


# Personal columns of each kind that a backup made before sealing holds in clear (the
# emails were sealed after the other fields: a backup of that time holds them in clear).
_CLEAR_PROBES = (
    ("signup", ("first_name", "email")),
    ("pledge", ("name", "email")),
    ("question", ("text", "email")),
    ("press_request", ("name", "email")),
)


def _clear_where(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"({c} <> '' AND {c} NOT LIKE 'nacl1:%')" for c in columns)


def clear_backup_problems() -> list[str]:
    """Backups in the instance folder made before personal data was sealed (they still hold
    names, emails and questions in clear): `kiosk check` names them, to be deleted."""
    problems = []
    for path in sorted((Path(current_app.instance_path) / "backups").glob("*.db")):
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as copy:
                tables = {r[0] for r in copy.execute("SELECT name FROM sqlite_master")}
                clear = 0
                for table, columns in _CLEAR_PROBES:
                    held = {row[1] for row in copy.execute(f"PRAGMA table_info({table})")}
                    if table in tables and (present := tuple(c for c in columns if c in held)):
                        clear += copy.execute(
                            f"SELECT count(*) FROM {table} "  # noqa: S608  # nosec B608 # fixed names
                            f"WHERE {_clear_where(present)}"
                        ).fetchone()[0]
        except sqlite3.Error:
            continue
        if clear:
            problems.append(
                f"{path} was made before personal data was sealed and holds {clear} record(s) "
                "in clear: delete it (and its copies) once a newer backup exists"
            )
    return problems


def deployment_problems() -> list[str]:
    """Everything `kiosk check` reports; the content pack was already validated by create_app."""
    problems = []
    if current_app.debug:
        problems.append("Debug mode is on (FLASK_DEBUG): it shows tracebacks to visitors")
    problems += secret_key_problems()
    problems += file_mode_problems()
    file_problem = database_file_problem()
    if file_problem:
        problems.append(file_problem)
    state = database_state(check="full")
    problems += state.problems + state.advice
    if state.ok:
        write_problem = database_write_problem()
        if write_problem:
            problems.append(write_problem)
        problems += lead_problems()
    problems += clear_backup_problems()
    return problems
