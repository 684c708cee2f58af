"""Health check for whoever runs the kiosk (and for the tests and the benchmark)."""

from flask import Blueprint, jsonify
from flask.wrappers import Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from kiosk.errors import database_cause, database_problem
from kiosk.extensions import db
from kiosk.services import erasure

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def show() -> tuple[Response, int]:
    """Answer JSON with the database's state; 503 when it cannot be read or written."""
    try:
        db.session.execute(text("SELECT 1"))
        revision = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    except SQLAlchemyError as error:
        db.session.rollback()
        cause = database_cause(error)
        body = {"status": "error", "database": {"ok": False, "error": cause}}
        return jsonify(body), 503
    body = {
        "status": "ok",
        "database": {"ok": True, "dialect": db.engine.dialect.name, "revision": revision},
        # Whether the retention purge trusts the clock now; a paused purge is no failure.
        "retention": erasure.retention_state(),
    }
    problem = database_problem()
    if problem:
        # Reads work but the last write failed (full disk, read-only file): say why.
        body["status"] = "error"
        body["database"] |= {"ok": False, "write_error": problem}
        return jsonify(body), 503
    return jsonify(body), 200
