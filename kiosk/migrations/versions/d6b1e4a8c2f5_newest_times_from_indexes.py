"""Newest times from indexes: the retention's clock check reads max(created_at) of every
kind of record (services/erasure.newest_record_time) at each start and each /healthz; with
no index it read every tap and sign-up of the season (a second at 1,000,000 taps).

Revision ID: d6b1e4a8c2f5
Revises: b9e4d7c2a8f5
Create Date: 2026-12-07 06:10:00

"""

from alembic import op

revision = "d6b1e4a8c2f5"
down_revision = "b9e4d7c2a8f5"
branch_labels = None
depends_on = None

INDEXED = [
    ("tally", "created_at"),
    ("signup", "created_at"),
    ("signup", "updated_at"),
    ("pledge", "created_at"),
    ("question", "created_at"),
    ("press_request", "created_at"),
]


def upgrade():
    for table, column in INDEXED:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def downgrade():
    for table, column in reversed(INDEXED):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
