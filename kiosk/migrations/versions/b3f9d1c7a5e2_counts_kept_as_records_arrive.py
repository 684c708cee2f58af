"""Counts kept as records arrive; page generations sharded

The opener chart, the FAQ tallies and the lead's dashboard counted every row of the event
on every read (135 ms for the chart at 1,000,000 taps, 1.8 s for a dashboard poll at
100,000 sign-ups). Now the database keeps the counts itself (kiosk/services/counts.py):
triggers on `tally`, `signup`, `pledge` and `question` add to or take from counter rows in
the same transaction as the row they count, whatever code writes it (a tap batch, a
sign-up, a merge, an import, an erasure, a retention purge, a restore's copy, plain SQL).

Counter rows are sharded: on PostgreSQL each server connection adds to the shard it owns
(the `kiosk.shard` setting, kiosk/services/counts.py; else `pg_backend_pid() % 64`), so the
processes of a hub never queue on one row; readers sum the shards. SQLite has one writer at
a time and uses shard 0.

`generation` (kiosk/page_cache.py) gets the same shard column, and an opener tap bumps
the `tallies` generation in the trigger (FAQ taps no longer end the chart's kept screens).

The counters are backfilled from the rows already stored.

A later migration that rebuilds one of these tables with SQLite's batch mode drops its
triggers: it must create them again (tests/test_counts.py recounts and would fail).

Revision ID: b3f9d1c7a5e2
Revises: c4a7e2f9b1d3
Create Date: 2026-12-07 05:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "b3f9d1c7a5e2"
down_revision = "c4a7e2f9b1d3"
branch_labels = None
depends_on = None

SHARDS = 64
# The counted records and what each one's counter rows hold.
RECORDS = ("signup", "pledge", "question")
# 15-minute buckets since 1970 (UTC): every local hour is a sum of whole buckets, also in
# time zones 30 or 45 minutes off the hour.
BUCKET = {
    "sqlite": "(CAST(strftime('%s', {row}.created_at) AS INTEGER) / 900)",
    "postgresql": "CAST(floor(extract(epoch FROM {row}.created_at) / 900) AS INTEGER)",
}
SHARD = {"sqlite": "0", "postgresql": "kiosk_shard"}


def _upsert(
    table: str, columns: dict[str, str], adds: dict[str, str], where: str = "", dialect: str = ""
) -> str:
    """INSERT ... SELECT [WHERE] ON CONFLICT DO UPDATE adding `adds` to the counter row."""
    names = ", ".join(columns)
    values = ", ".join(columns.values())
    keys = ", ".join(name for name in columns if name not in adds and name != "first_id")
    sets = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in adds)
    if "first_id" in columns:
        smaller = "least" if dialect == "postgresql" else "min"
        sets += f", first_id = {smaller}({table}.first_id, excluded.first_id)"
    # The WHERE is what SQLite's parser needs before ON CONFLICT in an INSERT ... SELECT.
    return (
        f"INSERT INTO {table} ({names}) SELECT {values} WHERE {where or 'true'} "
        f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"
    )


def _tally(row: str, sign: str, dialect: str) -> list[str]:
    shard = SHARD[dialect]
    return [
        _upsert(
            "tally_count",
            {
                "event_id": f"{row}.event_id",
                "kind": f"{row}.kind",
                "key": f"{row}.key",
                "shard": shard,
                "value": sign,
            },
            {"value": sign},
        ),
        _upsert(
            "hour_count",
            {
                "event_id": f"{row}.event_id",
                "kind": f"{row}.kind",
                "bucket": BUCKET[dialect].format(row=row),
                "shard": shard,
                "value": sign,
            },
            {"value": sign},
            f"{row}.kind = 'conversation'",
        ),
        # Only the opener's tallies are on a visitor screen (its chart).
        _upsert(
            "generation",
            {"name": "'tallies'", "shard": shard, "value": "1"},
            {"value": "1"},
            f"{row}.kind = 'opener'",
        ),
    ]


def _record(table: str, row: str, sign: str, dialect: str) -> list[str]:
    shard = SHARD[dialect]
    amount = f"{sign} * {row}.amount_cents" if table == "pledge" else "0"
    statements = [
        _upsert(
            "record_count",
            {
                "event_id": f"{row}.event_id",
                "kind": f"'{table}'",
                "kiosk_id": f"coalesce({row}.kiosk_id, '')",
                "shard": shard,
                "value": sign,
                "amount_cents": amount,
                "first_id": f"{row}.id",
            },
            {"value": sign, "amount_cents": amount},
            dialect=dialect,
        )
    ]
    if table == "signup":
        statements.append(
            _upsert(
                "hour_count",
                {
                    "event_id": f"{row}.event_id",
                    "kind": "'signup'",
                    "bucket": BUCKET[dialect].format(row=row),
                    "shard": shard,
                    "value": sign,
                },
                {"value": sign},
            )
        )
    return statements


def _counted_columns(table: str) -> list[str]:
    if table == "tally":
        return ["event_id", "kind", "key", "created_at"]
    return ["event_id", "kiosk_id", "created_at"] + (["amount_cents"] if table == "pledge" else [])


def _statements(table: str, row: str, sign: str, dialect: str) -> list[str]:
    if table == "tally":
        return _tally(row, sign, dialect)
    return _record(table, row, sign, dialect)


def _sqlite_triggers(table: str) -> list[str]:
    def body(parts: list[str]) -> str:
        return " ".join(f"{part};" for part in parts)

    columns = _counted_columns(table)
    changed = " OR ".join(f"OLD.{name} IS NOT NEW.{name}" for name in columns)
    moved = _statements(table, "OLD", "-1", "sqlite") + _statements(table, "NEW", "1", "sqlite")
    return [
        f"CREATE TRIGGER count_{table}_insert AFTER INSERT ON {table} "
        f"BEGIN {body(_statements(table, 'NEW', '1', 'sqlite'))} END",
        f"CREATE TRIGGER count_{table}_delete AFTER DELETE ON {table} "
        f"BEGIN {body(_statements(table, 'OLD', '-1', 'sqlite'))} END",
        f"CREATE TRIGGER count_{table}_update AFTER UPDATE OF {', '.join(columns)} ON {table} "
        f"WHEN {changed} BEGIN {body(moved)} END",
    ]


def _postgresql_triggers(table: str) -> list[str]:
    def block(parts: list[str]) -> str:
        return " ".join(f"{part};" for part in parts)

    columns = _counted_columns(table)
    changed = " OR ".join(f"OLD.{name} IS DISTINCT FROM NEW.{name}" for name in columns)
    function = (
        f"CREATE FUNCTION count_{table}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "DECLARE kiosk_shard integer := coalesce(\n"
        "  nullif(current_setting('kiosk.shard', true), '')::integer,\n"
        f"  pg_backend_pid() % {SHARDS});\n"
        "BEGIN\n"
        "  IF TG_OP IN ('DELETE', 'UPDATE') THEN\n"
        f"    {block(_statements(table, 'OLD', '-1', 'postgresql'))}\n"
        "  END IF;\n"
        "  IF TG_OP IN ('INSERT', 'UPDATE') THEN\n"
        f"    {block(_statements(table, 'NEW', '1', 'postgresql'))}\n"
        "  END IF;\n"
        "  RETURN NULL;\n"
        "END $$"
    )
    run = f"FOR EACH ROW EXECUTE FUNCTION count_{table}()"
    return [
        function,
        f"CREATE TRIGGER count_{table}_insert AFTER INSERT OR DELETE ON {table} {run}",
        f"CREATE TRIGGER count_{table}_update AFTER UPDATE OF {', '.join(columns)} ON {table} "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION count_{table}()",
    ]


def _backfill(dialect: str) -> list[str]:
    bucket = BUCKET[dialect].format(row="t")
    statements = [
        "INSERT INTO tally_count (event_id, kind, key, shard, value) "
        "SELECT event_id, kind, key, 0, count(*) FROM tally GROUP BY event_id, kind, key",
        "INSERT INTO hour_count (event_id, kind, bucket, shard, value) "  # noqa: S608  # nosec B608
        f"SELECT event_id, 'conversation', {bucket}, 0, count(*) FROM tally t "
        f"WHERE kind = 'conversation' GROUP BY event_id, {bucket}",
        "INSERT INTO hour_count (event_id, kind, bucket, shard, value) "  # noqa: S608  # nosec B608
        f"SELECT event_id, 'signup', {bucket}, 0, count(*) FROM signup t "
        f"GROUP BY event_id, {bucket}",
    ]
    for table in RECORDS:
        amount = "sum(amount_cents)" if table == "pledge" else "0"
        statements.append(
            "INSERT INTO record_count "  # noqa: S608  # nosec B608 (this migration's names)
            "(event_id, kind, kiosk_id, shard, value, amount_cents, first_id) "
            f"SELECT event_id, '{table}', coalesce(kiosk_id, ''), 0, count(*), {amount}, min(id) "
            f"FROM {table} GROUP BY event_id, coalesce(kiosk_id, '')"
        )
    return statements


def _counter_table(name: str, *keys: sa.Column, extra: tuple[sa.Column, ...] = ()) -> None:
    op.create_table(
        name,
        *keys,
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        *extra,
        sa.PrimaryKeyConstraint(*(key.name for key in keys), "shard", name=op.f(f"pk_{name}")),
    )


def upgrade():
    dialect = op.get_bind().dialect.name
    _counter_table(
        "tally_count",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
    )
    _counter_table(
        "record_count",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("kiosk_id", sa.String(length=36), nullable=False),
        extra=(
            sa.Column("amount_cents", sa.BigInteger(), nullable=False),
            sa.Column("first_id", sa.Integer(), nullable=True),
        ),
    )
    _counter_table(
        "hour_count",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
    )
    # The generations keep their values (a server still running keeps screens under them).
    op.execute("CREATE TABLE generation_before (name VARCHAR(20), value BIGINT)")
    op.execute("INSERT INTO generation_before (name, value) SELECT name, value FROM generation")
    op.drop_table("generation")
    op.create_table(
        "generation",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", "shard", name=op.f("pk_generation")),
    )
    op.execute(
        "INSERT INTO generation (name, shard, value) SELECT name, 0, value FROM generation_before"
    )
    op.drop_table("generation_before")
    for statement in _backfill(dialect):
        op.execute(statement)
    for table in ("tally", *RECORDS):
        triggers = (
            _postgresql_triggers(table) if dialect == "postgresql" else _sqlite_triggers(table)
        )
        for statement in triggers:
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for table in ("tally", *RECORDS):
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER count_{table}_insert ON {table}")
            op.execute(f"DROP TRIGGER count_{table}_update ON {table}")
            op.execute(f"DROP FUNCTION count_{table}()")
        else:
            for operation in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER count_{table}_{operation}")
    op.execute("CREATE TABLE generation_before (name VARCHAR(20), value BIGINT)")
    op.execute(
        "INSERT INTO generation_before (name, value) "
        "SELECT name, sum(value) FROM generation GROUP BY name"
    )
    op.drop_table("generation")
    op.create_table(
        "generation",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_generation")),
    )
    op.execute("INSERT INTO generation (name, value) SELECT name, value FROM generation_before")
    op.drop_table("generation_before")
    op.drop_table("hour_count")
    op.drop_table("record_count")
    op.drop_table("tally_count")
