"""The live dashboard of the active event (and how long the lead's session has left), an
event's printable summary, questions answered, press requests passed on."""

from flask import abort, request
from flask.wrappers import Response

from kiosk.lead.blueprint import SESSION_COOKIE, bp, client_address, redirect_to
from kiosk.lead.events import event_or_404
from kiosk.rendering import is_htmx, render
from kiosk.services import dashboard, events, hub, lead_auth, press, sync


def session_status() -> dict[str, object]:
    """How long this lead session has left unless the lead acts: the dashboard's prompt."""
    lead = lead_auth.valid_session(request.cookies.get(SESSION_COOKIE), touch=False)
    ends_in, renewable = lead_auth.session_ends_in(lead) if lead else (0, False)
    return {"ends_in": ends_in, "renewable": renewable}


@bp.get("/")
def index() -> Response:
    """The live dashboard of the active event; htmx polls its block every few seconds."""
    event = events.active_event()
    picture = dashboard.event_picture(event) if event else None
    # A recovery code made at setup is shown here once (never on an htmx refresh).
    recovery_code = (
        None if is_htmx() else lead_auth.recovery_code_to_show(request.cookies.get(SESSION_COOKIE))
    )
    return render(
        "lead/dashboard.html",
        "dashboard",
        picture=picture,
        session_status=session_status(),
        sync_line=sync.status_line(),
        hub_tables=hub.tables(),
        recovery_code=recovery_code,
    )


@bp.post("/session/stay")
def stay_signed_in() -> Response:
    """The lead pressed "Stay signed in": the session guard counted this POST as activity;
    answer how long the session has left now."""
    if not is_htmx():
        return redirect_to("lead.index")
    return render("lead/dashboard.html", "session_status", session_status=session_status())


@bp.get("/events/<id:event_id>/summary")
def summary(event_id: int) -> Response:
    """A printable summary of one event for the team's meeting."""
    picture = dashboard.event_picture(event_or_404(event_id))
    return render("lead/summary.html", "summary", picture=picture)


@bp.post("/questions/<id:question_id>/answered")
def answered(question_id: int) -> Response:
    """Take a question off the dashboard once someone has replied."""
    if dashboard.mark_answered(question_id) is None:
        abort(404)
    return index() if is_htmx() else redirect_to("lead.index")


@bp.post("/press/<id:request_id>/handled")
def press_handled(request_id: int) -> Response:
    """Take a press request off the dashboard once the team has answered it."""
    if press.mark_handled(request_id, actor=client_address()) is None:
        abort(404)
    return index() if is_htmx() else redirect_to("lead.index")
