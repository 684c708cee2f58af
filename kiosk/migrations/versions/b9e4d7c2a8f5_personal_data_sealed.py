"""Personal data sealed at rest: every name, email, phone, organisation, question and press
request already stored is sealed with the team's public key (kiosk/services/sealing.py).

Each record first gets its email's digest under its event's erasure key (kiosk/emails.py),
which recognises the person from then on (the sign-up's one-per-person index moves onto it),
and a sign-up whether Mailchimp would refuse its address, both while the emails are clear.

A kiosk without a team key gets one here if it holds records: wrapped by a recovery code
printed once (the lead passphrase, if set, cannot be read from its hash) or, before any
passphrase, by the first run's setup secret that `kiosk serve` prints. The clear values are
overwritten; `kiosk serve` then compacts the file (sealing.scrub_database: VACUUM and a
truncated WAL on SQLite, VACUUM FULL on PostgreSQL) so no old page keeps them.

Revision ID: b9e4d7c2a8f5
Revises: b3e9d7a5c2f1
Create Date: 2026-12-07 06:15:00

"""

import base64
import hashlib
import secrets

import sqlalchemy as sa
from alembic import op

from kiosk.emails import digest_of_record, mailchimp_address
from kiosk.services import sealing

revision = "b9e4d7c2a8f5"
down_revision = "b3e9d7a5c2f1"
branch_labels = None
depends_on = None

SEALED = {
    "signup": ("first_name", "last_name", "phone", "organisation", "email"),
    "pledge": ("name", "email"),
    "question": ("text", "email"),
    "press_request": ("name", "outlet", "website", "past_work", "outline", "message", "email"),
}
# Columns that were VARCHAR: a sealed value is longer than the form's limit.
WIDENED = {
    "signup": ("first_name", "last_name", "phone", "organisation", "email"),
    "pledge": ("name", "email"),
    "question": ("email",),
    "press_request": ("name", "outlet", "website", "email"),
}
BATCH = 500

setting = sa.table("setting", sa.column("key"), sa.column("value"), sa.column("updated_at"))


def _get(connection, key: str):
    return connection.scalar(sa.select(setting.c.value).where(setting.c.key == key))


def _put(connection, key: str, value: str) -> None:
    connection.execute(sa.delete(setting).where(setting.c.key == key))
    connection.execute(sa.insert(setting).values(key=key, value=value, updated_at=sa.func.now()))


def _team_public_key(connection):
    stored = _get(connection, sealing.PUBLIC_KEY)
    if stored is not None:
        return sealing.PublicKey(base64.b64decode(stored))
    key = sealing.generate_key()
    _put(connection, sealing.PUBLIC_KEY, base64.b64encode(bytes(key.public_key)).decode())
    if _get(connection, "lead_passphrase_hash"):
        code = sealing.new_recovery_text()
        _put(connection, sealing.BY_RECOVERY, sealing.wrap_fast(key, code))
        print(  # noqa: T201  # shown once, where the lead upgrades the kiosk
            "\n  Personal data is now sealed at rest. RECOVERY CODE (shown once):\n"
            f"    {code}\n"
            "  Write it down and keep it apart from this kiosk. Then run `kiosk passphrase`\n"
            "  once and give it as the current secret: from then on your passphrase opens\n"
            "  the records, and the code stays your way back if the passphrase is lost.\n"
        )
    else:
        token = secrets.token_urlsafe(24)
        _put(connection, sealing.BY_SETUP, sealing.wrap_fast(key, token))
        _put(connection, sealing.SETUP_TOKEN_HASH, hashlib.sha256(token.encode()).hexdigest())
        sealing.remember_setup_secret(str(connection.engine.url), token)
    sealing.scrub_after_upgrade.add(str(connection.engine.url))
    return key.public_key


def _sqlite_triggers(connection, table: str) -> list[tuple[str, str]]:
    """The triggers on `table` (name, SQL): SQLite's batch copy of a table drops them, and they
    keep the counts (migration b3f9d1c7a5e2). PostgreSQL alters in place and keeps them."""
    if connection.dialect.name != "sqlite":
        return []
    return [
        (name, sql)
        for name, sql in connection.execute(
            sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
            {"t": table},
        )
    ]


def _email_fields(connection) -> None:
    """Each record's email digest under its event's key (kiosk/emails.py) and a sign-up's
    Mailchimp flag, while the emails are still clear."""
    event = sa.table("event", sa.column("id"), sa.column("erasure_key"))
    keys = dict(connection.execute(sa.select(event.c.id, event.c.erasure_key)).all())
    for table in SEALED:
        columns: list[sa.ColumnClause] = [sa.column("id"), sa.column("event_id")]
        columns += [sa.column("email"), sa.column("email_digest")]
        if table == "signup":
            columns.append(sa.column("mailchimp_refuses"))
        rows_table = sa.table(table, *columns)
        last = 0
        while True:
            rows = connection.execute(
                sa.select(rows_table.c.id, rows_table.c.event_id, rows_table.c.email)
                .where(rows_table.c.id > last, rows_table.c.email != "")
                .order_by(rows_table.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            for row in rows:
                if sealing.is_sealed(row.email):
                    continue
                values: dict[str, object] = {
                    "email_digest": digest_of_record(keys.get(row.event_id), row.email)
                }
                if table == "signup":
                    values["mailchimp_refuses"] = mailchimp_address(row.email) is None
                connection.execute(
                    sa.update(rows_table).where(rows_table.c.id == row.id).values(**values)
                )
            last = rows[-1].id


def upgrade():
    connection = op.get_bind()
    # The sign-up's one-per-person index moves from the email (sealed: never equal) to its
    # digest; dropped before the batch copy, which would otherwise copy it.
    op.drop_index("uq_signup_event_email", table_name="signup")
    for table, columns in WIDENED.items():
        triggers = _sqlite_triggers(connection, table)
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("email_digest", sa.String(length=64), server_default="", nullable=False)
            )
            if table == "signup":
                batch.add_column(
                    sa.Column(
                        "mailchimp_refuses", sa.Boolean(), server_default=sa.false(), nullable=False
                    )
                )
            for column in columns:
                batch.alter_column(column, type_=sa.Text())
        for name, sql in triggers:
            op.execute(f'DROP TRIGGER IF EXISTS "{name}"')
            op.execute(sql)
    _email_fields(connection)
    # A record without a digest (a sealed email from a file keyed otherwise) is no one's twin.
    op.create_index(
        "uq_signup_event_email",
        "signup",
        ["event_id", "email_digest"],
        unique=True,
        sqlite_where=sa.text("email_digest <> ''"),
        postgresql_where=sa.text("email_digest <> ''"),
    )
    # The partial index above cannot serve a query by event alone, as the full one did.
    op.create_index("ix_signup_event_id", "signup", ["event_id"])
    public = None
    for table, columns in SEALED.items():
        rows_table = sa.table(table, sa.column("id"), *(sa.column(c) for c in columns))
        clear = sa.or_(
            *(
                sa.and_(rows_table.c[c] != "", ~rows_table.c[c].startswith(sealing.PREFIX))
                for c in columns
            )
        )
        last = 0
        while True:
            rows = connection.execute(
                sa.select(rows_table)
                .where(clear, rows_table.c.id > last)
                .order_by(rows_table.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            public = public or _team_public_key(connection)
            for row in rows:
                values = {c: sealing.seal(getattr(row, c) or "", public) for c in columns}
                connection.execute(
                    sa.update(rows_table).where(rows_table.c.id == row.id).values(**values)
                )
            last = rows[-1].id
    if public is not None:
        sealing.scrub_after_upgrade.add(str(connection.engine.url))


def downgrade():
    # Sealed values stay sealed (only the lead's key could open them) and the columns stay
    # wide enough to hold them: the older code shows them as they are. One sign-up per
    # person per event goes back to the (sealed, so never equal) email column.
    connection = op.get_bind()
    op.drop_index("ix_signup_event_id", table_name="signup")
    op.drop_index("uq_signup_event_email", table_name="signup")
    for table in SEALED:
        triggers = _sqlite_triggers(connection, table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("email_digest")
            if table == "signup":
                batch.drop_column("mailchimp_refuses")
        for name, sql in triggers:
            op.execute(f'DROP TRIGGER IF EXISTS "{name}"')
            op.execute(sql)
    op.create_index("uq_signup_event_email", "signup", ["event_id", "email"], unique=True)
