"""What went wrong with the database, in words a volunteer can act on, and the last failure
until the next successful write (for /healthz).

Below the pages: errors.py shows the cause on the calm error page, services/safety.py in
its checks, services/tallies.py forgets a failure once a batch of taps is written.
"""

from flask import Flask, current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import event
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from kiosk import clock

DATABASE_PROBLEM = "kiosk_database_problem"

# What the volunteer reads, keyed by words of SQLite's own message.
CAUSES = [
    ("disk is full", _l("The disk is full: free some space on the kiosk computer.")),
    ("no space left on device", _l("The disk is full: free some space on the kiosk computer.")),
    ("readonly", _l("The database file is read-only: check its permissions.")),
    ("read-only", _l("The database file is read-only: check its permissions.")),
    ("locked", _l("The database stayed busy too long: another program may be using it.")),
    ("unable to open", _l("The database file cannot be opened: check the instance folder.")),
    ("disk i/o error", _l("The disk reported an error: check the storage device.")),
]

# A PostgreSQL server has no database file: its causes, by SQLSTATE (class or whole code),
# then by words of the server's message. Never SQLite's wording on a hub.
POSTGRESQL_STATES = [
    ("53100", _l("The PostgreSQL server is out of disk space: free some on the server.")),
    ("25006", _l("The PostgreSQL server accepts no writes (read-only): is it a standby?")),
    ("42P01", _l("The database has no kiosk tables yet: run `kiosk migrate` once.")),
    ("3D000", _l("That database does not exist on the PostgreSQL server: create it first.")),
    ("28", _l("The PostgreSQL server refused the kiosk's user name or password.")),
    ("53", _l("The PostgreSQL server is out of resources (connections or memory).")),
    ("57P", _l("The PostgreSQL server is shutting down or restarting: try again shortly.")),
    ("08", _l("The kiosk cannot reach the PostgreSQL server: is it running?")),
]
POSTGRESQL_WORDS = [
    ("no space left on device", POSTGRESQL_STATES[0][1]),
    ("read-only transaction", POSTGRESQL_STATES[1][1]),
    ("does not exist", POSTGRESQL_STATES[2][1]),
    ("password authentication failed", POSTGRESQL_STATES[4][1]),
    ("connection refused", POSTGRESQL_STATES[7][1]),
    ("could not connect", POSTGRESQL_STATES[7][1]),
    ("connection to server", POSTGRESQL_STATES[7][1]),
    ("server closed the connection", POSTGRESQL_STATES[7][1]),
    ("consuming input failed", POSTGRESQL_STATES[7][1]),
]


def _is_postgresql(original: BaseException) -> bool:
    return type(original).__module__.split(".")[0] == "psycopg"


def database_cause(error: DatabaseError) -> str:
    """A sentence naming what went wrong, in the engine's own terms; the driver's first line
    when it is none we know."""
    original = error.orig or error
    message = (str(original).splitlines() or [""])[0][:200]
    lowered = message.lower()
    if _is_postgresql(original):
        state = getattr(original, "sqlstate", None) or ""
        for prefix, cause in POSTGRESQL_STATES:
            if state.startswith(prefix):
                return str(cause)
        for words, cause in POSTGRESQL_WORDS:
            if words in lowered:
                return str(cause)
    else:
        for words, cause in CAUSES:
            if words in lowered:
                return str(cause)
    return f"{type(original).__name__}: {message}"


def disk_full(error: DatabaseError) -> bool:
    """The failure is a full disk (SQLite's file, or PostgreSQL's server)."""
    original = error.orig or error
    message = str(original).lower()
    return (
        getattr(original, "sqlstate", None) == "53100"
        or "disk is full" in message
        or "no space left on device" in message
    )


def database_problem() -> dict[str, str] | None:
    """The last database failure since the last successful write, for /healthz."""
    return current_app.extensions.get(DATABASE_PROBLEM)


def forget_database_problem() -> None:
    """A write just committed: the database takes writes again (/healthz says so)."""
    if has_app_context():
        current_app.extensions.pop(DATABASE_PROBLEM, None)


def _forget_problem_after_commit(_session: Session) -> None:
    forget_database_problem()


def note_database_problem(cause: str, *, until_a_write: bool = False) -> None:
    """A database failure (not a conflict): /healthz reports it until a write succeeds, or
    until its own rolled-back write probe passes. That probe writes nothing, so it cannot
    see a full disk: such a failure (`until_a_write`) lasts until a real write succeeds."""
    problem = {"cause": cause, "at": clock.now().isoformat(timespec="seconds")}
    if until_a_write:
        problem["until"] = "a write succeeds"
    current_app.extensions[DATABASE_PROBLEM] = problem


def init_app(app: Flask) -> None:
    if not event.contains(Session, "after_commit", _forget_problem_after_commit):
        event.listen(Session, "after_commit", _forget_problem_after_commit)
