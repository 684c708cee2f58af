"""The team's own page ("Our team"): its versions and its next events

Each save of /lead/team adds a version of the page (name, fundraising page and goal, contact,
public sign-up link) with its next events; the page shown is the highest revision. Versions
travel in the event's bundle and join file by UUID (services/team.py).

Revision ID: a4d8e2f6b9c3
Revises: f3b9c2d1e5a7
Create Date: 2026-12-07 02:45:00

"""

import sqlalchemy as sa
from alembic import op

revision = "a4d8e2f6b9c3"
down_revision = "f3b9c2d1e5a7"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "team_page",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("fundraising_url", sa.String(length=300), nullable=False),
        sa.Column("goal_cents", sa.Integer(), nullable=True),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("signup_url", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("kiosk_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_page")),
        sa.UniqueConstraint("uuid", name=op.f("uq_team_page_uuid")),
    )
    op.create_index("ix_team_page_revision_uuid", "team_page", ["revision", "uuid"])
    op.create_table(
        "team_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_page_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("place", sa.String(length=160), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_page_id"],
            ["team_page.id"],
            name=op.f("fk_team_event_team_page_id_team_page"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_event")),
        sa.UniqueConstraint("team_page_id", "position", name=op.f("uq_team_event_team_page_id")),
    )


def downgrade():
    op.drop_table("team_event")
    op.drop_index("ix_team_page_revision_uuid", table_name="team_page")
    op.drop_table("team_page")
