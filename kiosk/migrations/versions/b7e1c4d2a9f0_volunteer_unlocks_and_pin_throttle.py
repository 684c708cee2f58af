"""volunteer unlocks and per-tablet PIN throttle

Revision ID: b7e1c4d2a9f0
Revises: b7d41e0a9c21
Create Date: 2026-11-24 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b7e1c4d2a9f0"
down_revision = "b7d41e0a9c21"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "volunteer_unlock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("pin_fingerprint", sa.String(length=16), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("undo_tally_uuid", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteer_unlock")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_volunteer_unlock_token_hash")),
    )
    op.create_table(
        "pin_throttle",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("locked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("client", name=op.f("pk_pin_throttle")),
    )


def downgrade():
    op.drop_table("pin_throttle")
    op.drop_table("volunteer_unlock")
