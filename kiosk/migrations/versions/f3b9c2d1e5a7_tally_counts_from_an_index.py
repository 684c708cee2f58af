"""Tally counts from an index: (event_id, kind, key) instead of (event_id, kind)

The opener's chart counts an event's taps by key after every tap. With the index on
(event_id, kind) SQLite read each tap's row to find its key: 15 ms per count at 20,000
taps. With the key in the index the count reads the index alone: 2.2 ms. The new index
serves every query the old one did (its first two columns are the old index).

Revision ID: f3b9c2d1e5a7
Revises: e8b2c6d4f1a7
Create Date: 2026-12-02 11:45:00

"""

from alembic import op

revision = "f3b9c2d1e5a7"
down_revision = "e8b2c6d4f1a7"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_tally_event_kind_key", "tally", ["event_id", "kind", "key"])
    op.drop_index("ix_tally_event_kind", table_name="tally")


def downgrade():
    op.create_index("ix_tally_event_kind", "tally", ["event_id", "kind"])
    op.drop_index("ix_tally_event_kind_key", table_name="tally")
