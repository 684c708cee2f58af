"""What would make a deployment unsafe: checked by `kiosk serve` (the database part, which
refuses to start) and reported in full by `kiosk check`."""

import stat
from pathlib import Path

from flask import current_app
from sqlalchemy.exc import DatabaseError

from kiosk.extensions import SQLITE_BUSY_TIMEOUT_MS, db
from kiosk.services import lead_auth

# synchronous=FULL is 2: a thanked-for sign-up survives a power cut.
SQLITE_SYNCHRONOUS_FULL = 2
# Keys a developer might paste from an example: never good enough for a kiosk in public.
KNOWN_WEAK_KEYS = {"", "dev", "secret", "changeme", "test-secret", "change-me"}
MIN_SECRET_KEY_LENGTH = 32


def database_problems() -> list[str]:
    """SQLite's durability and concurrency settings and its own quick check; [] when sound."""
    if db.engine.dialect.name != "sqlite":
        return []
    try:
        return _sqlite_problems()
    except DatabaseError as error:
        return [f"SQLite cannot read the database: {error.orig}"]


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
    key_file = Path(current_app.instance_path) / "secret_key"
    if key_file.exists() and key_file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        problems.append(f"{key_file} can be read by other users: chmod 600 {key_file}")
    return problems


def lead_problems() -> list[str]:
    try:
        has_passphrase = lead_auth.has_passphrase()
    except DatabaseError:
        db.session.rollback()
        return ["The database has no tables yet: start the kiosk once (`kiosk serve`)"]
    if not has_passphrase:
        return ["No team-lead passphrase is set: run `kiosk passphrase`"]
    return []


def deployment_problems() -> list[str]:
    """Everything `kiosk check` reports; the content pack was already validated by create_app."""
    problems = []
    if current_app.debug:
        problems.append("Debug mode is on (FLASK_DEBUG): it shows tracebacks to visitors")
    problems += secret_key_problems()
    problems += database_problems()
    problems += lead_problems()
    return problems
