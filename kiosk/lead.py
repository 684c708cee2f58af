"""The team lead's console, behind a passphrase: events, the live dashboard, exports,
merging tablets, erasure, settings and the audit log."""

import io
import zipfile
from datetime import date

from flask import Blueprint, abort, current_app, redirect, request, send_file, url_for
from flask.wrappers import Response
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from kiosk import i18n
from kiosk.extensions import db
from kiosk.models import Event
from kiosk.rendering import render
from kiosk.services import (
    dashboard,
    erasure,
    events,
    exports,
    imports,
    lead_auth,
    press,
    volunteers,
)
from kiosk.services.audit import recent_audit, record_audit
from kiosk.services.settings import (
    IDLE_SECONDS,
    RETENTION_DAYS,
    idle_seconds,
    retention_days,
    set_setting,
)

bp = Blueprint("lead", __name__, url_prefix="/lead")

SESSION_COOKIE = "kiosk_lead"
DEVICE_COOKIE = "kiosk_lead_device"
# The only lead endpoints reachable without a session: the door itself.
OPEN_ENDPOINTS = frozenset({"lead.login", "lead.setup"})


def client_address() -> str:
    return request.remote_addr or "unknown"


def redirect_to(endpoint: str, **values: object) -> Response:
    return redirect(url_for(endpoint, **values), 303)  # type: ignore[return-value]


@bp.before_request
def require_lead() -> Response | None:
    """Refuse every lead page and fragment without a live session."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    # An htmx GET is the dashboard polling, not the lead at work: it must not keep an
    # unattended session alive forever.
    touch = not (request.htmx and request.method == "GET")  # type: ignore[attr-defined]
    if lead_auth.valid_session(request.cookies.get(SESSION_COOKIE), touch=touch):
        return None
    if request.htmx:  # type: ignore[attr-defined]
        response = Response(_("Please log in again."), 401, mimetype="text/plain")
        response.headers["HX-Redirect"] = url_for("lead.login")
        return response
    return redirect_to("lead.login")


@bp.after_request
def no_store(response: Response) -> Response:
    """Lead pages carry people's data: never kept by the browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _set_session_cookie(response: Response, token: str) -> None:
    secure = request.is_secure
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=secure, path="/lead"
    )
    response.set_cookie(
        DEVICE_COOKIE,
        lead_auth.device_cookie_value(),
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="Strict",
        secure=secure,
        path="/lead",
    )


def render_form(
    template: str, block: str, form: dict[str, str], errors: dict[str, str], **context: object
) -> Response:
    """A form page or its block: 422 with the messages when a field is wrong (htmx swaps it)."""
    status = 422 if errors else 200
    return render(template, block, status=status, form=form, errors=errors, **context)


# ---- The door ------------------------------------------------------------------------


def _wait_message(gate: lead_auth.Gate) -> str:
    minutes, seconds = divmod(gate.wait_seconds, 60)
    wait = _("%(m)d min %(s)d s", m=minutes, s=seconds) if minutes else _("%(s)d s", s=seconds)
    if gate.reason == "slow":
        return _("Too many wrong passphrases. Try again in %(wait)s.", wait=wait)
    return _(
        "Logging in is locked for a while after many wrong passphrases. Try again in %(wait)s.",
        wait=wait,
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """Ask for the passphrase; too many wrong ones slow down, then lock out for a while."""
    if not lead_auth.has_passphrase():
        return render("lead/login.html", "login_form", status=503, no_passphrase=True, error=None)
    if request.method == "GET":
        gate = lead_auth.login_gate(
            client_address(), lead_auth.is_known_device(request.cookies.get(DEVICE_COOKIE))
        )
        error = None if gate.allowed else _wait_message(gate)
        return render("lead/login.html", "login_form", no_passphrase=False, error=error)
    token, gate = lead_auth.attempt_login(
        request.form.get("passphrase", ""),
        client_address(),
        previous_token=request.cookies.get(SESSION_COOKIE),
        known_device=lead_auth.is_known_device(request.cookies.get(DEVICE_COOKIE)),
    )
    if token is None:
        error = _wait_message(gate) if not gate.allowed else _("That passphrase is not right.")
        status = 429 if not gate.allowed else 422
        return render(
            "lead/login.html", "login_form", status=status, no_passphrase=False, error=error
        )
    response = redirect_to("lead.index")
    _set_session_cookie(response, token)
    return response


@bp.post("/logout")
def logout() -> Response:
    """End the session on the server, so its cookie opens nothing any more."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        lead_auth.revoke_session(token)
        record_audit(lead_auth.LOGOUT, "Team lead logged out", client_address())
    response = redirect_to("lead.login")
    response.delete_cookie(SESSION_COOKIE, path="/lead")
    return response


@bp.route("/setup/<token>", methods=["GET", "POST"])
def setup(token: str) -> Response:
    """First run: set the passphrase with the one-time link printed in the terminal."""
    if not lead_auth.setup_token_valid(token):
        abort(404)
    error = None
    if request.method == "POST":
        passphrase = request.form.get("passphrase", "")
        error = lead_auth.passphrase_problem(passphrase, request.form.get("confirmation", ""))
        if error is None and lead_auth.complete_setup(token, passphrase, client_address()):
            response = redirect_to("lead.index")
            _set_session_cookie(response, lead_auth.start_session())
            return response
    errors = {"passphrase": error} if error else {}
    return render_form("lead/setup.html", "setup_form", {}, errors, token=token)


# ---- Dashboard -------------------------------------------------------------------------


@bp.get("/")
def index() -> Response:
    """The live dashboard of the active event; htmx polls its block every few seconds."""
    event = events.active_event()
    picture = dashboard.event_picture(event) if event else None
    return render("lead/dashboard.html", "dashboard", picture=picture)


@bp.get("/events/<int:event_id>/summary")
def summary(event_id: int) -> Response:
    """A printable summary of one event for the team's meeting."""
    picture = dashboard.event_picture(_event_or_404(event_id))
    return render("lead/summary.html", "summary", picture=picture)


@bp.post("/questions/<int:question_id>/answered")
def answered(question_id: int) -> Response:
    """Take a question off the dashboard once someone has replied."""
    if dashboard.mark_answered(question_id) is None:
        abort(404)
    return index() if request.htmx else redirect_to("lead.index")  # type: ignore[attr-defined]


@bp.post("/press/<int:request_id>/handled")
def press_handled(request_id: int) -> Response:
    """Take a press request off the dashboard once it was passed on to its recipient."""
    if press.mark_handled(request_id, actor=client_address()) is None:
        abort(404)
    return index() if request.htmx else redirect_to("lead.index")  # type: ignore[attr-defined]


# ---- Events ----------------------------------------------------------------------------


def _event_or_404(event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None:
        abort(404)
    return event


def _dollars(raw: str, field_name: str, errors: dict[str, str], minimum: int) -> int:
    try:
        value = round(float(raw.replace(",", "").replace("$", "").strip()) * 100)
    except ValueError:
        errors[field_name] = _("Enter an amount in dollars, like 3000.")
        return 0
    if value < minimum * 100 or value > 10_000_000_00:
        errors[field_name] = _("Enter an amount of at least %(n)d dollars.", n=minimum)
    return value


def parse_event_form(form: dict[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """The event form's values, and an error message per field that is wrong."""
    errors: dict[str, str] = {}
    name = form.get("name", "").strip()
    if not name:
        errors["name"] = _("Give the event a name.")
    elif len(name) > 120:
        errors["name"] = _("Keep the name under 120 characters.")
    on = None
    if form.get("date"):
        try:
            on = date.fromisoformat(form["date"])
        except ValueError:
            errors["date"] = _("Enter the date as YYYY-MM-DD.")
    place = form.get("place", "").strip()
    if len(place) > 160:
        errors["place"] = _("Keep the place under 160 characters.")
    tracking = form.get("tracking_source", "").strip()
    if len(tracking) > 80 or not all(c.isalnum() or c in "-_." for c in tracking):
        errors["tracking_source"] = _("Use letters, digits, - _ or . only (at most 80).")
    locale = form.get("locale", "")
    if locale and not i18n.speaks(locale):
        errors["locale"] = _("Choose one of the languages offered.")
    values = {
        "name": name,
        "on": on,
        "place": place,
        "goal_cents": _dollars(form.get("goal", ""), "goal", errors, 0),
        "rescue_cost_cents": _dollars(form.get("rescue_cost", ""), "rescue_cost", errors, 1),
        "tracking_source": tracking,
        "locale": locale or None,
    }
    return values, errors


def _form_of(event: Event | None) -> dict[str, str]:
    rescue_cost = current_app.extensions["kiosk_content"].org["rescue_cost"]
    if event is None:
        return {
            "date": date.today().isoformat(),
            "goal": str(rescue_cost),
            "rescue_cost": str(rescue_cost),
        }
    return {
        "name": event.name,
        "date": event.date.isoformat() if event.date else "",
        "place": event.place,
        "goal": f"{event.goal_cents / 100:g}",
        "rescue_cost": f"{event.rescue_cost_cents / 100:g}",
        "tracking_source": event.tracking_source,
        "locale": event.locale or "",
    }


@bp.get("/events")
def events_list() -> Response:
    """Every event, newest first, with what can be done with each."""
    return render("lead/events.html", "events_table", events=events.list_events())


@bp.route("/events/new", methods=["GET", "POST"])
def create_event() -> Response:
    """Create an event (name, date, place, goal, rescue cost, tracking source)."""
    return _event_form(None)


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
def edit_event(event_id: int) -> Response:
    """Change an event's details."""
    return _event_form(_event_or_404(event_id))


def _event_form(event: Event | None) -> Response:
    form, errors = _form_of(event), {}
    if request.method == "POST":
        form = request.form.to_dict()
        values, errors = parse_event_form(form)
        if not errors:
            if event is None:
                event = events.create_event(
                    values.pop("name"),
                    activate=bool(form.get("activate")),
                    **values,  # type: ignore[arg-type]
                )
            else:
                events.update_event(event, **values)  # type: ignore[arg-type]
            return redirect_to("lead.events_list")
    return render_form("lead/event_form.html", "event_form", form, errors, event=event)


@bp.post("/events/<int:event_id>/activate")
def activate_event(event_id: int) -> Response:
    """Make this the event every new tap, sign-up and pledge belongs to."""
    events.activate_event(_event_or_404(event_id))
    return redirect_to("lead.events_list")


@bp.post("/events/<int:event_id>/close")
def close_event(event_id: int) -> Response:
    """Close an event; its retention period starts now."""
    events.close_event(_event_or_404(event_id))
    return redirect_to("lead.events_list")


# ---- Settings and audit log ----------------------------------------------------------------


def _settings_form() -> dict[str, str]:
    return {
        "idle_seconds": str(idle_seconds()),
        "retention_days": str(retention_days()),
        "session_minutes": str(lead_auth.idle_minutes()),
        "pin": "",
    }


def _whole_number(
    form: dict[str, str], name: str, low: int, high: int, errors: dict[str, str]
) -> int:
    raw = form.get(name, "").strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        errors[name] = _("Enter a whole number from %(low)d to %(high)d.", low=low, high=high)
        return 0
    return int(raw)


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> Response:
    """The volunteer PIN, the kiosk's idle timeout, retention and the lead's session length."""
    form, errors, saved = _settings_form(), {}, False
    if request.method == "POST":
        form = request.form.to_dict()
        idle = _whole_number(form, "idle_seconds", 20, 3600, errors)
        retention = _whole_number(form, "retention_days", 1, 3650, errors)
        minutes = _whole_number(form, "session_minutes", 5, 720, errors)
        pin = form.get("pin", "").strip()
        if pin and not volunteers.valid_pin(pin):
            errors["pin"] = _(
                "The PIN is %(low)d to %(high)d digits.",
                low=volunteers.PIN_MIN_DIGITS,
                high=volunteers.PIN_MAX_DIGITS,
            )
        elif pin and lead_auth.check_passphrase(pin):
            errors["pin"] = _("The PIN must not be the lead passphrase.")
        if not errors:
            set_setting(IDLE_SECONDS, str(idle))
            set_setting(RETENTION_DAYS, str(retention))
            set_setting(lead_auth.SESSION_IDLE_MINUTES, str(minutes))
            if pin:
                volunteers.set_volunteer_pin(pin, actor=client_address())
            record_audit(
                "settings.saved",
                f"Idle {idle} s, retention {retention} days, lead session {minutes} min",
                client_address(),
            )
            form, saved = _settings_form(), True
    return render_form("lead/settings.html", "settings_form", form, errors, saved=saved)


@bp.get("/audit")
def audit() -> Response:
    """The audit log: logins and failures, exports, imports, erasures and purges."""
    return render("lead/audit.html", "audit_log", entries=recent_audit(300))


def allow_large_import() -> None:
    """Let a logged-in lead upload a tablet's file larger than a visitor's form may be.

    It must run before CSRFProtect reads (and so size-checks) the request body.
    """
    if request.endpoint == "lead.import_file" and lead_auth.valid_session(
        request.cookies.get(SESSION_COOKIE), touch=False
    ):
        request.max_content_length = IMPORT_MAX_BYTES


@bp.record_once
def _install(state: object) -> None:
    """`kiosk serve` prints the setup link (first run) or where the console is; large
    imports are allowed before any other hook reads the body."""
    app = state.app  # type: ignore[attr-defined]
    app.extensions.setdefault("kiosk_startup_notes", []).append(lead_auth.setup_note)
    app.before_request_funcs.setdefault(None, []).insert(0, allow_large_import)


# ---- Data: exports, merging tablets, erasure ---------------------------------------------------

# A JSON bundle of a busy event is far larger than a visitor's form may be.
IMPORT_MAX_BYTES = 32 * 1024 * 1024


def _render_data(block: str, status: int = 200, **context: object) -> Response:
    context = {
        "report": None,
        "import_error": None,
        "person": None,
        "person_error": None,
        "email": "",
        "person_erased": None,
        "event_erased": None,
        "erase_error": None,
    } | context
    return render(
        "lead/data.html",
        block,
        status=status,
        events=events.list_events(),
        export_formats=EXPORT_FORMATS,
        **context,
    )


@bp.get("/data")
def data() -> Response:
    """Exports, importing another tablet's file, and erasure."""
    return _render_data("data_import")


@bp.post("/import")
def import_file() -> Response:
    """Merge another kiosk's JSON export; a bad file is refused whole."""
    upload = request.files.get("bundle")
    if upload is None or not upload.filename:
        return _render_data("data_import", 422, import_error=_("Choose the JSON file to import."))
    try:
        report = imports.import_bundle(upload.read(), actor=client_address())
    except imports.ImportRefused as error:
        message = _("%(reason)s Nothing was imported.", reason=str(error))
        return _render_data("data_import", 422, import_error=message)
    return _render_data("data_import", report=report)


@bp.post("/erase/person")
def erase_person() -> Response:
    """Erase one person everywhere by email: first show what would go, then do it."""
    email = request.form.get("email", "").strip()
    if "@" not in email or len(email) > 254:
        error = _("Enter the email address the person signed up with.")
        return _render_data("data_erase_person", 422, person_error=error, email=email)
    if request.form.get("confirm") != "yes":
        found = erasure.person_records(email)
        return _render_data("data_erase_person", person=found, email=email)
    erased = erasure.erase_person(email, actor=client_address())
    return _render_data("data_erase_person", person_erased=erased)


@bp.post("/events/<int:event_id>/erase")
def erase_event(event_id: int) -> Response:
    """Erase an event's personal data, only after it was exported; tallies stay."""
    event = _event_or_404(event_id)
    if request.form.get("confirm") != "yes":
        error = _("Tick the box to confirm the erasure of %(name)s.", name=event.name)
        return _render_data("data_erase_events", 422, erase_error=error)
    try:
        erased = erasure.erase_event(event, actor=client_address())
    except erasure.ErasureRefused as refused:
        return _render_data("data_erase_events", 409, erase_error=f"{event.name}: {refused}")
    return _render_data("data_erase_events", event_erased=erased)


# Format -> (label on the button, file extension, MIME type).
EXPORT_FORMATS = {
    "csv": (_l("Sign-ups CSV"), "csv", "text/csv"),
    "mailchimp": (_l("Mailchimp CSV"), "csv", "text/csv"),
    "pledges": (_l("Pledges CSV"), "csv", "text/csv"),
    "questions": (_l("Questions CSV"), "csv", "text/csv"),
    "press": (_l("Press requests CSV"), "csv", "text/csv"),
    "tallies": (_l("Tallies CSV"), "csv", "text/csv"),
    "json": (_l("JSON for another kiosk"), "json", "application/json"),
}


def _slug(text: str) -> str:
    words = "".join(c.lower() if c.isalnum() else " " for c in text).split()
    return "-".join(words)[:60] or "event"


def export_file_name(event: Event | None, format_name: str, today: date | None = None) -> str:
    """rescue-team_<event>_<event date>_<format>.csv, or all-events_<today> for a zip."""
    today = today or date.today()
    if event is None:
        return f"rescue-team_all-events_{today.isoformat()}_{format_name}.zip"
    day = (event.date or today).isoformat()
    extension = EXPORT_FORMATS[format_name][1]
    return f"rescue-team_{_slug(event.name)}_{day}_{format_name}.{extension}"


def _export_one(event: Event, format_name: str) -> bytes:
    body = "".join(exports.export_chunks(event, format_name)).encode("utf-8")
    exports.mark_exported(event, format_name, actor=client_address())
    return body


@bp.post("/export")
def export() -> Response:
    """Download one event's data (or every event's, as a zip) in one of the export formats.

    A POST, not a GET: an export marks the event as exported and is audited.
    """
    format_name = request.form.get("format", "")
    if format_name not in EXPORT_FORMATS:
        abort(400)
    which = request.form.get("event", "")
    if which == "all":
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for event in events.list_events():
                bundle.writestr(
                    export_file_name(event, format_name), _export_one(event, format_name)
                )
        archive.seek(0)
        name, mimetype = export_file_name(None, format_name), "application/zip"
    else:
        event = _event_or_404(int(which)) if which.isdigit() else abort(400)
        archive = io.BytesIO(_export_one(event, format_name))
        name, mimetype = export_file_name(event, format_name), EXPORT_FORMATS[format_name][2]
    return send_file(archive, mimetype=mimetype, as_attachment=True, download_name=name)
