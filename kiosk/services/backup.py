"""Copies of the database: backups, and forgetting in all of them.

A backup is a consistent copy of the SQLite database, taken while the kiosk keeps running.
Copies keep no one who was erased: every erasure and retention purge also rewrites the
backups in <instance>/backups/, and scrubs the live database's files. A backup from
elsewhere (a USB stick) can be restored (services/restore.py): the restore re-applies every
tombstone and every event erasure the kiosk knows, so it brings no one back.

PostgreSQL: `kiosk backup` refuses (use pg_dump), and scrub_database runs a plain VACUUM of
the personal tables. That makes the space of erased rows reusable; it does not overwrite
it. Erased rows can stay readable in the table files until the space is reused, and in the
server's WAL segments, base backups, replicas and pg_dump files until those are recycled or
deleted: a hub's operator must rotate them (VACUUM FULL would rewrite the tables, at the
cost of locking them, and still not reach WAL or backups).
"""

import fcntl
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kiosk import clock
from kiosk.emails import canonical_email
from kiosk.extensions import db
from kiosk.models import PERSONAL_MODELS

log = logging.getLogger(__name__)
CHECKPOINT_TRIES = 5


@dataclass
class Forget:
    """What copies of the database must forget after an erasure (services/erasure.py)."""

    emails: set[str] = field(default_factory=set)
    deleted: dict[str, set[str]] = field(default_factory=dict)  # table -> record UUIDs
    anonymised: set[str] = field(default_factory=set)  # pledge UUIDs
    tombstones: list[dict[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.emails or self.anonymised or any(self.deleted.values()))


class BackupError(Exception):
    """The database can't be copied this way (for example, it isn't SQLite)."""


# `kiosk serve` holds a shared lock on this file beside the SQLite database for as long as it
# runs; `kiosk restore` needs it exclusively, so it never swaps the database under a server
# that keeps pages, generations and open connections of the one before.
SERVING_LOCK_SUFFIX = ".serving"
_held: list[object] = []


def serving_lock_path() -> Path | None:
    database = db.engine.url.database if db.engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + SERVING_LOCK_SUFFIX)


def hold_serving_lock() -> None:
    """Called by `kiosk serve`: a shared lock (several servers may share one database)
    held until the process ends; the kernel lets it go even after kill -9."""
    path = serving_lock_path()
    if path is None:
        return
    handle = path.open("a")
    fcntl.flock(handle, fcntl.LOCK_SH)
    _held.append(handle)


def refuse_while_served() -> object | None:
    """The serving lock, held exclusively until the caller closes it (no server may start
    during the restore), or BackupError while a server holds it."""
    path = serving_lock_path()
    if path is None:
        return None
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise BackupError(
            "`kiosk serve` is running on this database: stop it first, then restore "
            "(nothing was changed)."
        ) from None
    return handle


def check_sqlite() -> None:
    if db.engine.dialect.name != "sqlite":
        raise BackupError("kiosk backup copies SQLite databases; use pg_dump for PostgreSQL.")


def backup_database(instance_path: str | Path, now: datetime | None = None) -> Path:
    """Copy the database into <instance>/backups/kiosk-YYYYmmdd-HHMMSS.db with sqlite3's
    backup API, which copies a consistent snapshot even while sign-ups are being written."""
    check_sqlite()
    folder = backups_folder(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (now or clock.local_now()).strftime("%Y%m%d-%H%M%S")
    target = folder / f"kiosk-{stamp}.db"
    suffix = 1
    while target.exists():
        suffix += 1
        target = folder / f"kiosk-{stamp}-{suffix}.db"
    raw = db.engine.raw_connection()
    try:
        source = raw.driver_connection
        if not isinstance(source, sqlite3.Connection):  # an assert would vanish under -O
            raise BackupError("kiosk backup needs the sqlite3 driver.")
        with sqlite3.connect(target) as copy:
            source.backup(copy)
            # A file on its own: no WAL beside it that could keep old pages.
            copy.execute("PRAGMA journal_mode=DELETE")
        copy.close()
    finally:
        raw.close()
    target.chmod(0o600)
    return target


def backups_folder(instance_path: str | Path) -> Path:
    return Path(instance_path) / "backups"


# ---- Leaving nothing readable ---------------------------------------------------------------


def scrub_database() -> None:
    """After an erasure: nothing erased stays readable in the database's files.

    SQLite: every connection runs with secure_delete on (extensions.py), so deleted rows and
    freed pages are overwritten with zeros where they lie; what remains is older copies of
    pages in the WAL, so the WAL is checkpointed into the database and truncated to nothing.
    No VACUUM: it would hold the write lock while it rewrites the whole file (seconds on a
    Pi, with sign-ups waiting), and secure_delete has already overwritten what it would
    drop. PostgreSQL: see this module's docstring.
    """
    # The caller committed: this thread's session holds no connection (nor its turn to write).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if connection.dialect.name == "sqlite":
            for attempt in range(CHECKPOINT_TRIES):
                busy, _log, _done = connection.exec_driver_sql(
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                ).one()
                if not busy:
                    return
                time.sleep(0.2 * (attempt + 1))
            log.warning(
                "After an erasure the WAL could not be truncated (readers kept it busy): "
                "erased data stays in it until the next checkpoint."
            )
        elif connection.dialect.name == "postgresql":
            for model in PERSONAL_MODELS:
                connection.exec_driver_sql(f"VACUUM {model.__tablename__}")  # nosec B608 # model names


def _tables(copy: sqlite3.Connection) -> set[str]:
    return {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _forget_in_file(copy: sqlite3.Connection, forget: Forget) -> int:
    """Apply an erasure to an open SQLite copy (any schema this kiosk ever had); how many
    records it changed."""
    tables = _tables(copy)
    changed = 0
    for model in PERSONAL_MODELS:
        table = model.__tablename__
        if table not in tables:
            continue
        uuids = set(forget.deleted.get(table, set()))
        anonymise = forget.anonymised if table == "pledge" else set()
        if forget.emails:
            query = f"SELECT uuid, email FROM {table}"  # noqa: S608  # nosec B608 # a model's table
            for uuid, email in copy.execute(query):
                if email and canonical_email(email) in forget.emails:
                    (anonymise if table == "pledge" else uuids).add(uuid)
        digests = {t["digest"] for t in forget.tombstones}
        columns = {row[1] for row in copy.execute(f"PRAGMA table_info({table})")}
        if digests and "email_digest" in columns:
            # Sealed emails: a record is its person's by the digest its event's tombstone is.
            query = f"SELECT uuid, email_digest FROM {table}"  # noqa: S608  # nosec B608 # a model's table
            for uuid, digest in copy.execute(query):
                if digest and digest in digests:
                    (anonymise if table == "pledge" else uuids).add(uuid)
        remove = f"DELETE FROM {table} WHERE uuid = ?"  # noqa: S608  # nosec B608 # a model's table
        for uuid in uuids:
            changed += copy.execute(remove, (uuid,)).rowcount
        for uuid in anonymise:
            changed += copy.execute(
                "UPDATE pledge SET name = '', email = '', consent_version = NULL, "
                "consent_text = NULL, consent_at = NULL WHERE uuid = ?",
                (uuid,),
            ).rowcount
    if "tombstone" in tables and forget.tombstones:
        columns = {row[1] for row in copy.execute("PRAGMA table_info(tombstone)")}
        if "request" in columns:
            copy.executemany(
                "INSERT OR IGNORE INTO tombstone (scope, digest, request, created_at) "
                "VALUES (?, ?, ?, CURRENT_TIMESTAMP)",
                [(t["scope"], t["digest"], t["request"]) for t in forget.tombstones],
            )
        else:  # a copy from before requests had names; a restore migrates it
            copy.executemany(
                "INSERT OR IGNORE INTO tombstone (scope, digest, created_at) "
                "VALUES (?, ?, CURRENT_TIMESTAMP)",
                [(t["scope"], t["digest"]) for t in forget.tombstones],
            )
    return changed


def forget_in_backups(instance_path: str | Path, forget: Forget) -> list[Path]:
    """Rewrite every backup in <instance>/backups/ so it keeps nothing of `forget`, and
    leaves nothing of it in its free pages either; the backups rewritten."""
    folder = backups_folder(instance_path)
    rewritten = []
    for path in sorted(folder.glob("*.db")) if folder.is_dir() else []:
        try:
            copy = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error:
            log.warning("Backup %s could not be opened to forget erased data.", path.name)
            continue
        try:
            copy.execute("PRAGMA journal_mode=DELETE")
            copy.execute("PRAGMA secure_delete=ON")
            copy.execute("BEGIN")
            changed = _forget_in_file(copy, forget)
            copy.execute("COMMIT")
            # A backup is not in use: rebuild it, so not even a freed page is left.
            copy.execute("VACUUM")
            if changed:
                rewritten.append(path)
        except sqlite3.Error:
            log.exception("Backup %s could not be rewritten to forget erased data.", path.name)
        finally:
            copy.close()
    return rewritten


def check_kiosk_file(source: Path) -> None:
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as copy:
            ok = copy.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            tables = _tables(copy)
        copy.close()
    except sqlite3.Error as error:
        raise BackupError(f"{source} is not a SQLite database ({error}).") from error
    if not ok or not {"event", "signup", "alembic_version"} <= tables:
        raise BackupError(f"{source} is not a backup of a Rescue Team Kiosk database.")
