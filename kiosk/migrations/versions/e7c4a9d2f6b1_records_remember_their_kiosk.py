"""Records remember their kiosk: a kiosk_id on each record (sign-ups, pledges, questions,
press requests, taps), so the dashboard counts each kiosk's records of an event after a
merge. Records made before this are NULL ("not recorded").

Revision ID: e7c4a9d2f6b1
Revises: d5e8f1a2b3c4
Create Date: 2026-12-02 05:45:00

"""

import sqlalchemy as sa
from alembic import op

revision = "e7c4a9d2f6b1"
down_revision = "d5e8f1a2b3c4"
branch_labels = None
depends_on = None

TABLES = ("signup", "pledge", "question", "press_request", "tally")


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("kiosk_id", sa.String(length=36), nullable=True))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("kiosk_id")
