"""Known devices: one random, hashed token per browser the lead logged in from

Replaces the one signed "known device" value every browser shared (never revoked, surviving
a passphrase change): each browser gets a row, listed in Settings, revocable one by one.

Revision ID: c41d7e2a9b10
Revises: 9a8caa5d79b2
Create Date: 2026-12-02 03:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "c41d7e2a9b10"
down_revision = "9a8caa5d79b2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "known_device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("renewals", sa.Integer(), nullable=False),
        sa.Column("last_login", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_device")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_known_device_token_hash")),
    )


def downgrade():
    op.drop_table("known_device")
