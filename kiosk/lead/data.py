"""The lead's data: exports, merging another tablet's file, and erasure."""

import unicodedata
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from flask import abort, current_app, request, stream_with_context
from flask.wrappers import Response
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError

from kiosk import hooks, memory
from kiosk.extensions import db
from kiosk.lead.blueprint import SESSION_COOKIE, bp, client_address
from kiosk.lead.events import event_or_404
from kiosk.models import Event
from kiosk.parsing import NotANumber, parse_id
from kiosk.rendering import render, wants_fragment
from kiosk.services import erasure, events, exports, imports, joining, lead_auth
from kiosk.services.records import InvalidInput
from kiosk.write_queue import reads_only, separate_write

# A JSON bundle of a busy event is far larger than a visitor's form may be.
IMPORT_MAX_BYTES = 32 * 1024 * 1024


@hooks.for_everyone("acts on a lead's import only, never a kept screen")
def allow_large_import() -> None:
    """Let a logged-in lead upload a tablet's file larger than a visitor's form may be.

    It must run before CSRFProtect reads (and so size-checks) the request body.
    """
    if request.endpoint == "lead.import_file" and lead_auth.valid_session(
        request.cookies.get(SESSION_COOKIE), touch=False
    ):
        request.max_content_length = IMPORT_MAX_BYTES


@bp.record_once
def _install(state: Any) -> None:
    """Large imports are allowed before any other hook reads the body."""
    state.app.before_request_funcs.setdefault(None, []).insert(0, allow_large_import)


def _render_data(block: str, status: int = 200, **context: Any) -> Response:
    """The data page, or one of its blocks; each block reads only its own part of `context`."""
    context = {
        "form": {},
        "errors": {},
        "report": None,
        "person": None,
        "email": "",
        "person_erased": None,
        "event_erased": None,
        "erase_refused": None,
        "preview": None,
        "joined": None,
        "erase_offer": None,
    } | context
    every = events.list_events()
    return render(
        "lead/data.html",
        block,
        status=status,
        events=every,
        erasable=erasure.erase_list(),
        export_formats=exports.FORMATS.values(),
        not_for_mailchimp=(
            _not_for_mailchimp(every) if block == "data_exports" or not wants_fragment() else []
        ),
        **context,
    )


def _not_for_mailchimp(every: list[Event]) -> list[tuple[Event, int]]:
    """Events with consenting sign-ups that the Mailchimp file leaves out, and how many."""
    counts = [(event, exports.not_for_mailchimp(event)) for event in every if not event.erased_at]
    return [(event, n) for event, n in counts if n]


@bp.get("/data")
def data() -> Response:
    """Exports, importing another tablet's file, and erasure."""
    return _render_data("data_import")


@bp.post("/import")
def import_file() -> Response:
    """Merge another kiosk's JSON export; a bad file is refused whole.

    A file of an event this kiosk does not know is held, and previewed: the lead chooses
    onto which event it merges (or a new one) before anything is stored.
    """
    upload = request.files.get("bundle")
    if upload is None or not upload.filename:
        error = _("Choose the JSON file to import.")
        return _render_data("data_import", 422, errors={"bundle": error})
    raw = upload.read()
    try:
        theirs = imports.file_event(raw)
        if imports.known_event(theirs["uuid"]) is None:
            return _render_preview(raw, _likely_target(theirs["name"]))
        report = imports.import_bundle(raw, actor=client_address())
    except imports.ImportRefused as refused:
        return _refused(refused)
    return _render_data("data_import", report=report)


def _refused(refused: Exception) -> Response:
    error = _("%(reason)s Nothing was imported.", reason=str(refused))
    return _render_data("data_import", 422, errors={"bundle": error})


def _targets() -> list[Event]:
    """Events a file may be merged into: those whose personal data is still here."""
    return [event for event in events.list_events() if event.erased_at is None]


def _likely_target(name: str) -> Event | None:
    """The event a tablet's hand-made event probably is: one whose name starts its name."""
    wanted = name.strip().casefold()
    for event in _targets():
        if event.name.strip() and wanted.startswith(event.name.strip().casefold()):
            return event
    return None


def _render_preview(
    raw: bytes, into: Event | None, held_as: str = "", status: int = 200, **context: Any
) -> Response:
    """What merging the file into `into` (None: a new event) would do; nothing stored. The
    file is held (`held_as`, or under a new token once it passed the preview) for the choice."""
    report = imports.preview_bundle(raw, into)
    token = held_as or imports.hold(raw)
    return _render_data(
        "data_import",
        status,
        **context,
        preview=report,
        token=token,
        theirs=imports.file_event(raw),
        into=into.id if into is not None else "new",
        targets=_targets(),
    )


def _chosen_target() -> tuple[Event | None, str]:
    """The preview's choice (None: a new event), or why it is none; 404 when it is gone."""
    which = request.form.get("into", "")
    if which == "new":
        return None, ""
    try:
        event = event_or_404(parse_id(which))
    except NotANumber as problem:
        if problem.problem != NotANumber.FORMAT:
            abort(404)
        return None, _("Choose the event to merge into, or a new event.")
    if event.erased_at is not None:
        return None, _("The personal data of %(name)s was erased here.", name=event.name)
    return event, ""


@bp.post("/import/confirm")
def import_confirm() -> Response:
    """Merge the previewed file into the chosen event, or preview that choice again."""
    token = request.form.get("token", "")
    try:
        raw = imports.held(token)
    except imports.ImportRefused as refused:
        return _refused(refused)
    into, problem = _chosen_target()
    try:
        if problem:
            return _render_preview(raw, None, token, 422, errors={"into": problem})
        if request.form.get("action") == "preview":
            return _render_preview(raw, into, token)
        report = imports.import_bundle(raw, actor=client_address(), into=into)
    except imports.ImportRefused as refused:
        return _refused(refused)
    imports.release(token)
    return _render_data("data_import", report=report)


@bp.post("/join")
def join() -> Response:
    """Take on another kiosk's event from its join file, so both kiosks' records merge."""
    upload = request.files.get("join_file")
    if upload is None or not upload.filename:
        error = _("Choose the join file made on the other kiosk.")
        return _render_data("data_join", 422, errors={"join_file": error})
    try:
        joined = joining.join_event(
            upload.read(), activate=request.form.get("activate") == "yes", actor=client_address()
        )
    except imports.ImportRefused as refused:
        error = _("%(reason)s Nothing was changed.", reason=str(refused))
        return _render_data("data_join", 422, errors={"join_file": error})
    return _render_data("data_join", joined=joined)


@bp.post("/erase/person")
def erase_person() -> Response:
    """Erase one person everywhere by email: first show what would go, then do it."""
    try:
        email = erasure.checked_email(request.form.get("email"))
    except InvalidInput as invalid:
        return _render_data("data_erase_person", 422, errors=invalid.errors, form=request.form)
    if request.form.get("confirm") != "yes":
        found = erasure.person_records(email)
        return _render_data("data_erase_person", person=found, email=email)
    erased = erasure.erase_person(email, actor=client_address())
    return _render_data("data_erase_person", person_erased=erased)


@bp.post("/events/<id:event_id>/erase")
def erase_event(event_id: int) -> Response:
    """Erase an event's personal data, only after it was exported; tallies stay."""
    event = event_or_404(event_id)
    if request.form.get("confirm") != "yes":
        error = _("Tick the box to confirm the erasure of %(name)s.", name=event.name)
        return _render_data("data_erase_events", 422, errors={f"confirm-{event.id}": error})
    try:
        erased = erasure.erase_event(event, actor=client_address())
    except erasure.ErasureRefused as refused:
        return _render_data(
            "data_erase_events",
            409,
            erase_refused=f"{event.name}: {refused}",
            erase_offer={"event": event, "formats": _formats_taking(refused)},
        )
    return _render_data("data_erase_events", event_erased=erased)


def _formats_taking(refused: erasure.ErasureRefused) -> list[tuple[str, str]]:
    """The export formats (name, label) that would take what an erasure found waiting."""
    names = dict.fromkeys(
        name for model in refused.unexported for name in exports.formats_exporting(model)
    )
    return [(name, str(exports.FORMATS[name].label)) for name in names]


def _chosen_event(which: str) -> Event | None:
    """The export form's event: None for "all"; 400 when it is no id, 404 when no event."""
    if which == "all":
        return None
    try:
        return event_or_404(parse_id(which))
    except NotANumber as problem:
        abort(400 if problem.problem == NotANumber.FORMAT else 404)


@bp.post("/export")
@reads_only
def export() -> Response:
    """Download one event's data (or every event's, as a zip) in one of the export formats.

    A POST, not a GET: an export marks the event as exported and is audited. The file is
    streamed as it is read, a batch of records at a time, so taps and sign-ups go on
    meanwhile and its size is not the kiosk's memory. Only once the last piece is handed to
    the server are its records marked exported (a short write of its own), and audited: a
    download broken off before that (the lead's browser closed, the network gone) marks
    nothing, so no record counts as exported that may not be in a file the lead has. A JSON
    file counts as the event's export only when the lead keeps it as the record (`keep=yes`).
    """
    format_name = request.form.get("format", "")
    if format_name not in exports.FORMATS:
        abort(400)
    done = exports.download(
        format_name,
        _chosen_event(request.form.get("event", "")),
        only_new=request.form.get("only_new") == "yes",
    )
    actor, keep = client_address(), request.values.get("keep") == "yes"

    def body() -> Iterator[bytes]:
        try:
            yield from done.chunks()
        except GeneratorExit:
            _note_broken_off(done, actor)
            raise
        # What reading the whole event left in the process goes back (kiosk/memory.py).
        memory.shrink_sqlite_cache(db.session.connection())
        with separate_write(db.session):
            exports.note_download(done, actor=actor, keep=keep)
        memory.trim_malloc()

    response = Response(stream_with_context(body()), mimetype=done.media_type)
    response.headers.set("Content-Disposition", "attachment", **_file_name(done.file_name))
    return response


def _note_broken_off(done: exports.Download, actor: str) -> None:
    """Audit a download that stopped before its end; said in the log when even that fails
    (the response is over: nothing can reach the lead any more)."""
    try:
        with separate_write(db.session):
            exports.note_broken_off(done, actor=actor)
    except SQLAlchemyError:
        current_app.logger.exception("An export was broken off and could not be audited")


def _file_name(name: str) -> dict[str, str]:
    """Content-Disposition's file name, as send_file writes it: an event named in Korean
    gets an ASCII fallback and the UTF-8 name (RFC 6266)."""
    if name.isascii():
        return {"filename": name}
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return {"filename": plain, "filename*": f"UTF-8''{quote(name, safe='!#$&+^`|~')}"}
