"""Health check for whoever runs the kiosk (and for the tests and the benchmark), and the
guard that refuses writes to a database file that is gone."""

import threading
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request, url_for
from flask.wrappers import Response
from flask_babel import lazy_gettext as _l

from kiosk import hooks
from kiosk.errors import _resend_fields, render_error
from kiosk.extensions import db
from kiosk.services import erasure, safety
from kiosk.services.database_health import database_problem, forget_database_problem
from kiosk.write_queue import READ_ONLY_METHODS, may_write

bp = Blueprint("health", __name__)

# How often `kiosk serve` looks at the database file while it runs.
WATCH_SECONDS = 10.0


@bp.get("/healthz")
def show() -> tuple[Response, int]:
    """Answer JSON with the state of the database and the secret key; 503 when either would
    lose or refuse what visitors send.

    The database in the engine's own terms (services/safety.database_state): PostgreSQL's
    server version, whether the connection may write and is encrypted; SQLite's pragmas and
    whether its file is still the one the kiosk opened. Both: migrations at head, and a
    write probe (a rolled-back no-op UPDATE).
    """
    key_problem = safety.secret_key_file_problem()
    secret_key: dict[str, Any] = (
        {"ok": True} if key_problem is None else {"ok": False, "error": key_problem}
    )
    state = safety.database_state()
    database: dict[str, Any] = {"ok": state.ok, "dialect": state.dialect} | state.facts
    if not state.ok:
        database["error"] = "; ".join(state.problems)
    file_problem = safety.database_file_problem()
    if file_problem:
        database |= {"ok": False, "file_error": file_problem}
    retention = None
    if state.ok:
        # Whether the retention purge trusts the clock now; a paused purge is no failure.
        retention = erasure.retention_state()
        db.session.rollback()  # end the read before the write probe opens its own connection
    # The last write that failed (full disk, read-only file), or a write refused right now.
    # A failure latched by an earlier request is probed again: a hub whose PostgreSQL was
    # away comes back by itself when it answers, with no visitor's write needed (behind a
    # proxy's health checks no visitor would reach it). A full disk the probe cannot see.
    write_problem = database_problem()
    if state.ok and not file_problem and (write_problem is None or "until" not in write_problem):
        refused = safety.database_write_problem()
        if refused is None and write_problem is not None:
            current_app.logger.warning("The database answers again: %s is over", write_problem)
            forget_database_problem()
        write_problem = {"cause": refused} if refused else None
    if write_problem:
        database |= {"ok": False, "write_error": write_problem}
    healthy = bool(database["ok"]) and secret_key["ok"]
    body: dict[str, Any] = {
        "status": "ok" if healthy else "error",
        "database": database,
        "secret_key": secret_key,
    }
    if retention is not None:
        body["retention"] = retention
    return jsonify(body), 200 if healthy else 503


def _database_file_kept(environ: dict[str, Any]) -> bool:
    """The hook in front of Flask: reads pass; a write (a tap counted by the fast path, in
    the app's context) only while the database file is the one the kiosk opened."""
    if environ.get("REQUEST_METHOD") in READ_ONLY_METHODS:
        return True
    return safety.database_file_problem() is None


@bp.before_app_request
@hooks.per_request(
    "refuses a write while the database file is lost (a 503)", fast=_database_file_kept
)
def refuse_writes_to_a_lost_database() -> Response | None:
    """A request that may write, while the database file is deleted or replaced, gets the
    calm "Please tell a volunteer" screen instead of a thank-you for nothing."""
    if not may_write():
        return None
    problem = safety.database_file_problem()
    if problem is None:
        return None
    current_app.logger.error("Refused %s %s: %s", request.method, request.path, problem)
    return render_error(
        503,
        "database",
        _l("Please tell a volunteer"),
        _l("We couldn't save this just now. A volunteer at the table can help."),
        cause=problem,
        resend_fields=_resend_fields(),
        resend_action=request.path,
        back_href=url_for("visitor.index"),
    )


def watch_database_file(app: Flask, interval: float = WATCH_SECONDS) -> threading.Event:
    """Log, loudly and once per change, when the database file is deleted or replaced while
    `kiosk serve` runs; set the returned event to stop watching."""
    stop = threading.Event()

    def run() -> None:
        said = None
        while not stop.wait(interval):
            with app.app_context():
                problem = safety.database_file_problem()
            if problem and problem != said:
                app.logger.error("DATABASE FILE PROBLEM: %s", problem)
            said = problem

    threading.Thread(target=run, name="kiosk-database-watch", daemon=True).start()
    return stop


def init_app(app: Flask) -> None:
    with app.app_context():
        safety.remember_database_file()
