"""Configuration defaults, the KIOSK_* environment, and the instance's secret key."""

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from kiosk.parsing import NotANumber, parse_whole
from kiosk.paths import PACKAGE_DIR

DEFAULT_CONTENT = PACKAGE_DIR / "content" / "default"
# A day at most: the lead's Settings page narrows it further (20 s to an hour).
IDLE_SECONDS_RANGE = (1, 24 * 3600)


class ConfigError(Exception):
    """A KIOSK_* environment variable the kiosk cannot use, named with what is wrong."""


def defaults(instance_path: str) -> dict[str, Any]:
    """Settings that hold unless the environment or a test overrides them."""
    return {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(instance_path) / 'kiosk.db'}",
        "KIOSK_CONTENT": str(DEFAULT_CONTENT),
        "KIOSK_LOCALE": "en",
        "KIOSK_IDLE_SECONDS": 60,
        # The "Still there?" countdown runs inside the idle time, so a visitor
        # gets this many seconds of warning before the screen resets.
        "KIOSK_IDLE_COUNTDOWN": 10,
        # A thank-you screen goes back to the opener by itself after this many seconds;
        # the pledge's stays longer, so the visitor can scan its QR code.
        "KIOSK_THANKS_SECONDS": 8,
        "KIOSK_PLEDGE_THANKS_SECONDS": 45,
        # A tablet's request without an answer after this many seconds is sent again (same
        # idempotency key) once the kiosk answers: Wi-Fi that drops mid-request.
        "KIOSK_REQUEST_TIMEOUT_SECONDS": 10,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_TRANSLATION_DIRECTORIES": str(PACKAGE_DIR / "translations"),
        "MAX_CONTENT_LENGTH": 64 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # A CSRF token lives as long as the browser's session, not an hour: a kiosk left
        # open all day still takes a sign-up on the first try. The token is bound to the
        # session cookie (gone when the browser closes) and to the secret key.
        "WTF_CSRF_TIME_LIMIT": None,
    }


def from_environment() -> dict[str, Any]:
    """The documented KIOSK_* variables that are set in the environment."""
    names = {
        "KIOSK_DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
        "KIOSK_SECRET_KEY": "SECRET_KEY",  # nosec B105 # a config name, not a secret
        "KIOSK_CONTENT": "KIOSK_CONTENT",
        "KIOSK_LOCALE": "KIOSK_LOCALE",
    }
    found: dict[str, Any] = {
        name: os.environ[var] for var, name in names.items() if var in os.environ
    }
    if "KIOSK_IDLE_SECONDS" in os.environ:
        try:
            idle = parse_whole(os.environ["KIOSK_IDLE_SECONDS"], *IDLE_SECONDS_RANGE)
        except NotANumber as problem:
            raise ConfigError(f"KIOSK_IDLE_SECONDS: {problem}") from None
        found["KIOSK_IDLE_SECONDS"] = idle
    return found


def add_pack_translations(app: Flask) -> None:
    """A content pack folder may carry its own catalogues (`<pack>/translations/<code>/...`):
    a new language is then one folder. They load after the kiosk's own, so they win."""
    own = Path(app.config["KIOSK_CONTENT"]) / "translations"
    if own.is_dir():
        app.config["BABEL_TRANSLATION_DIRECTORIES"] = (
            f"{app.config['BABEL_TRANSLATION_DIRECTORIES']};{own}"
        )


def ensure_secret_key(app: Flask) -> None:
    """Use the configured key, or one generated once and kept in the instance folder.

    A key kept on disk survives restarts, so a visitor's half-filled form (and its
    CSRF token) stays valid when the kiosk is restarted mid-event.
    """
    if app.config.get("SECRET_KEY"):
        return
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    app.config["SECRET_KEY"] = key_file.read_text().strip()
