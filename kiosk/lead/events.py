"""The lead's events: the list, the form to create or edit one, activating and closing."""

from flask import abort, request
from flask.wrappers import Response
from flask_babel import gettext as _

from kiosk.lead.blueprint import bp, redirect_to, render_form
from kiosk.models import Event
from kiosk.rendering import render
from kiosk.services import events, joining
from kiosk.services.records import InvalidInput


def event_or_404(event_id: int) -> Event:
    event = events.event_by_id(event_id)
    if event is None:
        abort(404)
    return event


@bp.get("/events")
def events_list() -> Response:
    """Every event, newest first, with what can be done with each."""
    return render("lead/events.html", "events_table", events=events.list_events(), error=None)


@bp.route("/events/new", methods=["GET", "POST"])
def create_event() -> Response:
    """Create an event (name, date, place, goal, rescue cost, tracking source)."""
    return _event_form(None)


@bp.route("/events/<id:event_id>/edit", methods=["GET", "POST"])
def edit_event(event_id: int) -> Response:
    """Change an event's details."""
    return _event_form(event_or_404(event_id))


def _event_form(event: Event | None) -> Response:
    if request.method == "GET":
        return render_form("lead/event_form.html", "event_form", events.form_of(event), event=event)
    try:
        details = events.checked_details(request.form)
    except InvalidInput as invalid:
        return render_form(
            "lead/event_form.html", "event_form", request.form, invalid.errors, event=event
        )
    if event is None:
        events.create_event(activate=bool(request.form.get("activate")), **details)
    else:
        events.update_event(event, **details)
    return redirect_to("lead.events_list")


@bp.post("/events/<id:event_id>/activate")
def activate_event(event_id: int) -> Response:
    """Make this the event every new tap, sign-up and pledge belongs to."""
    event = event_or_404(event_id)
    try:
        events.activate_event(event)
    except events.EventErased:
        error = _("The personal data of %(name)s was erased: it stays closed.", name=event.name)
        return render(
            "lead/events.html", "events_table", status=409, events=events.list_events(), error=error
        )
    return redirect_to("lead.events_list")


@bp.post("/events/<id:event_id>/close")
def close_event(event_id: int) -> Response:
    """Close an event; its retention period starts now."""
    events.close_event(event_or_404(event_id))
    return redirect_to("lead.events_list")


@bp.get("/events/<id:event_id>/join-file")
def join_file(event_id: int) -> Response:
    """A small file (no personal data) with which another kiosk takes on this event."""
    event = event_or_404(event_id)
    response = Response(joining.join_file(event), mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{joining.join_file_name(event)}"'
    )
    return response
