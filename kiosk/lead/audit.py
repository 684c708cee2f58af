"""The audit log: what the lead (and the kiosk itself) did with people's data."""

from flask.wrappers import Response

from kiosk.lead.blueprint import bp
from kiosk.rendering import render
from kiosk.services.audit import recent_audit


@bp.get("/audit")
def audit() -> Response:
    """The audit log: logins and failures, exports, imports, erasures and purges."""
    return render("lead/audit.html", "audit_log", entries=recent_audit(300))
