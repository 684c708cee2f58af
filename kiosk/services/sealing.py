"""Personal data sealed at rest: what a visitor types is written sealed with the team's public
key, and only the team lead's passphrase (or the recovery code) opens it.

- Writing needs no secret. `seal(text)` is an X25519 sealed box (libsodium through PyNaCl) to
  the team's public key, a setting every kiosk of the team holds. Models mark their personal
  columns `SealedText`, which seals on every write, whoever writes: a visitor's form, the
  volunteer's paper entry, an import, a merge.
- The private key is never stored in clear. It is stored wrapped (a SecretBox) under keys
  derived from: the lead's passphrase (Argon2id, slow on purpose), the recovery code shown
  once at setup (random, 130 bits: a fast derivation is enough), and, before the lead has set
  a passphrase, the one-time setup secret printed by `kiosk serve` (random as well).
- Reading needs the opened private key. A lead session opens it at login and this process
  keeps it in memory under the session's server-side id (`remember`), bounded and dropped at
  logout and after the idle time; it never goes into a cookie or onto disk. A request reads
  through it inside `reading_with(key)`; without it, a sealed column reads as a `Sealed`
  value (the blob itself), which is written back unchanged, so a record read and saved
  without the key keeps its sealed fields as they were.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import nacl.exceptions
import nacl.hash
import nacl.pwhash
import nacl.secret
import nacl.utils
from flask import g, has_app_context
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey, PublicKey, SealedBox
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from kiosk import sealed_text
from kiosk.extensions import db
from kiosk.models import Setting
from kiosk.sealed_text import (
    PREFIX,
    SealedText,  # noqa: F401  # the models' column type, named here too
)
from kiosk.services.atomic import held_lock

PUBLIC_KEY = "team_public_key"
# The public key of the team this kiosk joined (a join file, a hub's join code): what it seals
# to from then on, so the lead who holds that team's key opens what this table takes. Its own
# key pair (PUBLIC_KEY and its wrapped copies) stays for what it sealed before it joined.
JOINED_KEY = "team_public_key_joined"
BY_PASSPHRASE = "team_key_by_passphrase"  # noqa: S105 (a setting key)  # nosec B105
BY_RECOVERY = "team_key_by_recovery"
BY_SETUP = "team_key_by_setup"
TEAM_KEY_LOCK = "kiosk: the team key is made"

# Argon2id for the passphrase's wrapping key: three passes over 64 MiB, argon2-cffi's
# defaults for the passphrase hash too (tests lower them: tests/conftest.py quick_argon2).
KDF_OPSLIMIT = 3
KDF_MEMLIMIT = 64 * 1024 * 1024
_KDF_AT_ONCE = threading.BoundedSemaphore(2)


class Sealed(str):
    """A sealed value read without the key: its blob, written back as it is."""

    __slots__ = ()


class WrongSecret(Exception):
    """The passphrase, recovery code or setup secret opens no copy of the key."""


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


# ---- Sealing and opening -------------------------------------------------------------


def seal(text: str, public: PublicKey | None = None) -> str:
    """`text` sealed to the team's public key: only its private key opens it. An empty value
    stays empty (that a phone was left out is not kept secret)."""
    if text == "" or is_sealed(text):
        return text
    box = SealedBox(public or public_key())
    return PREFIX + base64.b64encode(box.encrypt(text.encode("utf-8"))).decode("ascii")


def open_sealed(blob: str, key: PrivateKey) -> str:
    """The text `blob` holds, opened with the team's private key; clear values as they are."""
    if not is_sealed(blob):
        return blob
    raw = base64.b64decode(blob[len(PREFIX) :])
    return SealedBox(key).decrypt(raw).decode("utf-8")


_public_keys: dict[str, PublicKey] = {}
_public_lock = threading.Lock()


def public_key() -> PublicKey:
    """The team's public key, read once per database by each process.

    Read on the session's own connection (a second one would wait for the write lock this
    transaction may hold): it may run while a statement's values are being made ready.
    """
    url = str(db.engine.url)
    found = _public_keys.get(url)
    if found is not None:
        return found
    Setting = _setting()
    rows = db.session.connection().execute(
        select(Setting.key, Setting.value).where(Setting.key.in_((JOINED_KEY, PUBLIC_KEY)))
    )
    found_keys = {name: value for name, value in rows}
    stored = found_keys.get(JOINED_KEY) or found_keys.get(PUBLIC_KEY)
    if stored is None:
        raise RuntimeError("this kiosk has no team key yet: run `kiosk serve` or `kiosk check`")
    found = PublicKey(base64.b64decode(stored))
    with _public_lock:
        _public_keys[url] = found
    return found


def public_key_text() -> str:
    return base64.b64encode(bytes(public_key())).decode("ascii")


def own_public_key() -> PublicKey:
    """The public half of this kiosk's own key pair: the one its lead's passphrase, recovery
    code and setup secret wrap (a joined kiosk seals to the team's key instead)."""
    stored = _stored(PUBLIC_KEY)
    if stored is None:
        raise RuntimeError("this kiosk has no key pair yet: run `kiosk serve` or `kiosk check`")
    return PublicKey(base64.b64decode(stored))


def read_public_key_text(text: object) -> PublicKey:
    """A team public key as a file or code carries it (base64 of 32 bytes); ValueError else."""
    if not isinstance(text, str) or len(text) > 64:
        raise ValueError("not a team public key")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError as error:
        raise ValueError("not a team public key") from error
    if len(raw) != PublicKey.SIZE:
        raise ValueError("not a team public key")
    return PublicKey(raw)


def adopt_team_public_key(text: str) -> bool:
    """Seal to the team's public key `text` from now on (this kiosk joined its event): whether
    that changed anything. Not committed. ValueError when `text` is not a public key."""
    key = read_public_key_text(text)
    if bytes(key) == bytes(public_key()):
        return False
    _put(JOINED_KEY, _b64(bytes(key)))
    db.session.flush()
    forget_public_key()
    return True


def seals_to_a_joined_key() -> bool:
    """Whether this kiosk joined an event and seals to that team's key, which its own lead's
    passphrase does not open (what it takes opens on the hub or the kiosk that made the join)."""
    stored = _stored(JOINED_KEY)
    return stored is not None and stored != _stored(PUBLIC_KEY)


def forget_public_key() -> None:
    """Read the public key afresh (after a new key was made for this database)."""
    _public_keys.pop(str(db.engine.url), None)


# ---- Reading through an opened key -----------------------------------------------------

_reading: ContextVar[PrivateKey | None] = ContextVar("kiosk_sealed_reading", default=None)


def opened_key() -> PrivateKey | None:
    """The private key this request or command reads through, if it opened one: a lead
    request's (kept on `g` for the request, streamed responses included), else the one of
    the `reading_with` block around this code."""
    if has_app_context() and g.get("sealed_key") is not None:
        return g.sealed_key
    return _reading.get()


@contextmanager
def reading_with(key: PrivateKey | None) -> Iterator[None]:
    """Sealed columns read in clear inside this block (with `key`), else as `Sealed`."""
    token = _reading.set(key)
    try:
        yield
    finally:
        _reading.reset(token)


def clear(value: str | None) -> str | None:
    """A value read from a sealed column, opened with the key in use, if any."""
    if value is None or not is_sealed(value):
        return value
    key = opened_key()
    if key is None:
        return Sealed(value)
    try:
        return open_sealed(value, key)
    except (nacl.exceptions.CryptoError, ValueError):
        return Sealed(value)  # sealed to another key, or typed to look sealed


# The models' personal columns seal and open through these (kiosk/sealed_text.py). Looked up
# when called, so a test that replaces `clear` or `seal` here is heard.
def _seal_field(text: str) -> str:
    return seal(text)


def _clear_field(value: str) -> str:
    return clear(value) or ""


sealed_text.use(_seal_field, _clear_field)


# ---- The wrapped private key ---------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _fast_key(secret: str, salt: bytes) -> bytes:
    """The wrapping key of a random secret (setup secret, recovery code): no guessing to slow."""
    return nacl.hash.blake2b(
        secret.strip().upper().replace("-", "").encode(),
        key=salt,
        digest_size=32,
        encoder=RawEncoder,
    )


def _slow_key(passphrase: str, salt: bytes, ops: int, mem: int) -> bytes:
    with _KDF_AT_ONCE:
        return nacl.pwhash.argon2id.kdf(
            nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit=ops, memlimit=mem
        )


def _wrap(key: PrivateKey, secret: str, slow: bool) -> str:
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    if slow:
        ops, mem = KDF_OPSLIMIT, KDF_MEMLIMIT
        wrapping = _slow_key(secret, salt, ops, mem)
        kdf = {"kdf": "argon2id", "ops": ops, "mem": mem}
    else:
        wrapping = _fast_key(secret, salt)
        kdf = {"kdf": "blake2b"}
    box = nacl.secret.SecretBox(wrapping).encrypt(bytes(key))
    return json.dumps({"v": 1, **kdf, "salt": _b64(salt), "box": _b64(box)})


def _unwrap(stored: str | None, secret: str) -> PrivateKey:
    if not stored or not secret:
        raise WrongSecret
    wrapped = json.loads(stored)
    salt = base64.b64decode(wrapped["salt"])
    if wrapped["kdf"] == "argon2id":
        wrapping = _slow_key(secret, salt, wrapped["ops"], wrapped["mem"])
    else:
        wrapping = _fast_key(secret, salt)
    try:
        raw = nacl.secret.SecretBox(wrapping).decrypt(base64.b64decode(wrapped["box"]))
    except nacl.exceptions.CryptoError as error:
        raise WrongSecret from error
    return PrivateKey(raw)


def _setting() -> Any:
    return Setting


def _stored(name: str) -> str | None:
    Setting = _setting()
    return db.session.scalar(select(Setting.value).where(Setting.key == name))


def _put(name: str, value: str) -> None:
    Setting = _setting()
    existing = db.session.get(Setting, name)
    if existing is None:
        db.session.add(Setting(key=name, value=value))
    else:
        existing.value = value


def has_team_key() -> bool:
    return _stored(PUBLIC_KEY) is not None


def generate_key() -> PrivateKey:
    return PrivateKey.generate()


def wrap_fast(key: PrivateKey, secret: str) -> str:
    """`key` wrapped by a random secret (a setup secret, a recovery code): a setting's value."""
    return _wrap(key, secret, slow=False)


def new_recovery_text() -> str:
    """A recovery code: 120 random bits in groups of four letters and digits."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode("ascii")
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def new_team_key(setup_secret: str) -> PrivateKey:
    """A new key pair for this kiosk, its private half wrapped by `setup_secret` alone (the
    first run's, until the lead sets a passphrase). Not committed."""
    key = generate_key()
    _put(PUBLIC_KEY, _b64(bytes(key.public_key)))
    _put(BY_SETUP, _wrap(key, setup_secret, slow=False))
    Setting = _setting()
    db.session.execute(delete(Setting).where(Setting.key.in_((BY_PASSPHRASE, BY_RECOVERY))))
    forget_public_key()
    return key


def open_with_passphrase(passphrase: str) -> PrivateKey:
    return _unwrap(_stored(BY_PASSPHRASE), passphrase)


def open_with_recovery_code(code: str) -> PrivateKey:
    return _unwrap(_stored(BY_RECOVERY), code)


def open_with_setup_secret(secret: str) -> PrivateKey:
    return _unwrap(_stored(BY_SETUP), secret)


def wrap_for_passphrase(key: PrivateKey, passphrase: str) -> None:
    """Store the key wrapped by `passphrase`; the setup secret's copy goes. Not committed."""
    _check_pair(key)
    _put(BY_PASSPHRASE, _wrap(key, passphrase, slow=True))
    Setting = _setting()
    db.session.execute(delete(Setting).where(Setting.key == BY_SETUP))


def new_recovery_code(key: PrivateKey) -> str:
    """A fresh recovery code (the earlier one stops working), shown once. Not committed."""
    _check_pair(key)
    code = new_recovery_text()
    _put(BY_RECOVERY, _wrap(key, code, slow=False))
    return code


def _check_pair(key: PrivateKey) -> None:
    stored = _stored(PUBLIC_KEY)
    if stored is None or base64.b64decode(stored) != bytes(key.public_key):
        raise WrongSecret("this key is not the team's key")


def wrapped_by() -> set[str]:
    """Which copies of the key this kiosk holds: "passphrase", "recovery", "setup"."""
    Setting = _setting()
    names = {BY_PASSPHRASE: "passphrase", BY_RECOVERY: "recovery", BY_SETUP: "setup"}
    stored = db.session.scalars(select(Setting.key).where(Setting.key.in_(tuple(names))))
    return {names[name] for name in stored}


# ---- Opened keys of lead sessions, in this process's memory only ------------------------

MAX_OPENED = 16


class _Opened:
    """Opened private keys by lead session id (the SHA-256 of its cookie token, as the
    database keeps it): at most MAX_OPENED, each dropped after `idle` seconds unused
    (time.monotonic: a wall clock that jumps cannot keep or drop one)."""

    def __init__(self) -> None:
        self._keys: OrderedDict[str, tuple[PrivateKey, float]] = OrderedDict()
        # A recovery code made in a session, shown to it once.
        self._notes: dict[str, str] = {}
        self._lock = threading.Lock()

    def remember(self, session_id: str, key: PrivateKey, note: str | None = None) -> None:
        with self._lock:
            if note:
                self._notes[session_id] = note
            self._keys[session_id] = (key, time.monotonic())
            self._keys.move_to_end(session_id)
            while len(self._keys) > MAX_OPENED:
                dropped, _value = self._keys.popitem(last=False)
                self._notes.pop(dropped, None)

    def take_note(self, session_id: str) -> str | None:
        with self._lock:
            return self._notes.pop(session_id, None)

    def key_of(self, session_id: str, idle_seconds: float) -> PrivateKey | None:
        moment = time.monotonic()
        with self._lock:
            for name, (_key, used) in list(self._keys.items()):
                if moment - used >= idle_seconds:
                    del self._keys[name]
                    self._notes.pop(name, None)
            found = self._keys.get(session_id)
            if found is None:
                return None
            self._keys[session_id] = (found[0], moment)
            self._keys.move_to_end(session_id)
            return found[0]

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._keys.pop(session_id, None)
            self._notes.pop(session_id, None)

    def forget_all(self) -> None:
        with self._lock:
            self._keys.clear()
            self._notes.clear()

    def session_ids(self) -> list[str]:
        with self._lock:
            return list(self._keys)


opened_keys = _Opened()


# ---- The first run: a key pair before any record, its secret printed once -------------------

SETUP_TOKEN_HASH = "lead_setup_token_hash"  # noqa: S105 (a setting key)  # nosec B105
# The setup secret this process made with the team key, per database, to print it once.
_setup_secrets: dict[str, str] = {}
# A recovery code this process made for a kiosk whose passphrase came first, printed once.
recovery_notes: dict[str, str] = {}


def remember_setup_secret(url: str, token: str) -> None:
    _setup_secrets[url] = token


def setup_secret_made_here() -> str | None:
    return _setup_secrets.get(str(db.engine.url))


def ensure_team_key() -> None:
    """Make the team's key pair unless the kiosk has one: call it before any record is written.

    Its private half is wrapped by a fresh setup secret (the setup link's token, whose
    SHA-256 lets the link in); this process keeps the secret to print it once. Two processes
    starting at once: the setting's primary key keeps the first key pair.
    """
    if has_team_key():
        return
    db.session.commit()
    # Several hub processes start at once: one makes the key, the others find it made.
    with held_lock(TEAM_KEY_LOCK):
        if has_team_key():
            return
        _make_team_key()


def _make_team_key() -> None:
    token = secrets.token_urlsafe(24)
    code = None
    # A kiosk command beside a starting SQLite kiosk holds no lock: whichever insert
    # reaches the database second meets the first's key and is dropped.
    try:
        key = new_team_key(token)
        _put(SETUP_TOKEN_HASH, hashlib.sha256(token.encode()).hexdigest())
        if _stored("lead_passphrase_hash"):
            # A passphrase set before personal data was sealed: its hash cannot wrap the key,
            # so a recovery code does, printed once (`kiosk passphrase` then wraps it anew).
            code = new_recovery_code(key)
            Setting = _setting()
            db.session.execute(delete(Setting).where(Setting.key.in_((BY_SETUP, SETUP_TOKEN_HASH))))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another process made it first
        return
    if code:
        recovery_notes[str(db.engine.url)] = code
    else:
        _setup_secrets[str(db.engine.url)] = token


# Databases whose clear values the upgrade just sealed: their old pages are scrubbed next.
scrub_after_upgrade: set[str] = set()


def scrub_database() -> bool:
    """After the upgrade sealed clear records: rewrite the database so no free page, WAL
    frame or dead row keeps a clear value (SQLite: VACUUM and a truncated WAL; PostgreSQL:
    VACUUM FULL of the personal tables). Whether it had anything to do."""
    url = str(db.engine.url)
    if url not in scrub_after_upgrade:
        return False
    db.session.commit()
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.exec_driver_sql("VACUUM")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif connection.dialect.name == "postgresql":
            connection.exec_driver_sql("VACUUM FULL signup, pledge, question, press_request")
    scrub_after_upgrade.discard(url)
    return True
