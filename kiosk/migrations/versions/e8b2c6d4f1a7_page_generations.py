"""Page generations: a counter per kind of change the visitor screens show

kiosk/page_cache.py keeps rendered visitor pages per generation; every transaction that
changes tallies, events or settings bumps its row before it commits (rows appear at the
first bump), so every server process on the database sees the change at once.

Revision ID: e8b2c6d4f1a7
Revises: d5a1f3c8e2b4
Create Date: 2026-12-02 05:45:00

"""

import sqlalchemy as sa
from alembic import op

revision = "e8b2c6d4f1a7"
down_revision = "d5a1f3c8e2b4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "generation",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_generation")),
    )


def downgrade():
    op.drop_table("generation")
