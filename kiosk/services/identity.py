"""This kiosk's id: a random UUID, one per kiosk database, made the first time something
may be written and kept in a setting. Each record stores it when it is made (the column's
default reads the setting in the INSERT itself: models.FromKiosk), so after a merge the
lead sees how many records came from each kiosk. Several server processes on one hub
database are one kiosk: they share the setting.
"""

import uuid

from flask import Flask, current_app
from sqlalchemy.exc import IntegrityError

from kiosk.extensions import db
from kiosk.models import KIOSK_ID_SETTING, Setting
from kiosk.write_queue import may_write

_KNOWN = "kiosk_id_known"


def kiosk_id() -> str:
    """This kiosk's id, made (and committed) the first time it is asked for; call it before
    writing anything else. Two processes may make it at once: the first one stays."""
    stored = db.session.get(Setting, KIOSK_ID_SETTING)
    if stored is not None:
        return stored.value
    db.session.add(Setting(key=KIOSK_ID_SETTING, value=str(uuid.uuid4())))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another process made it first: use theirs
    return db.session.get(Setting, KIOSK_ID_SETTING, populate_existing=True).value


def _before_a_write() -> None:
    """The id is there before the first request that may store a record (once per app)."""
    app = current_app
    if app.extensions.get(_KNOWN) or not may_write():
        return
    kiosk_id()
    app.extensions[_KNOWN] = True


def init_app(app: Flask) -> None:
    app.before_request(_before_a_write)
