"""Tombstones name their erasure request

A person erased, back at the table, then erased again leaves two requests with the same
digest; before this, the second never reached a kiosk that had applied the first. Existing
tombstones become one request each, named by their digest's first 36 characters: every
kiosk holding the same tombstone names it the same way, so none re-applies it.

Revision ID: d5e8f1a2b3c4
Revises: a1c3e5f7b9d2
Create Date: 2026-12-02 06:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "d5e8f1a2b3c4"
down_revision = "a1c3e5f7b9d2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tombstone") as batch:
        batch.add_column(
            sa.Column("request", sa.String(length=36), server_default="", nullable=False)
        )
    op.execute("UPDATE tombstone SET request = substr(digest, 1, 36)")
    with op.batch_alter_table("tombstone") as batch:
        batch.drop_constraint("uq_tombstone_scope", type_="unique")
        batch.create_unique_constraint(op.f("uq_tombstone_scope"), ["scope", "digest", "request"])


def downgrade():
    op.execute(
        "DELETE FROM tombstone WHERE id NOT IN "
        "(SELECT MIN(id) FROM tombstone GROUP BY scope, digest)"
    )
    with op.batch_alter_table("tombstone") as batch:
        batch.drop_constraint("uq_tombstone_scope", type_="unique")
        batch.create_unique_constraint(op.f("uq_tombstone_scope"), ["scope", "digest"])
        batch.drop_column("request")
