"""Tables sync to the hub: the hub's tables and their tokens; what each record sent

On the hub, `hub_table` holds each table allowed to send records (its name, the SHA-256 of
its token, its events, revocation and counts). At a table, `hub_revision` on each personal
record and `hub_sent` on each tap say what the hub has acknowledged (services/sync.py).

Revision ID: b3e9d7a5c2f1
Revises: b3f9d1c7a5e2
Create Date: 2026-12-07 05:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "b3e9d7a5c2f1"
down_revision = "b3f9d1c7a5e2"
branch_labels = None
depends_on = None

PERSONAL = ("signup", "pledge", "question", "press_request")
# Every ALTER TABLE here runs in place (recreate="never"), never as SQLite's batch copy: a
# copied table loses the triggers that keep the counts (migration b3f9d1c7a5e2). SQLite adds
# and drops a plain column in place (3.35+).


def upgrade():
    op.create_table(
        "hub_table",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(), nullable=True),
        sa.Column("records_received", sa.Integer(), server_default="0", nullable=False),
        sa.Column("chunks_received", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_table")),
        sa.UniqueConstraint("name", name=op.f("uq_hub_table_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_hub_table_token_hash")),
    )
    for table in PERSONAL:
        with op.batch_alter_table(table, recreate="never") as batch:
            batch.add_column(sa.Column("hub_revision", sa.Integer(), nullable=True))
    with op.batch_alter_table("tally", recreate="never") as batch:
        batch.add_column(
            sa.Column("hub_sent", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table("tally", recreate="never") as batch:
        batch.drop_column("hub_sent")
    for table in PERSONAL:
        with op.batch_alter_table(table, recreate="never") as batch:
            batch.drop_column("hub_revision")
    op.drop_table("hub_table")
