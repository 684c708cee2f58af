"""languages (event default, sign-up language) and press request fields

Revision ID: a1c3e5f7b9d2
Revises: c41d7e2a9b10
Create Date: 2026-11-24 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a1c3e5f7b9d2"
down_revision = "c41d7e2a9b10"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=12), nullable=True))

    with op.batch_alter_table("signup", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locale", sa.String(length=12), server_default="", nullable=False)
        )

    with op.batch_alter_table("press_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("website", sa.String(length=300), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("past_work", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(
            sa.Column("commissioned", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("outline", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("deadline", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("recipient", sa.String(length=160), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("locale", sa.String(length=12), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("handled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("consent_version", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("consent_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("consent_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("press_request", schema=None) as batch_op:
        for column in (
            "consent_at",
            "consent_text",
            "consent_version",
            "handled",
            "locale",
            "recipient",
            "deadline",
            "outline",
            "commissioned",
            "past_work",
            "website",
        ):
            batch_op.drop_column(column)

    with op.batch_alter_table("signup", schema=None) as batch_op:
        batch_op.drop_column("locale")

    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_column("locale")
