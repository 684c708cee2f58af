"""The team lead's door: passphrase, one-time setup token, server-side sessions, throttling.

The passphrase lives only as an argon2id hash (a Setting). A session is a random token in
an HttpOnly cookie; the database keeps only its SHA-256, so a copy of the database opens
nothing, and logout or expiry ends a session for real. Failed logins are counted from the
audit log, so every waitress thread (and every restart) sees the same count.
"""

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, select, update

from kiosk import clock
from kiosk.config import kiosk_command
from kiosk.extensions import db
from kiosk.models import AuditEntry, LeadSession, Setting
from kiosk.services.audit import record_audit
from kiosk.services.hashing import hash_secret, verify_secret
from kiosk.services.settings import get_setting, set_setting

PASSPHRASE_HASH = "lead_passphrase_hash"  # noqa: S105 (a setting key)  # nosec B105
SETUP_TOKEN_HASH = "lead_setup_token_hash"  # noqa: S105 (a setting key)  # nosec B105
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
DEVICE_SALT = "kiosk-lead-device"


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


def set_passphrase(passphrase: str, actor: str = "") -> None:
    """Store the passphrase's hash, end every lead session and spend any setup token."""
    problem = passphrase_problem(passphrase)
    if problem:
        raise ValueError(problem)
    set_setting(PASSPHRASE_HASH, hash_secret(passphrase))
    db.session.execute(delete(Setting).where(Setting.key == SETUP_TOKEN_HASH))
    revoke_all_sessions()
    record_audit("lead.passphrase_set", "Team lead passphrase set; every lead session ended", actor)


def check_passphrase(passphrase: str) -> bool:
    return verify_secret(get_setting(PASSPHRASE_HASH), passphrase)


def new_setup_token() -> str | None:
    """A fresh one-time setup token while no passphrase is set (its hash is stored)."""
    if has_passphrase():
        return None
    token = secrets.token_urlsafe(24)
    set_setting(SETUP_TOKEN_HASH, _sha256(token))
    return token


def setup_token_valid(token: str) -> bool:
    stored = get_setting(SETUP_TOKEN_HASH)
    return (
        bool(stored)
        and not has_passphrase()
        and secrets.compare_digest(stored or "", _sha256(token))
    )


def complete_setup(token: str, passphrase: str, actor: str = "") -> bool:
    """Set the first passphrase with the setup token; the token works once."""
    if not setup_token_valid(token):
        return False
    set_passphrase(passphrase, actor)
    return True


def setup_note() -> str:
    """The line `kiosk serve` prints on a kiosk that has no lead passphrase yet."""
    import click

    context = click.get_current_context(silent=True)
    params = context.params if context else {}
    host = params.get("host") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104  # nosec B104 # compared, not bound
        host = "127.0.0.1"
    base = f"http://{host}:{params.get('port') or 8000}/lead"
    token = new_setup_token()
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
        return None
    if touch:
        lead_session.last_seen_at = moment
        db.session.commit()
    return lead_session


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
    db.session.execute(
        update(LeadSession)
        .where(LeadSession.token_hash == _sha256(token), LeadSession.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    db.session.commit()


def revoke_all_sessions() -> None:
    db.session.execute(
        update(LeadSession).where(LeadSession.revoked_at.is_(None)).values(revoked_at=now())
    )
    db.session.commit()


# ---- Device cookie: a browser the lead logged in from before ----------------------------


def _device_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=DEVICE_SALT)


def device_cookie_value() -> str:
    return _device_serializer().dumps(ACCOUNT)


def is_known_device(cookie: str | None) -> bool:
    if not cookie:
        return False
    try:
        return _device_serializer().loads(cookie) == ACCOUNT
    except BadSignature:
        return False


# ---- Throttling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """Whether a login attempt may be checked now, and if not, for how long to wait."""

    allowed: bool
    wait_seconds: int = 0
    reason: str = ""


def _failures_since(since: datetime, client: str | None) -> tuple[int, datetime | None]:
    query = select(func.count(), func.max(AuditEntry.at)).where(
        AuditEntry.action == LOGIN_FAILED, AuditEntry.at > since
    )
    if client is not None:
        query = query.where(AuditEntry.actor == client)
    count, latest = db.session.execute(query).one()
    return count or 0, latest


def login_gate(client: str, known_device: bool = False) -> Gate:
    """May `client` try a passphrase now? Slower after a few failures, then locked out."""
    moment = now()
    count, latest = _failures_since(moment - FAILURE_WINDOW, client)
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
        total, latest_any = _failures_since(moment - FAILURE_WINDOW, None)
        if latest_any is not None and total >= ACCOUNT_LOCKOUT_AFTER:
            until = latest_any + ACCOUNT_LOCKOUT
            if moment < until:
                return Gate(False, _seconds(until - moment), "account")
    return Gate(True)


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


def record_failure(client: str) -> None:
    """Count a failed login; log the moment a client or the account becomes locked out."""
    record_audit(LOGIN_FAILED, "Wrong passphrase", client, at=now())
    since = now() - FAILURE_WINDOW
    count, _ = _failures_since(since, client)
    total, _ = _failures_since(since, None)
    lockouts = [
        (count == CLIENT_LOCKOUT_AFTER, f"Client {client} locked out", CLIENT_LOCKOUT, count),
        (
            total == ACCOUNT_LOCKOUT_AFTER,
            "Lead account locked for browsers it never logged in from",
            ACCOUNT_LOCKOUT,
            total,
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
    gate = login_gate(client, known_device)
    if not gate.allowed:
        return None, gate
    if not check_passphrase(passphrase):
        record_failure(client)
        return None, login_gate(client, known_device)
    token = start_session(previous_token)
    record_audit(LOGIN, "Team lead logged in", client, at=now())
    return token, gate
