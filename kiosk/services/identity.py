"""This kiosk's id: a random UUID, one per kiosk database, made when `kiosk serve` prepares
the database and kept in a setting. Each record stores it when it is made (the column's
default reads the setting in the INSERT itself: models.FromKiosk), so after a merge the
lead sees how many records came from each kiosk. Several server processes on one hub
database are one kiosk: they share the setting. Made at start-up, not at the first form:
a form that is refused changes nothing in the database.
"""

import uuid

from sqlalchemy.exc import IntegrityError

from kiosk.extensions import db
from kiosk.models import KIOSK_ID_SETTING, Setting


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
    return db.session.get_one(Setting, KIOSK_ID_SETTING, populate_existing=True).value
