"""Health check for whoever runs the kiosk (and for the tests and the benchmark)."""

from flask import Blueprint, jsonify
from flask.wrappers import Response

from kiosk.errors import database_problem
from kiosk.services import erasure
from kiosk.services.safety import database_state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def show() -> tuple[Response, int]:
    """Answer JSON with the database's state; 503 when it cannot be read or written.

    In the engine's own terms (services/safety.database_state): PostgreSQL's server version,
    whether the connection may write and is encrypted; SQLite's pragmas. Both: migrations
    at head.
    """
    state = database_state()
    database: dict[str, object] = {"ok": state.ok, "dialect": state.dialect} | state.facts
    if not state.ok:
        database["error"] = "; ".join(state.problems)
    problem = database_problem()
    if problem:
        # The last write failed (full disk, read-only file or server): say why.
        database |= {"ok": False, "write_error": problem}
    ok = bool(database["ok"])
    body: dict[str, object] = {"status": "ok" if ok else "error", "database": database}
    if state.ok:
        # Whether the retention purge trusts the clock now; a paused purge is no failure.
        body["retention"] = erasure.retention_state()
    return jsonify(body), 200 if ok else 503
