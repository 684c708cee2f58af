"""A table's sync to its team's hub: records go up, erasures come down, by themselves.

`kiosk hub join CODE` (or the lead console) stores the hub's join code (services/hub.py).
From then on a thread inside `kiosk serve` (never a request) does a round every
KIOSK_SYNC_SECONDS while the hub answers:

1. For each of the table's events it asks the hub for the event's settings, erasure requests
   (only when the table lacks some: a digest of the set says so) and the team's page, and
   takes them through the same import a file goes through (services/imports.py): whoever
   the hub erased is forgotten here, and never sent again.
2. It sends what the hub has not acknowledged, a small chunk at a time (CHUNK_RECORDS,
   CHUNK_BYTES), each chunk a bundle of one event in services/exports' format, records as
   they are stored (sealed fields travel sealed). Each record says what the hub has:
   `hub_revision` (the revision the hub acknowledged) on a personal record, `hub_sent` on a
   tap. A record waits while it is unacknowledged, so a sync cut anywhere (the connection
   dropped mid-chunk, the hub's answer lost after it stored the chunk, the table's power
   pulled) resumes with exactly the records the hub did not acknowledge; resending one is
   harmless, the hub's import is idempotent by UUID. This table's erasure requests travel in
   the first chunk after they change.

It never slows the table: every read is outside a transaction, and each write (marking a
chunk acknowledged, taking the hub's erasures, noting the status) is one short transaction
that takes its turn behind the visitors' writes already waiting (write_queue.py); between
chunks the thread rests. A table whose hub never answers works exactly as before.

A hub busy writing another import answers a chunk with 503 and `"busy": true` (kiosk/hub.py):
that is a short pause, not a failure. The table sends the chunk again after the hub's
`retry_after` and a random share of it more (BUSY_JITTER, so twenty tables told at once do
not come back at once), up to BUSY_WAITS_PER_ROUND times in a round; the status's last error
is untouched and the pause after failures does not grow. Any other refusal (a proxy's 503
without the hub's answer among them) is a failure as before. A hub paces its intake: its
answer to a chunk names the `rest` it takes before the next, and the table waits that long
(at most BUSY_LONGEST_S) before sending again, rather than meet a busy answer.

The hub is reached over HTTPS with its certificate verified, or with the certificate's
pinned SHA-256 fingerprint from the join code; plain HTTP only to this machine.
"""

import hashlib
import hmac
import http.client
import json
import random
import ssl
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update

from kiosk import clock
from kiosk.extensions import db, end_session
from kiosk.models import Event, PersonalRecord, Setting, Tally, TeamPage
from kiosk.services import hub, sealing, team
from kiosk.services.audit import record_audit
from kiosk.services.exports import BUNDLE_SECTIONS, bundle_frame
from kiosk.services.imports import ImportRefused, check_bundle, import_bundle
from kiosk.services.joining import JOIN_FORMAT, JOIN_VERSION, join_event
from kiosk.services.joining import _read as read_join_file
from kiosk.services.settings import get_setting
from kiosk.services.tombstones import requests_of, unseen
from kiosk.write_queue import background_writer

LINK = "hub_link"
STATUS = "hub_status"
TAG_IN = "hub_in:"  # + event UUID: the digest of the hub's erasure requests taken here
TAG_OUT = "hub_out:"  # + event UUID: the digest of this table's requests the hub has
CHUNK_RECORDS = 40
# Under the hub's MAX_CONTENT_LENGTH (64 KiB) with room for the event and erasures.
CHUNK_BYTES = 40_000
ANSWER_LIMIT = 4 * 1024 * 1024
TIMEOUT_S = 20
# After each chunk the thread rests for this share of the time the chunk took.
REST_SHARE = 0.5
DEFAULT_INTERVAL_S = 10.0
# A round ends after this many chunks (its status noted), and the next begins at once: the
# visitors signing up meanwhile never keep one round going for ever.
CHUNKS_PER_ROUND = 25
LONGEST_PAUSE_S = 60.0
# A busy hub's pause (its retry_after, from BUSY_SHORTEST_S to BUSY_LONGEST_S) is lengthened
# by up to this share of it, at random.
BUSY_JITTER = 0.5
BUSY_SHORTEST_S = 0.1
BUSY_LONGEST_S = 30.0
# A round that met a busy hub this often ends (its status noted) and the next begins at once.
BUSY_WAITS_PER_ROUND = 30


class HubUnreachable(Exception):
    """The hub did not answer (or not as a hub): try again later."""


class TableRevoked(Exception):
    """The hub refuses this table's token: revoked there."""


class HubBusy(HubUnreachable):
    """The hub is writing another import and took nothing of this chunk: send it again in
    `retry_after` seconds. (A HubUnreachable, so any caller not waiting for it fails safe.)"""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# ---- The stored link and status -------------------------------------------------------------


def link() -> hub.JoinCode | None:
    raw = get_setting(LINK)
    if not raw:
        return None
    data = json.loads(raw)
    return hub.JoinCode(
        hub=data["hub"],
        events=tuple(data["events"]),
        token=data["token"],
        table=data["table"],
        fingerprint=data.get("fingerprint", ""),
    )


@dataclass
class Status:
    last_sync: str | None = None  # ISO time of the last round the hub answered (shown only)
    last_error: str | None = None
    unreachable_since: str | None = None  # ISO time of the first failure in a row
    revoked: bool = False
    sent: int = 0  # records the hub acknowledged, all rounds together


def stored_status() -> Status:
    raw = get_setting(STATUS)
    if not raw:
        return Status()
    data = json.loads(raw)
    return Status(**{k: v for k, v in data.items() if k in Status.__dataclass_fields__})


def _write_settings(values: dict[str, str]) -> None:
    """Upsert settings in one short transaction of its own, taking its write turn."""
    db.session.commit()
    with background_writer():
        for key, value in values.items():
            row = db.session.get(Setting, key)
            if row is None:
                db.session.add(Setting(key=key, value=value))
            else:
                row.value = value
        db.session.commit()


def _save_status(status: Status) -> None:
    _write_settings({STATUS: json.dumps(asdict(status))})


def _linked_event_ids(code: hub.JoinCode) -> list[int]:
    return list(db.session.scalars(select(Event.id).where(Event.uuid.in_(code.events))))


def _waiting_where(model: type[PersonalRecord] | type[Tally], event_ids: list[int]) -> list[Any]:
    """What the hub has not acknowledged, of `model`'s records of `event_ids`."""
    if model is Tally:
        return [Tally.event_id.in_(event_ids), Tally.hub_sent.is_(False)]
    assert issubclass(model, PersonalRecord)  # nosec B101 - narrows the type; true by construction
    return [
        model.event_id.in_(event_ids),
        or_(model.hub_revision.is_(None), model.hub_revision != model.revision),
    ]


def waiting() -> int:
    """How many records the hub has not acknowledged (0 without a hub)."""
    code = link()
    if code is None:
        return 0
    ids = _linked_event_ids(code)
    if not ids:
        return 0
    counted = (
        select(func.count()).select_from(model).where(*_waiting_where(model, ids))
        for model, _item in BUNDLE_SECTIONS.values()
    )
    return sum(db.session.scalar(query) or 0 for query in counted)


def status() -> dict[str, Any]:
    """What `kiosk hub status` prints: hub, last_sync, waiting, last_error (and more)."""
    code = link()
    state = stored_status()
    return {
        "hub": code.hub if code else None,
        "table": code.table if code else None,
        "last_sync": state.last_sync,
        "waiting": waiting(),
        "last_error": state.last_error,
        "unreachable_since": state.unreachable_since,
        "revoked": state.revoked,
        "sent": state.sent,
    }


def _local_time(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%H:%M")


def status_line() -> str | None:
    """One line for the table's lead console and volunteer screen; None without a hub."""
    state = status()
    if state["hub"] is None:
        return None
    count = state["waiting"]
    if state["revoked"]:
        return _(
            "This table was revoked on the hub: ask the lead for a new join code · "
            "%(count)d waiting",
            count=count,
        )
    if state["unreachable_since"]:
        return _(
            "Hub not reachable since %(time)s · %(count)d waiting",
            time=_local_time(state["unreachable_since"]),
            count=count,
        )
    if state["last_sync"]:
        seconds = (clock.now() - datetime.fromisoformat(state["last_sync"])).total_seconds()
        minutes = max(0, int(seconds // 60))  # shown, never compared to decide anything
        return _("Synced %(minutes)d min ago · %(count)d waiting", minutes=minutes, count=count)
    return _("Not synced yet · %(count)d waiting", count=count)


# ---- Talking to the hub ---------------------------------------------------------------------


class Client:
    """POSTs JSON to the hub with the table's token: http.client, TLS verified or pinned."""

    def __init__(self, code: hub.JoinCode, timeout: float = TIMEOUT_S) -> None:
        self.code = code
        self.timeout = timeout
        parts = urlsplit(hub.checked_address(code.hub))
        self.scheme, self.host, self.port = parts.scheme, parts.hostname or "", parts.port
        self.prefix = parts.path.rstrip("/")

    def _connect(self) -> http.client.HTTPConnection:
        if self.scheme == "http":
            return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        context = ssl.create_default_context()
        if self.code.fingerprint:
            # The pinned certificate stands in for a certificate authority: checked below,
            # before a byte (the token) is sent.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            self.host, self.port, timeout=self.timeout, context=context
        )
        connection.connect()
        if self.code.fingerprint:
            sock: ssl.SSLSocket = connection.sock  # an HTTPSConnection's socket, once connected
            der = sock.getpeercert(binary_form=True) or b""
            seen = hashlib.sha256(der).hexdigest()
            if not hmac.compare_digest(seen, self.code.fingerprint):
                connection.close()
                raise HubUnreachable(
                    "The hub's certificate does not match the join code's fingerprint."
                )
        return connection

    def exchange(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST `body` to the hub's `path`: its status and answer (at most ANSWER_LIMIT+1)."""
        try:
            connection = self._connect()
            try:
                connection.request(
                    "POST",
                    self.prefix + path,
                    body=body,
                    headers={
                        "Authorization": f"Bearer {self.code.token}",
                        "Content-Type": "application/json",
                    },
                )
                response = connection.getresponse()
                return response.status, response.read(ANSWER_LIMIT + 1)
            finally:
                connection.close()
        except (OSError, http.client.HTTPException) as error:
            raise HubUnreachable(_reason(error)) from error

    def post(self, path: str, body: bytes) -> dict[str, Any]:
        """The hub's answer as a dict; TableRevoked, ImportRefused (the hub refused the
        records) or HubUnreachable otherwise."""
        status, raw = self.exchange(path, body)
        try:
            data = json.loads(raw) if len(raw) <= ANSWER_LIMIT else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise HubUnreachable(f"The hub answered {status}, not as a hub does.")
        if status == 403 and data.get("revoked"):
            raise TableRevoked(str(data.get("error", "")))
        if status == 422:
            raise ImportRefused(str(data.get("error", "")))
        if status == 503 and data.get("busy") is True:
            raise HubBusy(str(data.get("error", "")), _seconds(data.get("retry_after")))
        if status != 200:
            raise HubUnreachable(f"The hub answered {status}: {data.get('error', '')}")
        return data


def _seconds(value: object) -> float:
    """A busy hub's retry_after, within BUSY_SHORTEST_S and BUSY_LONGEST_S (1 if not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return 1.0  # not a number (or NaN)
    return min(max(float(value), BUSY_SHORTEST_S), BUSY_LONGEST_S)


def _rest_of(answer: dict[str, Any]) -> float:
    """The rest a hub's answer to a chunk asks for (0 from a hub that paces nothing), at most
    BUSY_LONGEST_S."""
    value = answer.get("rest")
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return 0.0
    return min(float(value), BUSY_LONGEST_S)


def busy_pause(retry_after: float) -> float:
    """How long to wait before sending a chunk again to a busy hub: its retry_after and a
    random share of it (BUSY_JITTER)."""
    return retry_after * (1 + random.uniform(0, BUSY_JITTER))  # noqa: S311  # nosec B311


def _reason(error: Exception) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"The hub's certificate could not be verified ({error.verify_message})."
    if isinstance(error, TimeoutError):
        return "The hub did not answer in time."
    if isinstance(error, ConnectionRefusedError):
        return "The hub refused the connection."
    return f"The hub could not be reached ({type(error).__name__}: {error})."


# ---- Joining ----------------------------------------------------------------------------------


@dataclass
class Joined:
    code: hub.JoinCode
    reached: bool
    events: list[str] = field(default_factory=list)  # names of the events taken on
    problem: str | None = None


def join(text: str, *, actor: str = "", activate: bool = True) -> Joined:
    """Store a join code and take on its events from the hub when it answers now.

    HubRefused when the code is not one. Unreachable now is fine: the sync thread takes
    the events on at its first round.
    """
    code = hub.read_code(text)
    data = asdict(code)
    if code.key:
        # Sealed to the team's key from the first record on, though the hub is not reached yet.
        sealing.ensure_team_key()
        sealing.adopt_team_public_key(code.key)
    _write_settings({LINK: json.dumps(data), STATUS: json.dumps(asdict(Status()))})
    record_audit("hub.join", f"Joined the hub {code.hub} as table {code.table!r}", actor)
    joined = Joined(code, reached=False)
    try:
        joined.events = take_events(code, activate=activate)
        joined.reached = True
    except (HubUnreachable, TableRevoked, ImportRefused) as problem:
        joined.problem = str(problem)
    return joined


def take_events(code: hub.JoinCode, *, activate: bool = False) -> list[str]:
    """Join the events the hub lets this table send (services/joining.py)."""
    answer = Client(code).post("/hub/hello", b"{}")
    names = []
    for n, document in enumerate(answer.get("events") or []):
        with background_writer():
            joined = join_event(json.dumps(document), activate=activate and n == 0)
        names.append(joined.event.name)
        db.session.commit()
    return names


# ---- One round ------------------------------------------------------------------------------


@dataclass
class Round:
    sent: int = 0  # records the hub acknowledged in this round
    chunks: int = 0
    forgotten: int = 0  # people the hub erased, erased here
    more: bool = False  # the round ended at CHUNKS_PER_ROUND with records still waiting
    busy: int = 0  # chunks the hub was too busy to take (each sent again after a pause)


def _take_changes(client: Client, event_uuid: str, result: Round) -> None:
    """The hub's settings, erasure requests and team page for one event, taken here. The
    hub's answer is checked as a join file and a bundle are (services/joining.py, imports)."""
    tag = get_setting(TAG_IN + event_uuid) or ""
    answer = client.post(
        "/hub/changes", json.dumps({"event": event_uuid, "erasures_tag": tag}).encode()
    )
    document = json.dumps(
        {"format": JOIN_FORMAT, "version": JOIN_VERSION}
        | {"event": answer.get("event"), "team": answer.get("team")}
    )
    try:
        settings = read_join_file(document)
    except ImportRefused as refused:
        raise HubUnreachable(f"The hub's answer could not be read: {refused}") from refused
    if settings["uuid"] != event_uuid:
        raise HubUnreachable("The hub answered about another event.")
    event = db.session.scalar(select(Event).where(Event.uuid == event_uuid))
    if event is None:  # joined while the hub was out of reach: take the event on now
        with background_writer():
            event = join_event(document).event
        db.session.commit()
    _take_settings(event, settings)
    pairs = answer.get("erasures")
    if isinstance(pairs, list):
        _take_erasures(event, pairs, result)
        _write_settings({TAG_IN + event_uuid: str(answer.get("erasures_tag", ""))[:32]})
    _take_team(settings["team"])


def _take_erasures(event: Event, pairs: list[Any], result: Round) -> None:
    """Erase here whoever the hub's erasure requests name, through the import of a bundle
    of the event holding those requests alone (it checks them, and keeps the tombstones)."""
    doc = bundle_frame(event) | {"erasures": pairs, "tombstones": [], "team": None}
    try:
        requests = check_bundle(doc).erasures
    except ImportRefused as refused:
        raise HubUnreachable(f"The hub's erasures could not be read: {refused}") from refused
    new = unseen(requests)
    if not new:
        return
    doc["erasures"] = [list(pair) for pair in sorted(new)]
    db.session.commit()
    with background_writer():
        report = import_bundle(json.dumps(doc), actor="hub")
    result.forgotten += report.forgotten


SETTINGS_FROM_HUB = ("name", "date", "place", "goal_cents", "rescue_cost_cents", "tracking_source")


def _take_settings(event: Event, values: dict[str, Any]) -> None:
    """The event's settings as the hub holds them (the hub's lead edits the event)."""
    changed = {
        name: values[name] for name in SETTINGS_FROM_HUB if values[name] != getattr(event, name)
    }
    if not changed:
        return
    event_id = event.id
    db.session.commit()
    with background_writer():
        db.session.execute(update(Event).where(Event.id == event_id).values(**changed))
        db.session.commit()


def _take_team(page: dict[str, Any] | None) -> None:
    """The team's page from the hub, stored by its UUID unless it is here already."""
    if page is None or db.session.scalar(select(TeamPage.id).where(TeamPage.uuid == page["uuid"])):
        return
    db.session.commit()
    with background_writer():
        team.take(page, actor="hub")
        db.session.commit()


def chunk_records() -> int:
    """KIOSK_SYNC_CHUNK_RECORDS (1 to CHUNK_RECORDS), else CHUNK_RECORDS."""
    try:
        wanted = int(current_app.config.get("KIOSK_SYNC_CHUNK_RECORDS") or CHUNK_RECORDS)
    except ValueError:
        return CHUNK_RECORDS
    return min(max(wanted, 1), CHUNK_RECORDS)


def _chunk(event: Event, event_ids: list[int]) -> tuple[dict[str, list[Any]], dict[str, list]]:
    """The next records of `event` the hub lacks: (section -> bundle items, section -> the
    (id, revision) of each, to mark once acknowledged)."""
    most = chunk_records()
    items: dict[str, list[Any]] = {}
    marks: dict[str, list] = {}
    count = size = 0
    for section, (model, item) in BUNDLE_SECTIONS.items():
        if count >= most or size >= CHUNK_BYTES:
            break
        rows = db.session.scalars(
            select(model)
            .where(model.event_id == event.id, *_waiting_where(model, event_ids)[1:])
            .order_by(model.id)
            .limit(most - count)
        )
        for row in rows:
            written = item(row)
            length = len(json.dumps(written, ensure_ascii=False).encode())
            if count and size + length > CHUNK_BYTES:
                break
            items.setdefault(section, []).append(written)
            marks.setdefault(section, []).append((row.id, getattr(row, "revision", None)))
            count += 1
            size += length
    return items, marks


def _mark_sent(marks: dict[str, list]) -> None:
    """Note what the hub acknowledged: the revision each record had when it was read. A
    record changed since keeps waiting (its revision moved on)."""
    db.session.commit()
    with background_writer():
        for section, pairs in marks.items():
            model = BUNDLE_SECTIONS[section][0]
            if model is Tally:
                ids = [record_id for record_id, _revision in pairs]
                db.session.execute(update(Tally).where(Tally.id.in_(ids)).values(hub_sent=True))
            else:
                db.session.execute(
                    update(model),
                    [{"id": record_id, "hub_revision": rev} for record_id, rev in pairs],
                )
        db.session.commit()


def _send_event(client: Client, event: Event, event_ids: list[int], result: Round) -> None:
    """Send the event's unacknowledged records and new erasure requests, chunk by chunk."""
    uuid = event.uuid
    while True:
        if result.chunks >= CHUNKS_PER_ROUND:
            result.more = True
            return
        began = time.monotonic()
        frame = bundle_frame(event)
        tag = hub.erasures_tag(requests_of(uuid))
        erasures_new = tag != (get_setting(TAG_OUT + uuid) or hub.erasures_tag(set()))
        if not erasures_new:
            frame |= {"erasures": [], "tombstones": []}
        items, marks = _chunk(event, event_ids)
        db.session.commit()  # the reads end: no transaction is held while the hub answers
        if not items and not erasures_new:
            return
        body = json.dumps(frame | items | {"team": None}, ensure_ascii=False).encode()
        try:
            taken = client.post("/hub/records", body)
        except HubBusy as busy:
            # Nothing of it was stored: the same records are read again after the pause.
            result.busy += 1
            if result.busy >= BUSY_WAITS_PER_ROUND:
                result.more = True
                return
            time.sleep(busy_pause(busy.retry_after))
            event = db.session.get_one(Event, event.id)
            continue
        except ImportRefused as refusal:
            # The hub refuses the whole chunk (the event was erased there, or is not this
            # table's): nothing of it will ever be taken; say so and stop sending it.
            raise HubUnreachable(f"The hub refused the records: {refusal}") from refusal
        _mark_sent(marks)
        if erasures_new:
            _write_settings({TAG_OUT + uuid: tag})
        result.sent += sum(len(p) for p in marks.values())
        result.chunks += 1
        # The hub's rest after this chunk (its intake is paced), or this table's own.
        time.sleep(max((time.monotonic() - began) * REST_SHARE, _rest_of(taken)))
        event = db.session.get_one(Event, event.id)


def sync_once() -> Round | None:
    """One round with the hub (see the module's docstring); None without a hub or when
    revoked. Notes the status either way; raises nothing the hub or network can cause."""
    code = link()
    if code is None:
        return None
    state = stored_status()
    if state.revoked:
        return None
    result = Round()
    client = Client(code)
    try:
        for uuid in code.events:
            _take_changes(client, uuid, result)
        event_ids = _linked_event_ids(code)
        for uuid in code.events:
            event = db.session.scalar(select(Event).where(Event.uuid == uuid))
            if event is not None and event.erased_at is None:
                _send_event(client, event, event_ids, result)
    except TableRevoked as revoked:
        db.session.rollback()
        state.revoked = True
        state.last_error = str(revoked) or "This table was revoked on the hub."
        _save_status(state)
        return None
    except (HubUnreachable, ImportRefused) as problem:
        db.session.rollback()
        state.last_error = str(problem)
        state.unreachable_since = state.unreachable_since or clock.now().isoformat()
        state.sent += result.sent
        _save_status(state)
        raise HubUnreachable(str(problem)) from problem
    if result.busy < BUSY_WAITS_PER_ROUND:
        state.last_sync = clock.now().isoformat()
        state.last_error = state.unreachable_since = None
    # else the hub was busy all round long: neither a failure nor a sync, the status stays
    state.sent += result.sent
    _save_status(state)
    return result


def interval(app: Flask) -> float:
    """KIOSK_SYNC_SECONDS, from 0.05 to an hour; the default when unset or not a number."""
    try:
        seconds = float(app.config.get("KIOSK_SYNC_SECONDS") or DEFAULT_INTERVAL_S)
    except ValueError:
        return DEFAULT_INTERVAL_S
    return min(max(seconds, 0.05), 3600.0) if seconds == seconds else DEFAULT_INTERVAL_S


def start(app: Flask) -> threading.Event:
    """Sync in a background thread of `kiosk serve`; set the returned event to stop it.

    Rounds follow each other every KIOSK_SYNC_SECONDS; after failures in a row the pause
    doubles, up to LONGEST_PAUSE_S (never shorter than the interval).
    """
    stop = threading.Event()

    def run() -> None:
        failures = 0
        while True:
            pause = interval(app)
            with app.app_context():
                try:
                    done = sync_once()
                    failures = 0
                    if done is not None and done.more:
                        pause = 0
                except HubUnreachable:
                    failures += 1
                except Exception:  # a bug in one round must not end the sync for the day
                    failures += 1
                    app.logger.exception("Sync with the hub failed")
                finally:
                    # Whatever became of the database server meanwhile (a hub's PostgreSQL
                    # restarted): ending the round's session never ends the thread.
                    end_session()
            if failures:
                pause = max(pause, min(LONGEST_PAUSE_S, pause * 2 ** min(failures, 4)))
            if stop.wait(pause):
                return

    threading.Thread(target=run, name="kiosk-hub-sync", daemon=True).start()
    return stop
