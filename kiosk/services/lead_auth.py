"""The team lead's door: passphrase, one-time setup token, server-side sessions, throttling.

The passphrase lives only as an argon2id hash (a Setting). A session is a random token in
an HttpOnly cookie; the database keeps only its SHA-256, so a copy of the database opens
nothing, and logout or expiry ends a session for real. Failed logins are counted from the
audit log, each before its passphrase is checked (reserve_attempt), so every thread of every
server process (and every restart) sees the same count.
"""

import contextlib
import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from sqlalchemy import delete, func, select, update

from kiosk import clock
from kiosk.config import kiosk_command
from kiosk.extensions import db
from kiosk.models import AuditEntry, KnownDevice, LeadSession, Setting
from kiosk.services import sealing
from kiosk.services.atomic import changed_rows, serialise
from kiosk.services.audit import record_audit
from kiosk.services.hashing import hash_secret, verify_secret
from kiosk.services.sealing import SETUP_TOKEN_HASH, PrivateKey
from kiosk.services.settings import get_setting, set_setting

PASSPHRASE_HASH = "lead_passphrase_hash"  # noqa: S105 (a setting key)  # nosec B105
SESSION_IDLE_MINUTES = "lead_session_idle_minutes"

DEFAULT_IDLE_MINUTES = 30
ABSOLUTE_LIFETIME = timedelta(hours=12)
MIN_PASSPHRASE_LENGTH = 10

# Throttling. A client (IP) that keeps failing first waits longer and longer between
# tries, then is locked out for a while. The account as a whole locks only after many
# failures from anywhere, briefly, and never for a browser the lead already logged in
# from (its signed device cookie): a prankster at the kiosk can't lock the lead out.
FAILURE_WINDOW = timedelta(minutes=15)
CLIENT_SLOWDOWN_AFTER = 3
CLIENT_LOCKOUT_AFTER = 6
CLIENT_LOCKOUT = timedelta(minutes=15)
ACCOUNT_LOCKOUT_AFTER = 20
ACCOUNT_LOCKOUT = timedelta(minutes=5)

LOGIN = "lead.login"
LOGIN_FAILED = "lead.login_failed"
LOCKOUT = "lead.lockout"
LOGOUT = "lead.logout"
ACCOUNT = "lead"
LOGIN_TURN = "kiosk: lead login limits"


def now() -> datetime:
    """The clock of this module; tests replace it to freeze or move time."""
    return clock.now()


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---- Passphrase and first-run setup -------------------------------------------------


def has_passphrase() -> bool:
    return bool(get_setting(PASSPHRASE_HASH))


def passphrase_problem(passphrase: str, confirmation: str | None = None) -> str | None:
    """Why a new passphrase can't be used, or None."""
    if len(passphrase.strip()) < MIN_PASSPHRASE_LENGTH:
        return f"Use at least {MIN_PASSPHRASE_LENGTH} characters; a few words work well."
    if confirmation is not None and passphrase != confirmation:
        return "The two passphrases are not the same."
    return None


class KeyLocked(Exception):
    """The team key can't be opened to re-wrap it: the current passphrase (or the recovery
    code, or the setup link) is needed."""


def open_team_key(secret: str) -> PrivateKey | None:
    """The team's private key opened by the passphrase, the recovery code or the setup
    secret, whichever `secret` is; None if none of them."""
    for opener in (
        sealing.open_with_passphrase,
        sealing.open_with_recovery_code,
        sealing.open_with_setup_secret,
    ):
        try:
            return opener(secret)
        except sealing.WrongSecret:
            continue
    return None


def set_passphrase(passphrase: str, actor: str = "", key: PrivateKey | None = None) -> None:
    """Store the passphrase's hash and re-wrap the team key with it (the records stay as they
    are), end every lead session and spend any setup token.

    `key` is the team's opened private key; without it, only a first run's key this very
    process made (its setup secret still in memory) can be re-wrapped: else KeyLocked."""
    problem = passphrase_problem(passphrase)
    if problem:
        raise ValueError(problem)
    if key is None and not has_passphrase():
        made_here = sealing.setup_secret_made_here()
        key = open_team_key(made_here) if made_here else None
    if key is None:
        raise KeyLocked("the current passphrase or the recovery code is needed")
    hashed = hash_secret(passphrase)
    sealing.wrap_for_passphrase(key, passphrase)
    _store_passphrase_hash(hashed, actor)


def _store_passphrase_hash(hashed: str, actor: str) -> None:
    set_setting(PASSPHRASE_HASH, hashed)
    db.session.execute(delete(Setting).where(Setting.key == SETUP_TOKEN_HASH))
    revoke_all_devices()  # committed with the sessions' end, next
    revoke_all_sessions()
    record_audit("lead.passphrase_set", "Team lead passphrase set; every lead session ended", actor)


def check_passphrase(passphrase: str) -> bool:
    return verify_secret(get_setting(PASSPHRASE_HASH), passphrase)


def new_setup_token() -> str | None:
    """The one-time setup token while no passphrase is set, if this process made it with
    the team key (sealing.ensure_team_key); else None: the link printed then still works.

    It is not made anew at each start: it wraps the team key, and records sealed since the
    first start would stay sealed for good under a key no new token opens."""
    if has_passphrase():
        return None
    sealing.ensure_team_key()
    token = sealing.setup_secret_made_here()
    return token if token and setup_token_valid(token) else None


def setup_token_valid(token: str) -> bool:
    stored = get_setting(SETUP_TOKEN_HASH)
    return (
        bool(stored)
        and not has_passphrase()
        and secrets.compare_digest(stored or "", _sha256(token))
    )


@dataclass(frozen=True)
class Opened:
    """What setting the first passphrase opened: the team key, and its new recovery code."""

    key: PrivateKey
    recovery_code: str


def complete_setup(token: str, passphrase: str, actor: str = "") -> Opened | None:
    """Set the first passphrase with the setup token; the token works once.

    Spending the token is one DELETE of its row that must find it: of several posts of the
    link at once, in any server processes, one deletes it and sets the passphrase; the
    others find it gone and are refused.
    """
    if not setup_token_valid(token):
        return None
    problem = passphrase_problem(passphrase)
    if problem:
        raise ValueError(problem)
    # Argon2 takes a while: it runs between transactions, so no lock (on SQLite the one
    # write lock) is held meanwhile; the DELETE below decides whether this post wins.
    db.session.commit()
    hashed = hash_secret(passphrase)
    spent = changed_rows(
        delete(Setting).where(Setting.key == SETUP_TOKEN_HASH, Setting.value == _sha256(token))
    )
    if spent != 1 or has_passphrase():
        db.session.rollback()
        return None
    try:
        key = sealing.open_with_setup_secret(token)
    except sealing.WrongSecret:
        db.session.rollback()
        return None
    sealing.wrap_for_passphrase(key, passphrase)
    code = sealing.new_recovery_code(key)
    _store_passphrase_hash(hashed, actor)
    return Opened(key, code)


def setup_note() -> str:
    """The line `kiosk serve` prints on a kiosk that has no lead passphrase yet."""
    context = click.get_current_context(silent=True)
    params = context.params if context else {}
    host = params.get("host") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104  # nosec B104 # compared, not bound
        host = "127.0.0.1"
    base = f"http://{host}:{params.get('port') or 8000}/lead"
    token = new_setup_token()
    code = sealing.recovery_notes.pop(str(db.engine.url), None)
    if code:
        return (
            f"  Personal data is sealed from now on. RECOVERY CODE (shown once): {code}\n"
            f"  Keep it apart from this kiosk; run `{kiosk_command('passphrase')}` once and\n"
            "  give it as the current secret, so that your passphrase opens the records."
        )
    if token is None and not has_passphrase():
        return (
            "  Team lead setup: open the link printed when this kiosk first started (it\n"
            "  stays valid until used, and it alone opens what visitors gave until then)"
        )
    if token is None:
        return f"  Team lead console:      {base}/"
    return (
        f"  Team lead setup: open {base}/setup/{token}\n"
        f"  (the link works once; `{kiosk_command('passphrase')}` sets the passphrase too)"
    )


# ---- Sessions -------------------------------------------------------------------------


def idle_minutes() -> int:
    stored = get_setting(SESSION_IDLE_MINUTES)
    return int(stored) if stored else DEFAULT_IDLE_MINUTES


def start_session(previous_token: str | None = None) -> str:
    """A new session token (rotated at every login); any session the browser had ends."""
    if previous_token:
        revoke_session(previous_token)
    token = secrets.token_urlsafe(32)
    moment = now()
    # Sessions past their lifetime can never open anything again: no need to keep them.
    db.session.execute(
        delete(LeadSession).where(LeadSession.created_at < moment - ABSOLUTE_LIFETIME)
    )
    db.session.add(LeadSession(token_hash=_sha256(token), created_at=moment, last_seen_at=moment))
    db.session.commit()
    return token


def _session_expired(lead_session: LeadSession, moment: datetime) -> bool:
    return (
        lead_session.revoked_at is not None
        or moment - lead_session.created_at >= ABSOLUTE_LIFETIME
        or moment - lead_session.last_seen_at >= timedelta(minutes=idle_minutes())
    )


def valid_session(token: str | None, *, touch: bool = True) -> LeadSession | None:
    """The live session of `token`, or None; `touch` counts this request as activity."""
    if not token:
        return None
    lead_session = db.session.scalar(
        select(LeadSession).where(LeadSession.token_hash == _sha256(token))
    )
    if lead_session is None:
        return None
    moment = now()
    if _session_expired(lead_session, moment):
        sealing.opened_keys.forget(lead_session.token_hash)
        return None
    if touch:
        lead_session.last_seen_at = moment
        db.session.commit()
    return lead_session


def opened_key(token: str | None) -> PrivateKey | None:
    """The team key this process opened for the session of `token`, while it is in use."""
    if not token:
        return None
    return sealing.opened_keys.key_of(_sha256(token), idle_minutes() * 60)


def remember_key(token: str, key: PrivateKey | None, recovery_code: str | None = None) -> None:
    """Keep the team key opened for the session of `token`, in this process's memory, and a
    new recovery code to show that session once."""
    if key is not None:
        sealing.opened_keys.remember(_sha256(token), key, recovery_code)


def recovery_code_to_show(token: str | None) -> str | None:
    """The recovery code made for this session, once: the next call has none."""
    return sealing.opened_keys.take_note(_sha256(token)) if token else None


def session_ends_in(lead_session: LeadSession) -> tuple[int, bool]:
    """Seconds until `lead_session` ends unless the lead does something, and whether doing
    something (not polling) would push the end back: False once the 12-hour lifetime is the
    nearer end."""
    moment = now()
    idle_end = lead_session.last_seen_at + timedelta(minutes=idle_minutes())
    lifetime_end = lead_session.created_at + ABSOLUTE_LIFETIME
    end = min(idle_end, lifetime_end)
    left = math.ceil((end - moment).total_seconds())
    return max(0, left), idle_end < lifetime_end


def revoke_session(token: str) -> None:
    sealing.opened_keys.forget(_sha256(token))
    db.session.execute(
        update(LeadSession)
        .where(LeadSession.token_hash == _sha256(token), LeadSession.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    db.session.commit()


def revoke_all_sessions() -> None:
    sealing.opened_keys.forget_all()  # this process's; the others' end with their sessions
    db.session.execute(
        update(LeadSession).where(LeadSession.revoked_at.is_(None)).values(revoked_at=now())
    )
    db.session.commit()


# ---- Device cookie: a browser the lead logged in from before ----------------------------


# A device's token is renewed at each login from it; after this many renewals it expires
# (the lead logs in as from a new browser). One left out of this many logins of the account
# in a row expires too. Counts, not wall-clock times: a Raspberry Pi's clock may jump.
DEVICE_MAX_RENEWALS = 100
DEVICE_IDLE_LOGINS = 30
DEVICE_LABEL_MAX = 120


def _device_query(token: str | None):
    return select(KnownDevice).where(
        KnownDevice.token_hash == _sha256(token or ""), KnownDevice.revoked_at.is_(None)
    )


def login_number() -> int:
    """How many logins (from known devices) the account has had: a clock that never jumps."""
    return db.session.scalar(select(func.coalesce(func.max(KnownDevice.last_login), 0))) or 0


def _live(device: KnownDevice | None, latest: int) -> bool:
    return (
        device is not None
        and device.renewals < DEVICE_MAX_RENEWALS
        and latest - device.last_login < DEVICE_IDLE_LOGINS
    )


def is_known_device(token: str | None) -> bool:
    """Whether this browser's device cookie names a device the lead logged in from, not
    revoked and not expired."""
    if not token:
        return False
    return _live(db.session.scalar(_device_query(token)), login_number())


def remember_device(token: str | None, label: str) -> str:
    """After a login: renew this browser's device token, or give it a first one; the token.

    Renewing is one UPDATE that must find the old token, so of two logins presenting one
    token (a copied cookie) only one renews it; the other becomes a new device.
    """
    latest = login_number() + 1
    moment = now()
    fresh = secrets.token_urlsafe(32)
    device = db.session.scalar(_device_query(token)) if token else None
    if device is not None and _live(device, latest - 1):
        renewed = changed_rows(
            update(KnownDevice)
            .where(KnownDevice.id == device.id, KnownDevice.token_hash == device.token_hash)
            .values(
                token_hash=_sha256(fresh),
                renewals=KnownDevice.renewals + 1,
                last_login=latest,
                last_used_at=moment,
            )
        )
        if renewed == 1:
            db.session.commit()
            return fresh
    db.session.add(
        KnownDevice(
            token_hash=_sha256(fresh),
            label=label[:DEVICE_LABEL_MAX],
            last_login=latest,
            created_at=moment,
            last_used_at=moment,
        )
    )
    db.session.commit()
    return fresh


def device_id(token: str | None) -> int | None:
    """The id of the device this cookie names (to mark "this browser" in the list)."""
    device = db.session.scalar(_device_query(token)) if token else None
    return device.id if device else None


def known_devices() -> list[KnownDevice]:
    """The devices Settings lists: not revoked, most recently used first, expired marked."""
    return list(
        db.session.scalars(
            select(KnownDevice)
            .where(KnownDevice.revoked_at.is_(None))
            .order_by(KnownDevice.last_login.desc(), KnownDevice.id.desc())
        )
    )


def device_expired(device: KnownDevice) -> bool:
    return not _live(device, login_number())


def revoke_device(device_id: int, actor: str = "") -> bool:
    revoked = changed_rows(
        update(KnownDevice)
        .where(KnownDevice.id == device_id, KnownDevice.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    if revoked:
        record_audit("lead.device_revoked", f"Known device {device_id} revoked", actor)
    db.session.commit()
    return bool(revoked)


def revoke_all_devices() -> None:
    db.session.execute(
        update(KnownDevice).where(KnownDevice.revoked_at.is_(None)).values(revoked_at=now())
    )


# ---- Throttling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """Whether a login attempt may be checked now, and if not, for how long to wait."""

    allowed: bool
    wait_seconds: int = 0
    reason: str = ""


def _failures_since(
    since: datetime, moment: datetime, client: str | None
) -> tuple[int, datetime | None]:
    """Failed logins after `since` and not after `moment`, of `client` or of anyone.

    A failure stamped later than now was counted under a clock that was ahead (a Raspberry
    Pi has no clock battery): it is left out, so a corrected clock never keeps anyone
    waiting longer than a lockout's own length.
    """
    query = select(func.count(), func.max(AuditEntry.at)).where(
        AuditEntry.action == LOGIN_FAILED, AuditEntry.at > since, AuditEntry.at <= moment
    )
    if client is not None:
        query = query.where(AuditEntry.actor == client[:60])
    count, latest = db.session.execute(query).one()
    return count or 0, latest


def login_gate(client: str, known_device: bool = False) -> Gate:
    """May `client` try a passphrase now? Slower after a few failures, then locked out.

    Every wait is counted from a failure no later than now, so none is ever longer than
    its own length (2, 4, 8 ... seconds, or a lockout), whatever the clock did meanwhile.
    """
    moment = now()
    count, latest = _failures_since(moment - FAILURE_WINDOW, moment, client)
    if latest is not None and count >= CLIENT_LOCKOUT_AFTER:
        until = latest + CLIENT_LOCKOUT
        if moment < until:
            return Gate(False, _seconds(until - moment), "client")
    elif latest is not None and count >= CLIENT_SLOWDOWN_AFTER:
        # 2, 4, 8 ... seconds between tries: harmless to a person, ruinous to guessing.
        until = latest + timedelta(seconds=2 ** (count - CLIENT_SLOWDOWN_AFTER + 1))
        if moment < until:
            return Gate(False, _seconds(until - moment), "slow")
    if not known_device:
        total, latest_any = _failures_since(moment - FAILURE_WINDOW, moment, None)
        if latest_any is not None and total >= ACCOUNT_LOCKOUT_AFTER:
            until = latest_any + ACCOUNT_LOCKOUT
            if moment < until:
                return Gate(False, _seconds(until - moment), "account")
    return Gate(True)


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


@dataclass(frozen=True)
class Attempt:
    """A passphrase check the throttle allowed, counted as a failure until it is right."""

    entry_id: int
    client_failures: int
    account_failures: int
    passphrase_hash: str | None


def reserve_attempt(client: str, known_device: bool = False) -> tuple[Gate, Attempt | None]:
    """Count one passphrase check before it is made, or refuse it; (gate, the attempt).

    The gate and the count are one turn (services/atomic.serialise), committed before the
    passphrase is compared: however many guesses arrive at once, on however many server
    processes, the throttle checks exactly as many as it would one after another. The
    count is a "wrong passphrase" entry of the audit log, turned into the login if right.
    """
    serialise(LOGIN_TURN)
    gate = login_gate(client, known_device)
    if not gate.allowed:
        db.session.commit()
        return gate, None
    moment = now()
    since = moment - FAILURE_WINDOW
    client_failures = _failures_since(since, moment, client)[0] + 1
    account_failures = _failures_since(since, moment, None)[0] + 1
    entry = AuditEntry(action=LOGIN_FAILED, detail="Wrong passphrase", actor=client[:60], at=moment)
    db.session.add(entry)
    db.session.flush()
    attempt = Attempt(entry.id, client_failures, account_failures, get_setting(PASSPHRASE_HASH))
    # Committed before the (slow) argon2 check: no transaction, and on SQLite no write
    # lock, is held while it runs, so thirty guesses at once never keep a tablet waiting.
    db.session.commit()
    return gate, attempt


def _note_lockouts(client: str, attempt: Attempt) -> None:
    """Log the moment this wrong passphrase locked out its client or the account."""
    lockouts = [
        (
            attempt.client_failures == CLIENT_LOCKOUT_AFTER,
            f"Client {client} locked out",
            CLIENT_LOCKOUT,
            attempt.client_failures,
        ),
        (
            attempt.account_failures == ACCOUNT_LOCKOUT_AFTER,
            "Lead account locked for browsers it never logged in from",
            ACCOUNT_LOCKOUT,
            attempt.account_failures,
        ),
    ]
    for starts_now, who, length, failures in lockouts:
        if starts_now:
            detail = f"{who} for {length.seconds // 60} minutes after {failures} failed logins"
            record_audit(LOCKOUT, detail, client, at=now())


def attempt_login(
    passphrase: str, client: str, previous_token: str | None = None, known_device: bool = False
) -> tuple[str | None, Gate]:
    """Check a passphrase through the throttle: (new session token or None, gate)."""
    gate, attempt = reserve_attempt(client, known_device)
    if attempt is None:
        return None, gate
    if not verify_secret(attempt.passphrase_hash, passphrase):
        _note_lockouts(client, attempt)
        return None, login_gate(client, known_device)
    db.session.execute(
        update(AuditEntry)
        .where(AuditEntry.id == attempt.entry_id)
        .values(action=LOGIN, detail="Team lead logged in")
    )
    token = start_session(previous_token)
    # An upgraded kiosk's key opens with its recovery code until the lead re-wraps it.
    with contextlib.suppress(sealing.WrongSecret):
        remember_key(token, sealing.open_with_passphrase(passphrase))
    return token, gate
