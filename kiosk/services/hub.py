"""The team's hub: the tables allowed to send it records, their join codes, and what a
table's chunk does here (services/sync.py is the table's side; kiosk/hub.py the endpoints).

A table is added by name for one or more events; it gets a random token, of which the hub
keeps only the SHA-256. The join code is one line holding the hub's address, the events,
the token and, for a hub with a self-signed certificate, the certificate's SHA-256
fingerprint. A table's token may add records to its own events and read what is not
personal: the events' settings, their erasure requests (keyed digests) and the team's page.

A chunk from a table is a bundle of its event (services/exports.bundle's format, a few
records at a time) and goes through the same import as a file merged by hand
(services/imports.import_bundle): idempotent by UUID, each person once per event, erasure
requests applied, nothing erased restored. A chunk sent twice (its answer lost on the way)
changes nothing the second time.
"""

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from kiosk.extensions import db
from kiosk.models import Event, HubTable, utcnow
from kiosk.services import sealing
from kiosk.services.audit import record_audit
from kiosk.services.imports import ImportRefused, import_chunk, paced_turn, parse_bundle
from kiosk.services.joining import join_file
from kiosk.services.tombstones import requests_of

CODE_PREFIX = "RTK1-"
NAME_MAX = 80
FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
# Requests each table may make per minute, in each server process of the hub.
RATE_PER_MINUTE = 600
# Seconds added to the rest a chunk's answer names (imports.paced_turn).
REST_MARGIN_S = 0.05
# A table's last sync is shown to the minute (the lead's dashboard and hub page); a round's
# /hub/changes notes it only when the noted one is this much older (or newer: a clock set
# back), not on every round: each note is a commit, a WAL flush beside the visitors' own,
# and twenty tables ask every KIOSK_SYNC_SECONDS. A chunk taken notes it in its own
# transaction, as before.
LAST_SYNC_NOTE_S = 30


class HubRefused(Exception):
    """A join code, table name or address that can't be used, with the reason."""


# ---- Join codes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinCode:
    hub: str  # the hub's address, https:// (http:// only to this machine)
    events: tuple[str, ...]  # event UUIDs
    token: str
    table: str  # the table's name, as the hub shows it
    fingerprint: str = ""  # SHA-256 of the hub's certificate, hex, when it is pinned
    # The team's public key: the table seals to it from the moment it joins, reached or not,
    # so the hub's lead opens what the table took (services/sealing.py).
    key: str = ""

    def encode(self) -> str:
        data: dict[str, Any] = {
            "hub": self.hub,
            "events": list(self.events),
            "token": self.token,
            "table": self.table,
        }
        if self.fingerprint:
            data["fp"] = self.fingerprint
        if self.key:
            data["key"] = self.key
        raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        return CODE_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def normal_fingerprint(value: str) -> str:
    """A certificate's SHA-256 fingerprint as 64 lower-case hex digits ("AB:CD:..." too)."""
    cleaned = value.strip().lower().replace(":", "")
    if cleaned and not FINGERPRINT.match(cleaned):
        raise HubRefused(
            "A certificate fingerprint is 64 hexadecimal digits (SHA-256), with or without colons."
        )
    return cleaned


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_address(url: str) -> str:
    """The hub's address, if a table may send to it: https, or plain http to this machine."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise HubRefused(f"{url!r} is not a hub address: it must start with https://.")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise HubRefused(
            "The hub must be reached over https://: names and emails would cross the "
            "network in clear over http:// (allowed only to this machine itself)."
        )
    if parts.query or parts.fragment or parts.username:
        raise HubRefused(f"{url!r}: a hub address has no query, fragment or user name.")
    return url


def read_code(code: str) -> JoinCode:
    """The join code a lead pasted or scanned; HubRefused when it is not one."""
    code = "".join(code.split())
    if not code.startswith(CODE_PREFIX):
        raise HubRefused(
            f"This is not a join code: it starts with {CODE_PREFIX}. On the hub, open "
            "Hub in the lead console (or run `kiosk hub add-table NAME`)."
        )
    body = code.removeprefix(CODE_PREFIX)
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, RecursionError) as error:
        raise HubRefused("This join code is damaged: copy it again, whole.") from error
    if not isinstance(data, dict):
        raise HubRefused("This join code is damaged: copy it again, whole.")
    events = data.get("events")
    token, table = data.get("token"), data.get("table")
    if (
        not isinstance(events, list)
        or not events
        or not all(isinstance(e, str) and re.fullmatch(r"[0-9a-f-]{36}", e) for e in events)
        or not isinstance(token, str)
        or not 20 <= len(token) <= 100
        or not isinstance(table, str)
        or not 0 < len(table) <= NAME_MAX
        or not isinstance(data.get("hub"), str)
        or not isinstance(data.get("fp", ""), str)
        or not _is_public_key(data.get("key", ""))
    ):
        raise HubRefused("This join code is damaged: copy it again, whole.")
    return JoinCode(
        hub=checked_address(data["hub"]),
        events=tuple(events),
        token=token,
        table=table,
        fingerprint=normal_fingerprint(data.get("fp", "")),
        key=data.get("key", ""),
    )


def _is_public_key(value: object) -> bool:
    if value == "":
        return True  # a code made before personal data was sealed
    try:
        sealing.read_public_key_text(value)
    except ValueError:
        return False
    return True


# ---- Tables -------------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tables() -> list[HubTable]:
    return list(db.session.scalars(select(HubTable).order_by(HubTable.name)))


def add_table(
    name: str, events: list[Event], hub_url: str, fingerprint: str = "", actor: str = ""
) -> str:
    """Allow a new table to send records of `events`; its join code (shown once)."""
    name = " ".join(name.split())
    if not 0 < len(name) <= NAME_MAX:
        raise HubRefused(f"A table's name is 1 to {NAME_MAX} characters.")
    if not events:
        raise HubRefused("Choose the event the table takes sign-ups for.")
    address = checked_address(hub_url)
    fingerprint = normal_fingerprint(fingerprint)
    token = secrets.token_urlsafe(32)
    db.session.add(
        HubTable(name=name, token_hash=token_hash(token), events=[e.uuid for e in events])
    )
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise HubRefused(f"A table is already called {name!r}: choose another name.") from error
    names = ", ".join(e.name for e in events)
    record_audit("hub.add_table", f"Table {name!r} may send records of {names}", actor)
    events_joined = tuple(e.uuid for e in events)
    key = sealing.public_key_text()
    return JoinCode(address, events_joined, token, name, fingerprint, key).encode()


def revoke_table(table_id: int, actor: str = "") -> HubTable | None:
    """Refuse the table's token from now on."""
    table = db.session.get(HubTable, table_id)
    if table is None:
        return None
    if table.revoked_at is None:
        table.revoked_at = utcnow()
        db.session.commit()
        record_audit("hub.revoke_table", f"Table {table.name!r} revoked", actor)
    return table


def table_named(name: str) -> HubTable | None:
    return db.session.scalar(select(HubTable).where(HubTable.name == name))


def table_of_token(token: str) -> HubTable | None:
    """The table holding `token` (revoked or not), compared by its hash in the database."""
    if not token or len(token) > 200:
        return None
    table = db.session.scalar(select(HubTable).where(HubTable.token_hash == token_hash(token)))
    if table is not None and hmac.compare_digest(table.token_hash, token_hash(token)):
        return table
    return None


class RateLimit:
    """At most `per_minute` requests per table per minute in this process: a sliding window
    of monotonic times (no wall clock), one small deque per table."""

    def __init__(self, per_minute: int = RATE_PER_MINUTE) -> None:
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._seen: dict[int, deque[float]] = {}

    def allow(self, table_id: int) -> bool:
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(table_id, deque())
            while seen and now - seen[0] > 60:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return False
            seen.append(now)
            return True


# ---- What a table sends and reads ---------------------------------------------------------------


def event_of(table: HubTable, uuid: object) -> Event | None:
    """One of the table's events, by UUID; None for any other (or an erased one)."""
    if not isinstance(uuid, str) or uuid not in table.events:
        return None
    return db.session.scalar(select(Event).where(Event.uuid == uuid))


def receive_chunk(table: HubTable, raw: bytes, share: float = 1.0) -> dict[str, Any]:
    """Import a table's chunk (a bundle of one of its events); what it did, for the table.

    The import turn is taken first, at once: ImportBusy, before anything of the chunk is
    read and with nothing stored, when another import holds it or rests after its chunk
    (the request's thread never waits: the table sends the chunk again in a moment). Then
    the chunk is parsed once, checked and written; ImportRefused when it is not a bundle or
    its event is not the table's. `share`: the share of wall time chunks may use
    (imports.paced_turn); the answer's `rest` says how long the turn rests after this one,
    so a table alone waits that long and is not told busy.
    """
    table_id = table.id
    with paced_turn(share) as turn:
        data = parse_bundle(raw)
        event = data.get("event")
        if not isinstance(event, dict) or event_of(table, event.get("uuid")) is None:
            raise ImportRefused("This table may not send records of that event.")
        sent = sum(len(items) for s in SECTIONS if isinstance(items := data.get(s), list))
        counted = (
            update(HubTable)
            .where(HubTable.id == table_id)
            .values(
                records_received=HubTable.records_received + sent,
                chunks_received=HubTable.chunks_received + 1,
                last_sync_at=utcnow(),
            )
        )
        report = import_chunk(data, lambda: db.session.execute(counted))
    return {
        "added": sum(report.added.values()),
        "merged": report.merged,
        "skipped": sum(report.skipped.values()),
        "invalid": [f"{where}: {reason}" for where, reason in report.invalid],
        "forgotten": report.forgotten,
        # A little more than the rest: the table's next chunk finds the turn given back.
        "rest": round(turn.rest_s + REST_MARGIN_S, 3) if turn.rest_s else 0,
    }


SECTIONS = ("signups", "pledges", "questions", "press_requests", "tallies")


def erasures_tag(pairs: set[tuple[str, str]]) -> str:
    """A short digest of a set of erasure requests: whether a table has them all already."""
    joined = "\n".join(f"{d} {r}" for d, r in sorted(pairs))
    return hashlib.sha256(joined.encode()).hexdigest()[:32]


def join_document(event: Event) -> dict[str, Any]:
    """The join file of `event` (services/joining.py), as a dict."""
    return json.loads(join_file(event))


def changes(table: HubTable, event: Event, known_tag: str) -> dict[str, Any]:
    """What a table takes from the hub for `event`: its settings (as in a join file), its
    erasure requests (unless the table holds this very set: `known_tag`) and the team page.
    Nothing personal."""
    joined = join_document(event)
    pairs = requests_of(event.uuid)
    tag = erasures_tag(pairs)
    answer = {
        "table": table.name,
        "event": joined["event"],
        "erasures_tag": tag,
        "erasures": None if tag == known_tag else [list(p) for p in sorted(pairs)],
        "team": joined["team"],  # team.as_dict(), as the join document holds it
    }
    now = utcnow()
    noted = table.last_sync_at
    if noted is None or abs((now - noted).total_seconds()) >= LAST_SYNC_NOTE_S:
        table.last_sync_at = now
    db.session.commit()  # a transaction that only read writes no WAL
    return answer
