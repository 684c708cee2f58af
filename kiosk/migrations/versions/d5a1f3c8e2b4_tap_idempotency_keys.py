"""Tap idempotency keys: a tap resent with its form's key (after a timeout) counts once

Adds tally.idempotency_key and a unique constraint on (idempotency_key, kind, key). Taps
stored before have no key (NULL), and NULLs never conflict on either engine.

Revision ID: d5a1f3c8e2b4
Revises: e7c4a9d2f6b1
Create Date: 2026-12-02 05:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "d5a1f3c8e2b4"
down_revision = "e7c4a9d2f6b1"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tally") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(
            batch.f("uq_tally_idempotency_key"), ["idempotency_key", "kind", "key"]
        )


def downgrade():
    with op.batch_alter_table("tally") as batch:
        batch.drop_constraint(batch.f("uq_tally_idempotency_key"), type_="unique")
        batch.drop_column("idempotency_key")
