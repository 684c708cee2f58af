"""The team lead's blueprint and what every lead page shares: the session guard, no-store,
and how a form answers (422 with a message next to each field at fault)."""

from typing import Any

from flask import Blueprint, g, request, url_for
from flask.wrappers import Response
from flask_babel import gettext as _

from kiosk import hooks
from kiosk.extensions import db
from kiosk.rendering import is_htmx, render, see_other
from kiosk.services import lead_auth
from kiosk.write_queue import separate_write

bp = Blueprint("lead", __name__, url_prefix="/lead")

SESSION_COOKIE = "kiosk_lead"
DEVICE_COOKIE = "kiosk_lead_device"
# The only lead endpoints reachable without a session: the door itself.
OPEN_ENDPOINTS = frozenset({"lead.login", "lead.setup"})


def client_address() -> str:
    return request.remote_addr or "unknown"


def redirect_to(endpoint: str, **values: Any) -> Response:
    return see_other(url_for(endpoint, **values))


def render_form(
    template: str,
    block: str,
    form: object,
    errors: dict[str, str] | None = None,
    status: int | None = None,
    **context: Any,
) -> Response:
    """A form's page or block: 422 with a message per field when one is wrong (htmx swaps it)."""
    errors = errors or {}
    status = status or (422 if errors else 200)
    return render(template, block, status=status, form=form, errors=errors, **context)


@bp.before_request
@hooks.per_request("refuses lead pages without a live session (no lead page is kept)")
def require_lead() -> Response | None:
    """Refuse every lead page and fragment without a live session."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    # An htmx GET is the dashboard polling, not the lead at work: it must not keep an
    # unattended session alive forever.
    touch = not (is_htmx() and request.method == "GET")
    # Touching the session writes: a write of its own, also before a view that only reads.
    with separate_write(db.session):
        lead = lead_auth.valid_session(request.cookies.get(SESSION_COOKIE), touch=touch)
    if lead:
        # The team key this process opened for the session: personal data reads through it
        # for this request (services/sealing.py), streamed exports included.
        g.sealed_key = lead_auth.opened_key(request.cookies.get(SESSION_COOKIE))
        return None
    if is_htmx():
        response = Response(_("Please log in again."), 401, mimetype="text/plain")
        response.headers["HX-Redirect"] = url_for("lead.login")
        return response
    return redirect_to("lead.login")


@bp.after_request
@hooks.for_everyone("no-store on every lead page")
def no_store(response: Response) -> Response:
    """Lead pages carry people's data: never kept by the browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    return response
