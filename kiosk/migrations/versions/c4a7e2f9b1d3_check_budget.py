"""Check budget: the volunteer PIN checks allowed per hour from all addresses together

Wrong PINs were limited per address only; an attacker rotating source addresses checked
hundreds of PINs a minute. kiosk/services/budget.py keeps one row per check an hour may
hold, taken in a serialised transaction, so every server process shares one budget.

Revision ID: c4a7e2f9b1d3
Revises: a4d8e2f6b9c3
Create Date: 2026-12-07 03:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "c4a7e2f9b1d3"
down_revision = "a4d8e2f6b9c3"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "check_budget",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("scope", "slot", name=op.f("pk_check_budget")),
    )


def downgrade():
    op.drop_table("check_budget")
