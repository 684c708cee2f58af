"""Restoring a backup: the copy put in place of this kiosk's database, then every erasure
this kiosk knows applied to it again, so a copy from before an erasure brings no one back.

Above services/backup.py (copies) and services/erasure.py (forgetting), which it joins.
"""

import sqlite3
from pathlib import Path

from sqlalchemy import select

from kiosk import schema
from kiosk.extensions import db
from kiosk.models import Event, Setting, Tombstone
from kiosk.services import erasure, tombstones
from kiosk.services.backup import (
    BackupError,
    check_kiosk_file,
    check_sqlite,
    refuse_while_served,
)


def restore_database(source: Path) -> erasure.Erased:
    """Put a backup in place of this kiosk's database, then re-apply every tombstone and
    every event erasure it knows, so the copy brings no one back. Stop `kiosk serve` first.

    Returns what the re-applied erasures removed from the restored copy. Refused while a
    `kiosk serve` holds the database: it would go on serving what it kept of the one before.
    """
    check_sqlite()
    check_kiosk_file(source)
    lock = refuse_while_served()
    try:
        return _restore(source)
    finally:
        if lock is not None:
            lock.close()  # type: ignore[attr-defined]  # an open file, typed as object


def _restore(source: Path) -> erasure.Erased:
    # A fresh instance has no tables yet: migrate it first, so it has (no) tombstones to read.
    schema.upgrade()
    # What this kiosk knows now, and the copy may not: tombstones, keys, erased events.
    stones = [
        {"scope": scope, "digest": digest, "request": request}
        for scope, digest, request in db.session.execute(
            select(Tombstone.scope, Tombstone.digest, Tombstone.request)
        )
    ]
    kiosk_key = db.session.get(Setting, tombstones.KIOSK_KEY_SETTING)
    kiosk_key_value = kiosk_key.value if kiosk_key is not None else None
    event_keys = dict(db.session.execute(select(Event.uuid, Event.erasure_key)).all())
    erased_events = set(db.session.scalars(select(Event.uuid).where(Event.erased_at.is_not(None))))
    # Records that reached an erased event after its erasure (a race) are still here, in no
    # export: the restore keeps them.
    spare = erasure.records_of_events(erased_events)
    db.session.remove()

    raw = db.engine.raw_connection()
    try:
        live = raw.driver_connection
        if not isinstance(live, sqlite3.Connection):
            raise BackupError("kiosk restore needs the sqlite3 driver.")
        with sqlite3.connect(source) as copy:
            copy.backup(live)
        copy.close()
    finally:
        raw.close()
    db.engine.dispose()
    schema.upgrade()  # a copy from before a migration gets today's schema
    db.session.commit()

    if kiosk_key_value is not None:
        setting = db.session.get(Setting, tombstones.KIOSK_KEY_SETTING)
        if setting is None:
            db.session.add(Setting(key=tombstones.KIOSK_KEY_SETTING, value=kiosk_key_value))
        else:
            setting.value = kiosk_key_value
    for event in db.session.scalars(select(Event)):
        event.erasure_key = event_keys.get(event.uuid, event.erasure_key)
    db.session.commit()
    tombstones.instance_key()  # there before erasing again (it commits when it makes one)
    tombstones.store(stones)
    db.session.flush()
    result = erasure.Erased()
    keys = [(event.uuid, event.erasure_key) for event in db.session.scalars(select(Event))]
    if kiosk_key_value is not None:
        keys.append((Tombstone.KIOSK, kiosk_key_value))
    for scope, key in keys:  # every request again: the copy may predate any of them
        result.add(erasure.forget_tombstoned(key, tombstones.requests_of(scope)))
    for event in db.session.scalars(select(Event).where(Event.uuid.in_(erased_events))):
        result.add(erasure.erase_again(event, spare))
    db.session.commit()
    erasure.after_erasure(result.forget)
    return result
