"""Generations notify: a change to `generation` is announced to every listening process

On PostgreSQL every write to a `generation` row (a bump by kiosk/page_cache.py, the opener
tap's trigger, anything else) sends `NOTIFY kiosk_generation, '<name>'` in its own
transaction: PostgreSQL delivers it only once that transaction commits, and never if it
rolls back. Each server process listens (kiosk/change_signal.py) and keeps the generations
in memory instead of reading them on every answer. SQLite has no NOTIFY: nothing changes.

A later migration that drops and creates `generation` again must create the trigger again:
a process whose listener does not find it never trusts its in-memory generations and reads
them on every answer, as before (tests/test_change_signal.py).

Revision ID: f1c8a3e5d7b9
Revises: d6b1e4a8c2f5
Create Date: 2026-12-07 15:00:00

"""

from alembic import op

revision = "f1c8a3e5d7b9"
down_revision = "d6b1e4a8c2f5"
branch_labels = None
depends_on = None

# The channel, the trigger and its function, as kiosk/change_signal.py names them.
CHANNEL = "kiosk_generation"
TRIGGER = "generation_notify"
FUNCTION = "kiosk_generation_notify"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    # One notification per name and transaction: PostgreSQL folds identical ones together.
    # TRUNCATE has no rows: '*' says every generation changed.
    op.execute(
        f"CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_LEVEL = 'STATEMENT' THEN PERFORM pg_notify('{CHANNEL}', '*'); "
        f"ELSIF TG_OP = 'DELETE' THEN PERFORM pg_notify('{CHANNEL}', OLD.name); "
        f"ELSE PERFORM pg_notify('{CHANNEL}', NEW.name); END IF; "
        "RETURN NULL; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON generation "
        f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
    )
    op.execute(
        f"CREATE TRIGGER {TRIGGER}_truncate AFTER TRUNCATE ON generation "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER {TRIGGER}_truncate ON generation")
    op.execute(f"DROP TRIGGER {TRIGGER} ON generation")
    op.execute(f"DROP FUNCTION {FUNCTION}()")
