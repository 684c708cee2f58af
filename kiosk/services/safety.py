"""What would make a deployment unsafe: checked by `kiosk serve` (the database part, which
refuses to start) and reported in full by `kiosk check`."""

import os
import stat
from pathlib import Path

from flask import current_app
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError

from kiosk.config import (
    KEY_FILE_NAME,
    SecretKeyError,
    kiosk_command,
    read_secret_key,
    sqlite_file,
)
from kiosk.errors import database_cause
from kiosk.extensions import SQLITE_BUSY_TIMEOUT_MS, db
from kiosk.services import lead_auth

# synchronous=FULL is 2: a thanked-for sign-up survives a power cut.
SQLITE_SYNCHRONOUS_FULL = 2
# Keys a developer might paste from an example: never good enough for a kiosk in public.
KNOWN_WEAK_KEYS = {"", "dev", "secret", "changeme", "test-secret", "change-me"}
MIN_SECRET_KEY_LENGTH = 32


# Where the identity (device, inode) of the SQLite file the kiosk opened is kept.
DATABASE_FILE_IDENTITY = "kiosk_database_file"


def database_problems() -> list[str]:
    """What would lose or refuse sign-ups: the database file gone or replaced, writes
    refused, and on SQLite its durability and concurrency settings and quick check."""
    problems = [problem for problem in (database_file_problem(),) if problem]
    if db.engine.dialect.name == "sqlite" and not problems:
        try:
            problems += _sqlite_problems()
        except DatabaseError as error:
            return [f"SQLite cannot read the database: {error.orig}"]
    write_problem = database_write_problem()
    if write_problem:
        problems.append(write_problem)
    return problems


def database_path() -> Path | None:
    """The SQLite database file the kiosk uses; None on other engines."""
    return sqlite_file(current_app.config["SQLALCHEMY_DATABASE_URI"])


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
    so every sign-up would be thanked for and then vanish with the last connection.
    """
    path = database_path()
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


def _sqlite_problems() -> list[str]:
    # AUTOCOMMIT: the checks take no lock, so another connection's transaction can't block them.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:

        def pragma(name: str) -> object:
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

        problems = []
        if str(pragma("journal_mode")).lower() != "wal":
            problems.append(f"SQLite journal_mode is {pragma('journal_mode')!r}, not 'wal'")
        if pragma("synchronous") != SQLITE_SYNCHRONOUS_FULL:
            problems.append(f"SQLite synchronous is {pragma('synchronous')}, not 2 (FULL)")
        if int(pragma("busy_timeout") or 0) < SQLITE_BUSY_TIMEOUT_MS:
            problems.append(
                f"SQLite busy_timeout is {pragma('busy_timeout')} ms, "
                f"under {SQLITE_BUSY_TIMEOUT_MS} ms"
            )
        if pragma("foreign_keys") != 1:
            problems.append("SQLite foreign_keys is off")
        checks = [row[0] for row in connection.exec_driver_sql("PRAGMA quick_check")]
        if checks != ["ok"]:
            problems.append("SQLite quick_check found damage: " + "; ".join(map(str, checks[:5])))
    return problems


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


def deployment_problems() -> list[str]:
    """Everything `kiosk check` reports; the content pack was already validated by create_app."""
    problems = []
    if current_app.debug:
        problems.append("Debug mode is on (FLASK_DEBUG): it shows tracebacks to visitors")
    problems += secret_key_problems()
    problems += file_mode_problems()
    problems += database_problems()
    problems += lead_problems()
    return problems
