"""Counts kept as records arrive, never recounted on a read.

The opener chart, the FAQ tallies, the volunteer's conversations today and the lead's
dashboard (totals, per hour, per kiosk) read counter rows, so they cost the same at one
record and at a million. The database keeps the counter rows itself: triggers on `tally`,
`signup`, `pledge` and `question` (migration b3f9d1c7a5e2) add to them and take from them
in the same transaction as the row they count, whoever writes it (a tap batch, a sign-up,
a merge, an import, an erasure, a retention purge, a restore, plain SQL). A count is never
ahead of or behind its records.

Each PostgreSQL connection of the kiosk owns a shard of every counter while it lives
(`install`: a session advisory lock on one of SHARDS numbers, named to the triggers in the
`kiosk.shard` setting), so no two connections of a hub ever update the same counter row:
their transactions neither queue on one row nor deadlock, whatever order they count in. A
connection that owns none (more than SHARDS at once, psql) shares `pg_backend_pid() %
SHARDS`. A read sums the shards. Per-hour figures are kept in 15-minute buckets
(`HourCount`), which add up to any local hour.

`recount()` counts the raw rows the slow way and `kept()` reads the counters, in the same
shape: tests compare the two after every kind of write.
"""

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, literal, select
from sqlalchemy.engine import Engine

from kiosk.extensions import db
from kiosk.models import PERSONAL_MODELS, HourCount, RecordCount, Tally, TallyCount

BUCKET_SECONDS = 900
# As many shards as a hub's connections at once (processes x pool), and the same number in
# the triggers' fallback (migration b3f9d1c7a5e2) and page_cache's.
SHARDS = 64
# The advisory lock class of the shards ("kio"), and the lock of the first free one.
SHARD_LOCKS = 0x6B696F
TAKE_SHARD = (
    f"SELECT shard FROM generate_series(0, {SHARDS - 1}) AS shard "  # noqa: S608  # nosec B608
    f"WHERE pg_try_advisory_lock({SHARD_LOCKS}, shard) LIMIT 1"  # (our constants)
)
# The records counted per kiosk, by table name (RecordCount.kind).
COUNTED_RECORDS = ("signup", "pledge", "question")
SIGNUP = "signup"


def _own_a_shard(dbapi_connection: Any, _record: object) -> None:
    """A new PostgreSQL connection takes the first shard no other connection holds (the lock
    lives as long as the session: a killed process's shards come free with it)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(TAKE_SHARD)
        row = cursor.fetchone()
        if row is not None:
            cursor.execute("SELECT set_config('kiosk.shard', %s, false)", (str(row[0]),))
    finally:
        cursor.close()
    dbapi_connection.commit()


def install(engine: Engine) -> None:
    """Give each new connection of `engine` a shard of its own (PostgreSQL; SQLite has one
    writer at a time and counts in shard 0)."""
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _own_a_shard)


def bucket_of(moment: datetime) -> int:
    """The 15-minute bucket (since 1970, UTC) that `moment` falls in."""
    return int(moment.timestamp()) // BUCKET_SECONDS


def bucket_start(bucket: int) -> datetime:
    return datetime.fromtimestamp(bucket * BUCKET_SECONDS, UTC)


def tallies_by_key(event_id: int, kind: str) -> dict[str, int]:
    """Taps of `kind` at the event, by key (keys never tapped, or all taken back, left out)."""
    total = func.sum(TallyCount.value)
    rows = db.session.execute(
        select(TallyCount.key, total)
        .where(TallyCount.event_id == event_id, TallyCount.kind == kind)
        .group_by(TallyCount.key)
        .having(total != 0)
    )
    return {key: int(count) for key, count in rows}


def tally_total(event_id: int, kind: str) -> int:
    total = db.session.scalar(
        select(func.sum(TallyCount.value)).where(
            TallyCount.event_id == event_id, TallyCount.kind == kind
        )
    )
    return int(total or 0)


def since(event_id: int, kind: str, moment: datetime) -> int:
    """Records of `kind` ("signup", "conversation") at the event from `moment` on, which
    must start a bucket (a local midnight or hour does, in every time zone)."""
    total = db.session.scalar(
        select(func.sum(HourCount.value)).where(
            HourCount.event_id == event_id,
            HourCount.kind == kind,
            HourCount.bucket >= bucket_of(moment),
        )
    )
    return int(total or 0)


def edge_bucket(event_id: int, kind: str, *, last: bool) -> int | None:
    """The event's first (or last) bucket holding records of `kind`: the index read from
    one end, stopping at the first bucket whose shards do not add up to nothing."""
    total = func.sum(HourCount.value)
    return db.session.scalar(
        select(HourCount.bucket)
        .where(HourCount.event_id == event_id, HourCount.kind == kind)
        .group_by(HourCount.bucket)
        .having(total > 0)
        .order_by(HourCount.bucket.desc() if last else HourCount.bucket)
        .limit(1)
    )


def buckets(event_id: int, kind: str, first: int, last: int) -> dict[int, int]:
    """Records of `kind` per bucket from `first` to `last`, buckets with none left out."""
    total = func.sum(HourCount.value)
    rows = db.session.execute(
        select(HourCount.bucket, total)
        .where(
            HourCount.event_id == event_id,
            HourCount.kind == kind,
            HourCount.bucket.between(first, last),
        )
        .group_by(HourCount.bucket)
        .having(total > 0)
    )
    return {bucket: int(count) for bucket, count in rows}


def records(event_id: int) -> list[tuple[str, str | None, int, int, int | None]]:
    """(kind, kiosk id or None, how many, cents, lowest id) of the event's sign-ups, pledges
    and questions per kiosk that made them."""
    total = func.sum(RecordCount.value)
    rows = db.session.execute(
        select(
            RecordCount.kind,
            RecordCount.kiosk_id,
            total,
            func.sum(RecordCount.amount_cents),
            func.min(RecordCount.first_id),
        )
        .where(RecordCount.event_id == event_id)
        .group_by(RecordCount.kind, RecordCount.kiosk_id)
        .having(total != 0)
    )
    return [
        (kind, kiosk_id or None, int(count), int(cents), first)
        for kind, kiosk_id, count, cents, first in rows
    ]


def records_total(event_id: int, kind: str) -> tuple[int, int]:
    """How many records of `kind` the event holds, and their cents (pledges)."""
    count, cents = db.session.execute(
        select(func.sum(RecordCount.value), func.sum(RecordCount.amount_cents)).where(
            RecordCount.event_id == event_id, RecordCount.kind == kind
        )
    ).one()
    return int(count or 0), int(cents or 0)


Counts = dict[tuple[object, ...], int]


def kept(event_id: int) -> Counts:
    """Every count kept for the event, non-zero ones only, as `recount` gives them."""
    counts: Counts = {}
    kinds = db.session.scalars(
        select(TallyCount.kind).where(TallyCount.event_id == event_id).distinct()
    )
    for kind in list(kinds):
        for key, count in tallies_by_key(event_id, kind).items():
            counts[("tally", kind, key)] = count
    for kind, kiosk_id, count, cents, _first in records(event_id):
        counts[(kind, kiosk_id)] = count
        if cents:
            counts[(kind, kiosk_id, "cents")] = cents
    for kind in ("conversation", SIGNUP):
        for bucket, count in buckets(event_id, kind, 0, 2**31 - 1).items():
            counts[("bucket", kind, bucket)] = count
    return counts


def recount(event_id: int) -> Counts:
    """The counts of `kept`, counted again from every raw row of the event (slow: for tests
    and checks, never for a screen)."""
    counts: Counter[tuple[object, ...]] = Counter()
    taps = db.session.execute(
        select(Tally.kind, Tally.key, Tally.created_at).where(Tally.event_id == event_id)
    )
    for kind, key, created_at in taps:
        counts[("tally", kind, key)] += 1
        if kind == Tally.CONVERSATION:
            counts[("bucket", kind, bucket_of(created_at))] += 1
    for model in PERSONAL_MODELS:
        kind = model.__tablename__
        if kind not in COUNTED_RECORDS:
            continue
        cents = getattr(model, "amount_cents", None)
        rows = db.session.execute(
            select(
                model.kiosk_id, model.created_at, cents if cents is not None else literal(0)
            ).where(model.event_id == event_id)
        )
        for kiosk_id, created_at, amount in rows:
            counts[(kind, kiosk_id)] += 1
            counts[(kind, kiosk_id, "cents")] += int(amount or 0)
            if kind == SIGNUP:
                counts[("bucket", SIGNUP, bucket_of(created_at))] += 1
    return {key: count for key, count in counts.items() if count}
