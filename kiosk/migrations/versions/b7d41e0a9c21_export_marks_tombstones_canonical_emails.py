"""export marks per record, tombstones, erasure keys, canonical emails

Every personal record gets its revision and the revision last exported (all start
unexported: the old per-event export time decided by comparing clocks, so it proves
nothing). Every event gets its erasure key; tombstones get their table. Stored emails are
brought into the one canonical form, and sign-ups of one person at one event that only
differed in how the email was written are merged, so a unique index on (event, email) can
follow.

Revision ID: b7d41e0a9c21
Revises: f27cab151a57
Create Date: 2026-11-24 09:00:00

"""

import secrets

import sqlalchemy as sa
from alembic import op

# The app's own function: the stored form must be exactly what the running kiosk computes.
# Should it ever change, a new migration re-canonicalises.
from kiosk.emails import canonical_email

revision = "b7d41e0a9c21"
down_revision = "f27cab151a57"
branch_labels = None
depends_on = None

PERSONAL = ("signup", "pledge", "question", "press_request")
FILLED_IN = ("first_name", "last_name", "phone", "organisation")
CONSENT = ("consent_version", "consent_text", "consent_at")


def upgrade():
    for name in PERSONAL:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("revision", sa.Integer(), server_default="1", nullable=False)
            )
            batch_op.add_column(sa.Column("exported_revision", sa.Integer(), nullable=True))
    with op.batch_alter_table("signup", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mailchimp_revision", sa.Integer(), nullable=True))

    # NOT NULL with a default, then a key per event: an ALTER TABLE that SQLite does in
    # place. Never make batch mode recreate `event` here: dropping the old table with
    # foreign keys on would cascade-delete every sign-up, pledge and question.
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("erasure_key", sa.String(length=64), server_default="", nullable=False)
        )
    bind = op.get_bind()
    event = sa.table("event", sa.column("id", sa.Integer), sa.column("erasure_key", sa.String))
    for (event_id,) in bind.execute(sa.select(event.c.id)).all():
        bind.execute(
            event.update().where(event.c.id == event_id).values(erasure_key=secrets.token_hex(32))
        )

    op.create_table(
        "tombstone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=36), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tombstone")),
        sa.UniqueConstraint("scope", "digest", name=op.f("uq_tombstone_scope")),
    )

    # An event erased while active kept taking records: from now on an erased event is closed.
    event_status = sa.table(
        "event", sa.column("status", sa.String), sa.column("erased_at", sa.DateTime)
    )
    bind.execute(
        event_status.update()
        .where(event_status.c.erased_at.is_not(None), event_status.c.status != "closed")
        .values(status="closed")
    )
    for name in PERSONAL:
        _canonical_emails(bind, name)
    _merge_same_person(bind)


def _canonical_emails(bind, name: str) -> None:
    table = sa.table(name, sa.column("id", sa.Integer), sa.column("email", sa.String))
    rows = bind.execute(sa.select(table.c.id, table.c.email).where(table.c.email != "")).all()
    for record_id, email in rows:
        canonical = canonical_email(email)
        if canonical != email:
            bind.execute(table.update().where(table.c.id == record_id).values(email=canonical))


def _merge_same_person(bind) -> None:
    """One sign-up per person per event: the first keeps its UUID and takes in the others."""
    columns = ("id", "event_id", "email", "interests", *FILLED_IN, *CONSENT)
    signup = sa.table("signup", *(sa.column(c) for c in columns))
    twice = (
        sa.select(signup.c.event_id, signup.c.email)
        .group_by(signup.c.event_id, signup.c.email)
        .having(sa.func.count() > 1)
    )
    for event_id, email in bind.execute(twice).all():
        rows = bind.execute(
            sa.select(signup)
            .where(signup.c.event_id == event_id, signup.c.email == email)
            .order_by(signup.c.id)
        ).all()
        first, later = rows[0]._mapping, [row._mapping for row in rows[1:]]
        values = {name: first[name] for name in (*FILLED_IN, *CONSENT)}
        interests = [k for k in first["interests"].split(",") if k]
        for row in later:
            for name in FILLED_IN:
                if row[name]:
                    values[name] = row[name]  # the later sign-up updates, as on the kiosk
            if values["consent_at"] is None and row["consent_at"] is not None:
                values.update({name: row[name] for name in CONSENT})
            interests += [k for k in row["interests"].split(",") if k and k not in interests]
        bind.execute(
            signup.update()
            .where(signup.c.id == first["id"])
            .values(interests=",".join(interests), **values)
        )
        bind.execute(signup.delete().where(signup.c.id.in_([row["id"] for row in later])))


def downgrade():
    op.drop_table("tombstone")
    # In place (SQLite 3.35+), for the same reason as in upgrade: no recreated `event`.
    op.execute("ALTER TABLE event DROP COLUMN erasure_key")
    with op.batch_alter_table("signup", schema=None) as batch_op:
        batch_op.drop_column("mailchimp_revision")
    for name in PERSONAL:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_column("exported_revision")
            batch_op.drop_column("revision")
