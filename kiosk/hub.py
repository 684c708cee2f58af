"""The hub's endpoints for tables (machines, not people): a table's kiosk sends its records
here and takes the hub's erasures and event settings (services/sync.py is the other end).

Every call is a POST with a JSON body and the table's token as `Authorization: Bearer`;
no cookie, so no CSRF token (the blueprint is exempt). A revoked token gets 403 with
`"revoked": true`; each table is rate-limited (429). Nothing personal is ever answered:
records only come in (services/hub.py).

The hub writes one import at a time (services/imports.py's turn, across its processes). A
chunk that arrives while another import holds the turn is not parked in a server thread,
where the visitors' requests would queue behind it: it is answered at once with 503,
`Retry-After: BUSY_RETRY_AFTER_S` and `{"busy": true, "retry_after": ...}`, and nothing of it
is stored; the table sends it again after that pause (services/sync.py), not as a failure.

The hub's intake is paced by time too (imports.paced_turn): after a chunk whose import took
t, the turn rests for t × (1 - share) / share (KIOSK_HUB_IMPORT_SHARE, the share of wall
time chunks may use), every process answering busy meanwhile; the process that holds the
rest answers so before reading the chunk, with the rest's remaining length. The chunk's own
answer says how long the rest is (`rest`), so a table alone waits it out instead of being
told busy.
"""

import math
import threading
import time
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.wrappers import Response

from kiosk.extensions import csrf, db
from kiosk.models import HubTable
from kiosk.services import hub, imports
from kiosk.services.imports import ImportBusy, ImportRefused

bp = Blueprint("hub", __name__, url_prefix="/hub")
csrf.exempt(bp)

# A chunk of records is at most this big: the app's MAX_CONTENT_LENGTH (a table sends
# smaller ones: services/sync.CHUNK_BYTES).
MAX_CHUNK_BYTES = 64 * 1024
# Seconds a table waits before sending again a chunk the hub was too busy to take, at least
# (see WaitingTables for more).
BUSY_RETRY_AFTER_S = 1
# A busy answer never asks a table to wait longer than this.
BUSY_LONGEST_S = 20.0
# The share of the hub's wall time tables' chunks may use (KIOSK_HUB_IMPORT_SHARE), and the
# values it may take: 1 is no pacing (only one import at a time).
IMPORT_SHARE = 0.1
IMPORT_SHARE_RANGE = (0.02, 1.0)
_rate = hub.RateLimit()


class WaitingTables:
    """The tables this process told busy and has not taken a chunk of since, in the order
    they were first told: a queue the hub keeps no place in, only a count. A table's
    retry_after is its place in it times how often the hub takes a chunk
    (imports.last_period_s), so twenty waiting tables come back about when their turn could
    come, not every second each (each busy answer costs the hub's CPU beside its visitors).
    Monotonic time only; a table not heard from for FORGET_S leaves the queue; bounded by
    the number of tables."""

    FORGET_S = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._told: dict[int, float] = {}  # table id -> when last told busy (monotonic)

    def place(self, table_id: int) -> int:
        """The table's place (1 = next), noting that it was told busy now."""
        now = time.monotonic()
        with self._lock:
            for gone in [t for t, when in self._told.items() if now - when > self.FORGET_S]:
                del self._told[gone]
            place = list(self._told).index(table_id) + 1 if table_id in self._told else 0
            self._told[table_id] = now  # keeps its place (a dict keeps the first insertion)
            return place or len(self._told)

    def taken(self, table_id: int) -> None:
        with self._lock:
            self._told.pop(table_id, None)


_waiting = WaitingTables()


def answer(data: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(data)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def refused(message: str, status: int, **extra: Any) -> Response:
    return answer({"error": message, **extra}, status)


def the_table() -> HubTable | Response:
    """The calling table, or the answer refusing it."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    table = hub.table_of_token(token.strip()) if scheme.lower() == "bearer" else None
    if table is None:
        return refused("Unknown table token.", 401)
    if table.revoked_at is not None:
        return refused("This table was revoked on the hub.", 403, revoked=True)
    if not _rate.allow(table.id):
        response = refused("Too many requests: slow down.", 429)
        response.headers["Retry-After"] = "5"
        return response
    return table


def json_body() -> dict[str, Any] | None:
    if (request.content_length or 0) > MAX_CHUNK_BYTES:
        return None
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


@bp.post("/hello")
def hello() -> Response:
    """The table's name and its events as join files (settings and erasure keys, nothing
    personal): what `kiosk hub join` takes on."""
    table = the_table()
    if isinstance(table, Response):
        return table
    events = [e for uuid in table.events if (e := hub.event_of(table, uuid)) is not None]
    return answer({"table": table.name, "events": [hub.join_document(e) for e in events]})


@bp.post("/changes")
def changes() -> Response:
    """One event's settings, erasure requests (when the table lacks some) and team page."""
    table = the_table()
    if isinstance(table, Response):
        return table
    data = json_body() or {}
    event = hub.event_of(table, data.get("event"))
    if event is None:
        return refused("This table may not read that event.", 403)
    tag = data.get("erasures_tag")
    return answer(hub.changes(table, event, tag if isinstance(tag, str) else ""))


@bp.post("/records")
def records() -> Response:
    """Store a chunk of the table's records (a bundle of one of its events)."""
    table = the_table()
    if isinstance(table, Response):
        return table
    if (request.content_length or 0) > MAX_CHUNK_BYTES:
        return refused(f"A chunk is at most {MAX_CHUNK_BYTES} bytes.", 413)
    table_id = table.id
    if imports.resting_s():  # this process rests the turn: busy, before the chunk is read
        return busy(table_id)
    raw = request.get_data(cache=False)
    try:
        result = hub.receive_chunk(table, raw, import_share())
    except ImportRefused as refusal:
        db.session.rollback()
        return refused(str(refusal), 422)
    except ImportBusy:
        db.session.rollback()
        return busy(table_id)
    _waiting.taken(table_id)
    return answer(result)


def import_share() -> float:
    """KIOSK_HUB_IMPORT_SHARE within IMPORT_SHARE_RANGE; IMPORT_SHARE when unset or not a
    number."""
    try:
        share = float(current_app.config.get("KIOSK_HUB_IMPORT_SHARE") or IMPORT_SHARE)
    except (TypeError, ValueError):
        return IMPORT_SHARE
    low, high = IMPORT_SHARE_RANGE
    return min(max(share, low), high) if share == share else IMPORT_SHARE


def busy(table_id: int) -> Response:
    """The chunk was not taken: send it again after retry_after: BUSY_RETRY_AFTER_S, or the
    rest this process holds, or the table's place among the waiting ones (WaitingTables)
    times how often a chunk is taken, whichever is longest, at most BUSY_LONGEST_S."""
    turn = _waiting.place(table_id) * imports.last_period_s()
    longest = min(max(imports.resting_s(), turn), BUSY_LONGEST_S)
    retry_after = round(longest, 2) if longest > BUSY_RETRY_AFTER_S else BUSY_RETRY_AFTER_S
    response = refused(
        "The hub is writing other records: send this chunk again in a moment.",
        503,
        busy=True,
        retry_after=retry_after,
    )
    response.headers["Retry-After"] = str(math.ceil(retry_after))
    return response
