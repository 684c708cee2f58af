"""One sign-up per person per event: a unique index on (event_id, email)

Before the index can exist, people stored twice (two tablets at the same instant on
PostgreSQL could do that) are merged into their earliest row, by the rule of a second
sign-up on one kiosk: what a later row gives fills in and updates, nothing is blanked out,
interests add up, the latest consent stands. The migration before this one brought every
email into its canonical form (kiosk/emails.canonical_email) and merged what that made
equal; this merge is the net under it, by the same function, so the index and the kiosk's
look-ups agree.

Revision ID: 9a8caa5d79b2
Revises: b7e1c4d2a9f0
Create Date: 2026-12-02 09:00:00

"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

# The app's own function: the stored form must be exactly what the running kiosk computes.
from kiosk.emails import canonical_email

revision = "9a8caa5d79b2"
down_revision = "b7e1c4d2a9f0"
branch_labels = None
depends_on = None

signup = sa.table(
    "signup",
    sa.column("id", sa.Integer),
    sa.column("event_id", sa.Integer),
    sa.column("email", sa.String),
    sa.column("first_name", sa.String),
    sa.column("last_name", sa.String),
    sa.column("phone", sa.String),
    sa.column("organisation", sa.String),
    sa.column("interests", sa.String),
    sa.column("consent_version", sa.String),
    sa.column("consent_text", sa.Text),
    sa.column("consent_at", sa.DateTime),
    sa.column("created_at", sa.DateTime),
    sa.column("updated_at", sa.DateTime),
)
FILLED_IN = ("first_name", "last_name", "phone", "organisation")
CONSENT = ("consent_version", "consent_text", "consent_at")


def merged(rows: list[dict]) -> dict:
    """The earliest row with what each later one adds (services/signups._update's rule)."""
    keep = dict(rows[0])
    interests = [k for k in (keep["interests"] or "").split(",") if k]
    for later in rows[1:]:
        for name in FILLED_IN:
            if later[name]:
                keep[name] = later[name]
        interests += [k for k in (later["interests"] or "").split(",") if k and k not in interests]
        if later["consent_at"] is not None and (
            keep["consent_at"] is None or later["consent_at"] >= keep["consent_at"]
        ):
            keep.update({name: later[name] for name in CONSENT})
        keep["updated_at"] = max(keep["updated_at"], later["updated_at"])
    keep["interests"] = ",".join(interests)
    return keep


def merge_people_stored_twice(connection: sa.Connection) -> None:
    people: dict[tuple[int, str], list[int]] = defaultdict(list)
    recased: dict[int, str] = {}
    for row_id, event_id, email in connection.execute(
        sa.select(signup.c.id, signup.c.event_id, signup.c.email).order_by(signup.c.id)
    ):
        canonical = canonical_email(email)
        people[(event_id, canonical)].append(row_id)
        if email != canonical:
            recased[row_id] = canonical
    for (_event_id, email), ids in people.items():
        if len(ids) > 1:
            rows = connection.execute(
                sa.select(signup).where(signup.c.id.in_(ids)).order_by(signup.c.id)
            )
            keep = merged([dict(row._mapping) for row in rows])
            connection.execute(sa.delete(signup).where(signup.c.id.in_(ids[1:])))
            values = {k: v for k, v in keep.items() if k != "id"} | {"email": email}
            connection.execute(sa.update(signup).where(signup.c.id == ids[0]).values(**values))
            recased.pop(ids[0], None)
    for row_id, email in recased.items():
        connection.execute(sa.update(signup).where(signup.c.id == row_id).values(email=email))


def upgrade():
    merge_people_stored_twice(op.get_bind())
    with op.batch_alter_table("signup", schema=None) as batch_op:
        batch_op.drop_index("ix_signup_event_email")
        batch_op.create_index("uq_signup_event_email", ["event_id", "email"], unique=True)


def downgrade():
    with op.batch_alter_table("signup", schema=None) as batch_op:
        batch_op.drop_index("uq_signup_event_email")
        batch_op.create_index("ix_signup_event_email", ["event_id", "email"], unique=False)
