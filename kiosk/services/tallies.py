"""Anonymous tallies: opener answers, FAQ opens, conversations. No personal data here."""

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask, current_app
from sqlalchemy.engine import Connection

from kiosk import clock, page_cache
from kiosk.extensions import db
from kiosk.models import Event, Tally
from kiosk.services import counts
from kiosk.services.atomic import insert_new, insert_new_statement
from kiosk.services.database_health import forget_database_problem
from kiosk.services.events import ACTIVE_EVENT, current_event
from kiosk.services.records import clean_idempotency_key

BATCHER = "kiosk_tap_batcher"
# The batch's look-up of the active event's id, built once (building it cost more than
# running it) from the one look-up of the active event.
ACTIVE_EVENT_ID = ACTIVE_EVENT.with_only_columns(Event.id)
TAP_IDENTITY = ("idempotency_key", "kind", "key")


def record_tally(kind: str, key: str, idempotency_key: str | None = None) -> bool:
    """Count one tap of `kind` (opener, faq_open, ...) for the active event; False when
    this tap was counted already (the same form's key, resent after a timeout).

    Taps that arrive together are committed together (`TapBatcher`): one commit, one fsync,
    and every tap is answered only once that commit is done.
    """
    tap = Tap(kind, key, clean_idempotency_key(idempotency_key))
    session = db.session()
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            # This request changed something already: count the tap in the same transaction.
            return record_in_session(tap)
        # It only read (the active event, for its language): end that read, which on SQLite
        # also hands back the write turn the batch must take.
        session.commit()
    batcher: TapBatcher = current_app.extensions[BATCHER]
    counted = batcher.record(tap)
    return record_in_session(tap) if counted is None else counted


def record_in_session(tap: "Tap") -> bool:
    """One tap in the request's own session; opens a walk-up event when none is active."""
    counted = insert_new(Tally, tap.values(current_event().id)) is not None
    db.session.commit()
    return counted


@dataclass
class Tap:
    kind: str
    key: str
    idempotency_key: str | None
    done: bool = False
    counted: bool | None = None  # None: no active event, count it in the request's session
    error: BaseException | None = None
    # The page generations as the batch's transaction saw them after its inserts (what its
    # commit made current), read when a tap of the batch asks (the fast path's: it answers
    # the tap under them, with no read of its own).
    wants_generations: bool = False
    generations: dict[str, int] | None = None

    def values(self, event_id: int) -> dict[str, object]:
        """The tally row of this tap in event `event_id`."""
        return {
            "event_id": event_id,
            "kind": self.kind,
            "key": self.key,
            "idempotency_key": self.idempotency_key,
        }


class TapBatcher:
    """Group commit for taps: one transaction and one commit for the taps that wait together.

    The first tap to arrive writes every tap waiting at that moment in one transaction
    (one INSERT ... ON CONFLICT DO NOTHING each: the unique (idempotency_key, kind, key)
    still decides); taps that arrive meanwhile wait, and the next one to find nobody
    writing takes them all. Each tap's request is answered only after the commit that holds
    it returned, so an acknowledged tap survives kill -9 as before. On SQLite the batch
    takes the write turn like any write (kiosk/write_queue.py); on PostgreSQL each process
    batches its own taps.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: list[Tap] = []
        self._writing = False

    def record(self, tap: Tap) -> bool | None:
        """Whether `tap` was counted (False: counted before); None when no event is active."""
        with self._changed:
            self._waiting.append(tap)
            while not tap.done:
                if self._writing:
                    self._changed.wait()
                    continue
                self._writing = True
                batch, self._waiting = self._waiting, []
                self._changed.release()
                try:
                    write_batch(batch)
                finally:
                    self._changed.acquire()
                    self._writing = False
                    self._changed.notify_all()
        if tap.error is not None:
            raise tap.error
        return tap.counted


def write_batch(batch: list[Tap]) -> None:
    """Insert `batch` in one transaction; each tap learns whether it counted, or the error."""
    try:
        with db.engine.begin() as connection:
            event_id = connection.execute(ACTIVE_EVENT_ID).scalar()
            if event_id is not None:
                count_batch(connection, batch, event_id)
            if any(tap.wants_generations for tap in batch):
                read = connection.exec_driver_sql(
                    page_cache.READ, execution_options={page_cache.WRITES: ()}
                )
                generations = {name: value for name, value in read}
                for tap in batch:
                    tap.generations = generations
        # Committed outside the ORM session, whose commit hook would say this.
        forget_database_problem()
    except BaseException as error:
        for tap in batch:
            tap.counted, tap.error = None, error
        raise
    finally:
        for tap in batch:
            tap.done = True


def count_batch(connection: Connection, batch: list[Tap], event_id: int) -> None:
    """Insert the batch's taps in one statement (SQLAlchemy's "insertmanyvalues": the
    statement's own cost, which was most of a tap's, paid once per batch); each tap learns
    whether it counted: a row returned for its (idempotency key, kind, key), or one without
    a key (nothing conflicts with it). Taps of one batch that share a key count once, the
    first, as one after the other would."""
    # Each stored row returns what tells the taps apart.
    statement = insert_new_statement(Tally, connection.dialect.name, TAP_IDENTITY)
    # Only an opener tap bumps a generation (the chart's, in the trigger).
    bumps = {page_cache.TRIGGERED_BY_KIND.get(tap.kind, ()) for tap in batch}
    triggers = tuple(sorted({kind for kinds in bumps for kind in kinds}))
    rows = [tap.values(event_id) for tap in batch]
    stored = Counter(
        tuple(row)
        for row in connection.execute(
            statement, rows, execution_options={page_cache.TRIGGERS: triggers}
        )
    )
    for tap in batch:
        if tap.idempotency_key is None:
            tap.counted = True
            continue
        found = (tap.idempotency_key, tap.kind, tap.key)
        tap.counted = stored[found] > 0
        if tap.counted:
            stored[found] -= 1


def init_app(app: Flask) -> None:
    app.extensions[BATCHER] = TapBatcher()
    with app.app_context():
        counts.install(db.engine)


def count_by_key(event: Event, kind: str) -> dict[str, int]:
    """Taps of `kind` at `event` by key: kept counts (services/counts.py), not a recount."""
    return counts.tallies_by_key(event.id, kind)


def total(event: Event, kind: str) -> int:
    return counts.tally_total(event.id, kind)


def bars(counts: dict[str, int], labels: list[tuple[str, str]]) -> list[dict[str, object]]:
    """Rows for a bar chart, in the order of `labels` (key, label), with a 0-100 width."""
    largest = max(counts.values(), default=0)
    return [
        {
            "key": key,
            "label": label,
            "count": counts.get(key, 0),
            "percent": round(100 * counts.get(key, 0) / largest) if largest else 0,
        }
        for key, label in labels
    ]


def total_since(event: Event, kind: str, since: datetime) -> int:
    """Taps of `kind` (conversations: the ones counted per hour) at `event` from `since` on
    (e.g. today's conversations), `since` at the start of a local hour."""
    return counts.since(event.id, kind, since)


def start_of_today() -> datetime:
    """Midnight of today on this machine's clock (the table's local day), as aware UTC."""
    local_now = clock.local_now()
    return local_now.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
