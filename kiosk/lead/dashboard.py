"""The live dashboard of the active event, an event's printable summary, questions answered,
press requests passed on."""

from flask import abort, request
from flask.wrappers import Response

from kiosk.lead import bp, client_address, redirect_to
from kiosk.lead.events import event_or_404
from kiosk.rendering import render
from kiosk.services import dashboard, events, press


@bp.get("/")
def index() -> Response:
    """The live dashboard of the active event; htmx polls its block every few seconds."""
    event = events.active_event()
    picture = dashboard.event_picture(event) if event else None
    return render("lead/dashboard.html", "dashboard", picture=picture)


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
    return index() if request.htmx else redirect_to("lead.index")  # type: ignore[attr-defined]


@bp.post("/press/<id:request_id>/handled")
def press_handled(request_id: int) -> Response:
    """Take a press request off the dashboard once it was passed on to its recipient."""
    if press.mark_handled(request_id, actor=client_address()) is None:
        abort(404)
    return index() if request.htmx else redirect_to("lead.index")  # type: ignore[attr-defined]
