"""A consistent copy of the SQLite database, taken while the kiosk keeps running."""

import sqlite3
from datetime import datetime
from pathlib import Path

from kiosk.extensions import db


class BackupError(Exception):
    """The database can't be copied this way (for example, it isn't SQLite)."""


def backup_database(instance_path: str | Path, now: datetime | None = None) -> Path:
    """Copy the database into <instance>/backups/kiosk-YYYYmmdd-HHMMSS.db with sqlite3's
    backup API, which copies a consistent snapshot even while sign-ups are being written."""
    if db.engine.dialect.name != "sqlite":
        raise BackupError("kiosk backup copies SQLite databases; use pg_dump for PostgreSQL.")
    folder = Path(instance_path) / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
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
        copy.close()
    finally:
        raw.close()
    target.chmod(0o600)
    return target
