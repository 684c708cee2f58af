"""Run-time settings the team lead changes (PIN, idle timeout, retention), kept in the
database so every waitress thread and every restart sees the same value."""

from flask import current_app
from sqlalchemy import select

from kiosk import page_cache
from kiosk.extensions import db
from kiosk.models import Setting, utcnow
from kiosk.services.atomic import upsert

IDLE_SECONDS = "idle_seconds"
RETENTION_DAYS = "retention_days"
VOLUNTEER_PIN_HASH = "volunteer_pin_hash"

DEFAULT_RETENTION_DAYS = 90


def get_setting(key: str, default: str | None = None) -> str | None:
    value = db.session.scalar(select(Setting.value).where(Setting.key == key))
    return default if value is None else value


def set_setting(key: str, value: str) -> None:
    """Store `value` under `key`, whether or not it is there yet: one upsert, because two
    server processes may write the same setting at once (both print a first-run setup link
    when they start together on an empty hub database)."""
    upsert(
        Setting,
        {"key": key, "value": value, "updated_at": utcnow()},
        update=("value", "updated_at"),
    )
    db.session.commit()


def idle_seconds() -> int:
    """Seconds without a touch before a visitor screen starts over."""
    stored = get_setting(IDLE_SECONDS)
    return int(stored) if stored else int(current_app.config["KIOSK_IDLE_SECONDS"])


def shown_idle_seconds() -> int:
    """idle_seconds() as the visitor layout shows it on every screen: kept per process while
    no setting changes (a write to `setting` bumps the SETUP generation, in any process:
    kiosk/page_cache.py), so the screens rendered per visitor (the forms, the thank-yous)
    do not read the settings table on each render. The lead's form reads idle_seconds()."""
    return page_cache.remembered("idle_seconds", (page_cache.SETUP,), idle_seconds)


def retention_days() -> int:
    stored = get_setting(RETENTION_DAYS)
    return int(stored) if stored else DEFAULT_RETENTION_DAYS
