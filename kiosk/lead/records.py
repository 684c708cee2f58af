"""The lead's Records page: search an event's sign-ups, pledges and questions, correct a
field, erase one record."""

from typing import Any

from flask import abort, request, url_for
from flask.wrappers import Response
from flask_babel import gettext as _

from kiosk.lead.blueprint import bp, client_address, redirect_to, render_form
from kiosk.lead.events import event_or_404
from kiosk.models import Event
from kiosk.parsing import NotANumber, parse_id
from kiosk.rendering import render
from kiosk.services import events, record_edits, sealing
from kiosk.services.records import InvalidInput

KINDS = "any(signup, pledge, question)"


def _event_to_search() -> tuple[Event | None, dict[str, str]]:
    """The event named by ?event=, else the active (or newest) one; an error when malformed."""
    which = request.args.get("event", "")
    if not which:
        every = events.list_events()
        return events.active_event() or (every[0] if every else None), {}
    try:
        return event_or_404(parse_id(which)), {}
    except NotANumber as problem:
        if problem.problem != NotANumber.FORMAT:
            abort(404)
        return None, {"event": _("Choose an event from the list.")}


@bp.get("/records")
def records() -> Response:
    """Search one event's sign-ups, pledges and questions; each opens to be corrected."""
    event, errors = _event_to_search()
    query = record_edits.clean_query(request.args.get("q"))
    found = record_edits.search(event, query) if event is not None else None
    return render(
        "lead/records.html",
        "records_results",
        status=422 if errors else 200,
        events=events.list_events(),
        event=event,
        found=found,
        form={"q": query},
        errors=errors,
        erased=request.args.get("erased") in record_edits.MODELS,
        nouns=record_edits.NOUNS,
        sealed_to_team=sealing.seals_to_a_joined_key(),
    )


def _record_or_404(kind: str, record_id: int) -> record_edits.Record:
    record = record_edits.record_of(kind, record_id)
    if record is None:
        abort(404)
    return record


def _render_record(kind: str, record, form, errors=None, **context: Any) -> Response:
    return render_form(
        "lead/record.html",
        "record_form",
        form,
        errors,
        kind=kind,
        record=record,
        noun=record_edits.NOUNS[kind],
        form_fields=record_edits.FIELDS[kind],
        back=url_for("lead.records", event=record.event_id),
        **context,
    )


@bp.route(f"/records/<{KINDS}:kind>/<id:record_id>", methods=["GET", "POST"])
def record(kind: str, record_id: int) -> Response:
    """One record's fields, to correct; checked as the form it came from checks them."""
    found = _record_or_404(kind, record_id)
    if request.method == "GET":
        return _render_record(kind, found, record_edits.form_of(kind, found))
    try:
        changed = record_edits.correct(kind, found, request.form, actor=client_address())
    except InvalidInput as invalid:
        return _render_record(kind, found, request.form, invalid.errors)
    return _render_record(
        kind, found, record_edits.form_of(kind, found), saved=True, changed=changed
    )


@bp.post(f"/records/<{KINDS}:kind>/<id:record_id>/erase")
def erase_record(kind: str, record_id: int) -> Response:
    """Erase one record, after the box is ticked; back to the event's records."""
    found = _record_or_404(kind, record_id)
    if request.form.get("confirm") != "yes":
        error = _("Tick the box to confirm the erasure.")
        form = record_edits.form_of(kind, found)
        return _render_record(kind, found, form, {"confirm": error}, status=422)
    event_id = found.event_id
    record_edits.erase(kind, found, actor=client_address())
    return redirect_to("lead.records", event=event_id, erased=kind)
