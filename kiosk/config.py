"""Configuration defaults, the KIOSK_* environment, and the instance's secret key."""

import errno
import os
import secrets
import shlex
import sys
from pathlib import Path
from typing import Any

from flask import Flask, current_app, request
from sqlalchemy.engine import make_url

from kiosk.parsing import NotANumber, parse_whole
from kiosk.paths import PACKAGE_DIR, TRANSLATIONS_DIR

DEFAULT_CONTENT = PACKAGE_DIR / "content" / "default"
# A day at most: the lead's Settings page narrows it further (20 s to an hour).
IDLE_SECONDS_RANGE = (1, 24 * 3600)
# Whole numbers read from the environment, with the values they may take.
WHOLE_SETTINGS = {
    "KIOSK_IDLE_SECONDS": IDLE_SECONDS_RANGE,
    "KIOSK_VOLUNTEER_IDLE_SECONDS": IDLE_SECONDS_RANGE,
    "KIOSK_REQUEST_READ_SECONDS": (1, 3600),
    "KIOSK_CONNECTION_LIMIT": (10, 100_000),
}


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
        # An open volunteer screen left alone this long locks itself (server and tablet).
        "KIOSK_VOLUNTEER_IDLE_SECONDS": 300,
        "KIOSK_PLEDGE_THANKS_SECONDS": 45,
        # The lead's dashboard asks for its figures again this often (a browser test shortens
        # it to see several refreshes in a few seconds).
        "KIOSK_DASHBOARD_REFRESH_SECONDS": 5,
        # A tablet's request without an answer after this many seconds is sent again (same
        # idempotency key) once the kiosk answers: Wi-Fi that drops mid-request.
        "KIOSK_REQUEST_TIMEOUT_SECONDS": 10,
        # The server's side (kiosk/serving.py): a request must arrive whole within this many
        # seconds of its first byte, and an answer be taken as fast, or the connection is
        # closed; at most this many connections, the longest-waiting closed first near it.
        "KIOSK_REQUEST_READ_SECONDS": 10,
        "KIOSK_CONNECTION_LIMIT": 1000,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_TRANSLATION_DIRECTORIES": str(TRANSLATIONS_DIR),
        "MAX_CONTENT_LENGTH": 64 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # A CSRF token lives as long as the browser's session, not an hour: a kiosk left
        # open all day still takes a sign-up on the first try. The token is bound to the
        # session cookie (gone when the browser closes) and to the secret key.
        "WTF_CSRF_TIME_LIMIT": None,
        # A hub behind a reverse proxy: the address people open (https:// makes every cookie
        # Secure) and the proxies whose X-Forwarded-For names the visitor (kiosk/proxies.py).
        "KIOSK_PUBLIC_URL": "",
        "KIOSK_TRUSTED_PROXIES": "",
    }


def from_environment() -> dict[str, Any]:
    """The documented KIOSK_* variables that are set in the environment."""
    names = {
        "KIOSK_DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
        "KIOSK_SECRET_KEY": "SECRET_KEY",  # nosec B105 # a config name, not a secret
        "KIOSK_CONTENT": "KIOSK_CONTENT",
        "KIOSK_LOCALE": "KIOSK_LOCALE",
        "KIOSK_PUBLIC_URL": "KIOSK_PUBLIC_URL",
        "KIOSK_TRUSTED_PROXIES": "KIOSK_TRUSTED_PROXIES",
        # Seconds between a table's sync rounds with its hub (services/sync.py).
        "KIOSK_SYNC_SECONDS": "KIOSK_SYNC_SECONDS",
        "KIOSK_SYNC_CHUNK_RECORDS": "KIOSK_SYNC_CHUNK_RECORDS",
        # The share of a hub's wall time its tables' chunks may use (kiosk/hub.py).
        "KIOSK_HUB_IMPORT_SHARE": "KIOSK_HUB_IMPORT_SHARE",
    }
    found: dict[str, Any] = {
        name: os.environ[var] for var, name in names.items() if var in os.environ
    }
    for name, (low, high) in WHOLE_SETTINGS.items():
        if name in os.environ:
            try:
                found[name] = parse_whole(os.environ[name], low, high)
            except NotANumber as problem:
                raise ConfigError(f"{name}: {problem}") from None
    return found


def add_pack_translations(app: Flask) -> None:
    """A content pack folder may carry its own catalogues (`<pack>/translations/<code>/...`):
    a new language is then one folder. They load after the kiosk's own, so they win."""
    own = Path(app.config["KIOSK_CONTENT"]) / "translations"
    if own.is_dir():
        app.config["BABEL_TRANSLATION_DIRECTORIES"] = (
            f"{app.config['BABEL_TRANSLATION_DIRECTORIES']};{own}"
        )


class SecretKeyError(RuntimeError):
    """The instance's secret key cannot be used: the kiosk must not start without one."""


KEY_FILE_NAME = "secret_key"


def ensure_secret_key(app: Flask) -> None:
    """Use the configured key, or one generated once and kept in the instance folder.

    A key kept on disk survives restarts, so a visitor's half-filled form (and its
    CSRF token) stays valid when the kiosk is restarted mid-event. The kiosk never runs
    with an empty key: a key file that is empty or unreadable stops it with the reason.
    """
    if app.config.get("SECRET_KEY"):
        return
    key_file = Path(app.instance_path) / KEY_FILE_NAME
    if not key_file.exists():
        write_secret_key(key_file)
    app.config["SECRET_KEY"] = read_secret_key(key_file)
    # /healthz checks that the file still holds the key the kiosk runs with.
    app.config["KIOSK_SECRET_KEY_FILE"] = str(key_file)


def read_secret_key(key_file: Path) -> str:
    """The key in `key_file`; SecretKeyError, naming the file and what to do, if none."""
    try:
        key = key_file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise SecretKeyError(
            f"The secret key file {key_file} cannot be read ({_reason(error)}). Fix its "
            "permissions, or restore it from a backup, or set KIOSK_SECRET_KEY."
        ) from error
    if not key:
        raise SecretKeyError(
            f"The secret key file {key_file} is empty (was the disk full when it was "
            "written?). If this kiosk never ran with a key, delete the file and start "
            "again to have one generated; otherwise restore it from a backup."
        )
    return key


def write_secret_key(key_file: Path) -> None:
    """Write a new key whole or not at all: a private temporary file, then a rename.

    A full disk leaves no key file rather than an empty one. When two processes start at
    once, the first key to land wins and the other process reads it.
    """
    partial = key_file.with_name(f".{key_file.name}.{os.getpid()}.partial")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            data = secrets.token_hex(32).encode("ascii")
            written = os.write(descriptor, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, "short write")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        try:
            os.link(partial, key_file)  # never replaces a key another process just wrote
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links (FAT): a rename is whole too
            os.replace(partial, key_file)
        _fsync_folder(key_file.parent)
    except OSError as error:
        raise SecretKeyError(
            f"Could not write a secret key to {key_file} ({_reason(error)}). "
            "Free some space on the disk (or fix the folder's permissions) and start again."
        ) from error
    finally:
        partial.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make a rename or link durable: the folder's entry is flushed too."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _reason(error: OSError | UnicodeDecodeError) -> str:
    return getattr(error, "strerror", None) or str(error)


def create_database_file(app: Flask) -> None:
    """Create a new SQLite database file readable by its owner only (0600).

    SQLite gives its -wal and -shm files the database file's permissions, so the whole
    database stays private; an existing file is left as it is (`kiosk check` names it).
    """
    path = sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    if path is None or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = os.umask(0o077)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    finally:
        os.umask(previous)


def sqlite_file(database_uri: str, *, resolve: bool = True) -> Path | None:
    """The file of a SQLite database URI; None for other engines and in-memory databases.
    With `resolve=False` the path is made absolute but its symlinks are left to follow."""
    url = make_url(database_uri)
    name = url.database or ""
    if url.get_backend_name() != "sqlite" or name in ("", ":memory:") or name.startswith("file:"):
        return None
    return Path(name).resolve() if resolve else Path(os.path.abspath(name))


def kiosk_command(words: str) -> str:
    """How to run `kiosk WORDS` here, as the README writes it (`.venv/bin/kiosk pin`), with
    the instance folder this kiosk uses when it is not the default one."""
    script = Path(sys.executable).parent / "kiosk"
    try:
        shown = str(script.relative_to(Path.cwd()))
    except ValueError:
        shown = str(script)
    instance = os.environ.get("KIOSK_INSTANCE")
    prefix = f"KIOSK_INSTANCE={shlex.quote(instance)} " if instance else ""
    return f"{prefix}{shlex.quote(shown)} {words}"


def for_the_engine(app: Flask) -> None:
    """Settings that follow from the configuration as a whole.

    - A hub's PostgreSQL server may restart (an upgrade, a failover): each connection is
      checked as it is taken from the pool, so the first request after that works.
    - Cookies are Secure when the configured public address is https://: decided by the
      configuration, never guessed from a request's headers.
    """
    uri = str(app.config.get("SQLALCHEMY_DATABASE_URI", ""))
    if uri.startswith("postgresql"):
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options.setdefault("pool_pre_ping", True)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    public_url = str(app.config.get("KIOSK_PUBLIC_URL") or "")
    if public_url and not public_url.startswith(("http://", "https://")):
        raise ConfigError(f"KIOSK_PUBLIC_URL: {public_url!r} does not start with https://")
    app.config["SESSION_COOKIE_SECURE"] = public_url.startswith("https://")


def secure_cookies() -> bool:
    """Whether cookies carry Secure: served over HTTPS (see for_the_engine)."""
    return bool(current_app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure
