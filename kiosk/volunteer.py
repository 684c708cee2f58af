"""The volunteer's screen, behind a short PIN: quick tips, a conversation counter (with an
undo), quick entry of paper sign-ups, and the printable paper sign-up sheet.

A tablet reaches it by a hidden gesture on the visitor screens (static/js/volunteer.js). The
unlock lives on the server (kiosk.services.volunteers) and ends at "Lock", at any visitor
screen, after KIOSK_VOLUNTEER_IDLE_SECONDS without use, and when the PIN changes.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    after_this_request,
    current_app,
    g,
    request,
    url_for,
)
from flask.wrappers import Response
from flask_babel import gettext as _
from werkzeug.datastructures import ImmutableMultiDict

from kiosk import hooks, i18n
from kiosk.config import kiosk_command
from kiosk.models import Signup, Tally, VolunteerUnlock
from kiosk.privacy import new_form_key
from kiosk.rendering import is_htmx, render, see_other
from kiosk.services import email_typos, sync, tallies, team, volunteers
from kiosk.services.events import event_to_show
from kiosk.services.qr import qr_svg
from kiosk.services.records import InvalidInput
from kiosk.services.signups import form_fields, record_signup

bp = Blueprint("volunteer", __name__, url_prefix="/volunteer")

# The unlock's token; only its hash is in the database.
UNLOCK_COOKIE = "kiosk_volunteer"
hooks.header("HX-Redirect", hooks.FOR_EVERYONE, "where htmx goes instead (a locked screen)")
# Blank rows on a printed paper sign-up sheet (one page, A4 or Letter).
SHEET_ROWS = 16


@bp.record_once
def _announce_on_serve(state: Any) -> None:
    """`kiosk serve` prints where the volunteer screen is and whether it has a PIN yet."""
    state.app.extensions.setdefault("kiosk_startup_notes", []).append(_startup_note)


def _startup_note() -> str:
    # No request here, so no url_for: the blueprint's prefix is the screen's address.
    where = f"  Volunteer screen:       {bp.url_prefix}/ (or hold the team's name for 2 s)"
    if volunteers.volunteer_pin_is_set():
        return where
    return f"{where}\n  (no volunteer PIN yet: run `{kiosk_command('pin')}`)"


def client_address() -> str:
    return request.remote_addr or "unknown"


def current_unlock() -> VolunteerUnlock | None:
    """This browser's open unlock, if any (asked once per request)."""
    if "volunteer_unlock" not in g:
        token = request.cookies.get(UNLOCK_COOKIE)
        live = token and volunteers.volunteer_pin_is_set()
        g.volunteer_unlock = volunteers.live_unlock(token) if live else None
    return g.volunteer_unlock


def unlocked_only(view: Callable[..., Response]) -> Callable[..., Response]:
    """Send anyone without the PIN to the gate; an htmx request gets a full redirect."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        if current_unlock() is not None:
            return view(*args, **kwargs)
        if is_htmx():
            response = Response(status=204)
            response.headers["HX-Redirect"] = url_for("volunteer.index")
            return response
        return see_other(url_for("volunteer.index"))

    return wrapper


@bp.before_app_request
@hooks.per_request(
    "ends an unlocked tablet's unlock on a visitor screen",
    # No unlock cookie, nothing to end (a mere look-alike only sends the request to Flask).
    fast=lambda environ: UNLOCK_COOKIE not in environ.get("HTTP_COOKIE", ""),
)
def lock_on_visitor_screens() -> None:
    """A visitor screen ends this tablet's unlock on the server, so the next visitor never
    inherits it (the idle reset always lands on one)."""
    token = request.cookies.get(UNLOCK_COOKIE)
    if request.blueprint != "visitor" or not token:
        return
    volunteers.end_unlock(token)

    @after_this_request
    def forget(response: Response) -> Response:
        response.delete_cookie(UNLOCK_COOKIE, path="/")
        return response


def _wait_words(seconds: int) -> str:
    minutes, seconds = divmod(seconds, 60)
    if minutes and seconds:
        return _("%(m)d min %(s)d s", m=minutes, s=seconds)
    return _("%(m)d min", m=minutes) if minutes else _("%(s)d s", s=seconds)


def _locked_out_message(gate: volunteers.Gate) -> str:
    if gate.reason == "kiosk":
        return _(
            "This kiosk has checked as many PINs as it allows in an hour, from every tablet "
            "together, to stop guessing. Please wait %(wait)s, then try again. Tablets that "
            "are already unlocked keep working.",
            wait=_wait_words(gate.wait_seconds),
        )
    return _(
        "Too many wrong PINs on this tablet. Please wait %(wait)s, then try again.",
        wait=_wait_words(gate.wait_seconds),
    )


def _render_pin(error: str = "", status: int = 200) -> Response:
    if not error and volunteers.volunteer_pin_is_set():
        gate = volunteers.pin_gate(client_address())
        error = "" if gate.allowed else _locked_out_message(gate)
    return render(
        "volunteer/pin.html",
        "pin_form",
        status=status,
        pin_set=volunteers.volunteer_pin_is_set(),
        pin_command=kiosk_command("pin"),
        error=error,
    )


def _counter_context(unlock: VolunteerUnlock | None, notice: str = "") -> dict[str, Any]:
    event = event_to_show()
    return {
        "event": event,
        "conversations": tallies.total_since(event, Tally.CONVERSATION, tallies.start_of_today()),
        "undo_seconds": volunteers.undo_seconds_left(unlock),
        "counter_notice": notice,
    }


def _consent_label(version: str, *, current: bool) -> str:
    """A consent version as the volunteer picks it: this language's current one, another
    language's current one (named in that language), or an earlier one."""
    if current:
        return _("%(version)s (current)", version=version)
    code = volunteers.consent_languages().get(version)
    if code is None:
        return version
    language = dict(i18n.languages())[code]
    return _("%(version)s (current, %(language)s sheet)", version=version, language=language)


def _screen_context(**extra: Any) -> dict[str, Any]:
    versions = volunteers.paper_consent_versions()
    return (
        _counter_context(current_unlock())
        | {
            "form": ImmutableMultiDict(),
            "errors": {},
            "form_key": new_form_key(),
            "saved": False,
            "consent_options": [
                (version, _consent_label(version, current=at == 0))
                for at, (version, _wording) in enumerate(versions)
            ],
            "chosen_version": versions[0][0],
            # A table joined to a hub: "Synced 2 min ago · 0 waiting" (services/sync.py).
            "sync_line": sync.status_line(),
        }
        | extra
    )


@bp.get("/")
def index() -> Response:
    """The volunteer's screen, or the PIN gate in front of it."""
    if current_unlock() is None:
        return _render_pin()
    return render(
        "volunteer/index.html",
        "volunteer_signup",
        **_screen_context(saved=request.args.get("saved") == "1"),
    )


@bp.post("/unlock")
def unlock() -> Response:
    """Check the PIN and open the volunteer's screen on this browser."""
    if not volunteers.volunteer_pin_is_set():
        return see_other(url_for("volunteer.index"))
    token, gate = volunteers.attempt_unlock(request.form.get("pin", "").strip(), client_address())
    if token is None and not gate.allowed:
        return _render_pin(_locked_out_message(gate), status=429)
    if token is None:
        return _render_pin(_("That PIN is not right. Please try again."), status=422)
    response = see_other(url_for("volunteer.index"))
    response.set_cookie(
        UNLOCK_COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure, path="/"
    )
    return response


@bp.post("/lock")
def lock() -> Response:
    """Close the volunteer's screen on the server and hand the tablet back to visitors."""
    volunteers.end_unlock(request.cookies.get(UNLOCK_COOKIE))
    response = see_other(url_for("visitor.index"))
    response.delete_cookie(UNLOCK_COOKIE, path="/")
    return response


def _counter(notice: str = "") -> Response:
    if is_htmx():
        context = _counter_context(current_unlock(), notice)
        return render("volunteer/index.html", "volunteer_counter", **context)
    return see_other(url_for("volunteer.index"))


@bp.post("/conversation")
@unlocked_only
def conversation() -> Response:
    """Count one conversation at the table (an anonymous tally)."""
    unlock = current_unlock()
    assert unlock is not None  # nosec B101 - unlocked_only let us in
    volunteers.count_conversation(unlock)
    return _counter(_("Counted."))


@bp.post("/conversation/undo")
@unlocked_only
def undo_conversation() -> Response:
    """Take back the last conversation this tablet counted, within a minute."""
    unlock = current_unlock()
    assert unlock is not None  # nosec B101 - unlocked_only let us in
    if volunteers.undo_conversation(unlock):
        return _counter(_("Taken back: one conversation fewer."))
    return _counter(_("Nothing to take back: only the last minute's count can be undone."))


def _paper_consent() -> tuple[tuple[str, str] | None, dict[str, str]]:
    """The consent (version, wording) printed on the sheet the volunteer copies from."""
    versions = volunteers.paper_consent_versions()
    chosen = request.form.get("consent_version") or versions[0][0]  # the current one
    for version, text in versions:
        if version == chosen:
            return (version, text), {}
    return None, {"consent_version": _("Choose the version printed on the sheet.")}


@bp.post("/signup")
@unlocked_only
def signup() -> Response:
    """Type in a paper sign-up; on success, an empty form for the next one."""
    form = request.form
    wording, errors = _paper_consent()
    try:
        if errors:
            raise InvalidInput(errors)
        # The sheet's language is the person's: its consent version tells which it was.
        locale = volunteers.consent_languages().get(wording[0]) if wording else None
        record_signup(
            **form_fields(form), source=Signup.VOLUNTEER, consent_wording=wording, locale=locale
        )
    except InvalidInput as error:
        context = _screen_context(
            form=form,
            errors=error.errors,
            form_key=form.get("idempotency_key") or new_form_key(),
            chosen_version=form.get("consent_version", ""),
        )
        return render("volunteer/index.html", "volunteer_signup", status=422, **context)
    if is_htmx():
        context = _screen_context(saved=True, chosen_version=wording[0] if wording else "")
        return render("volunteer/index.html", "volunteer_signup", **context)
    return see_other(url_for("volunteer.index", saved="1"))


def _online_signup_url() -> str | None:
    """Where the sheet's QR code leads: a public sign-up link (the team page's, else the
    pack's), never the table's own network, which a phone on mobile data cannot reach."""
    return team.public_signup_url()


@bp.get("/sheet")
def sheet() -> Response:
    """A printable paper sign-up sheet: blank rows, the consent wording and its version,
    a QR code to sign up online. It holds nothing personal, so it needs no PIN: the lead
    console links to it too."""
    return render(
        "volunteer/sheet.html",
        "sheet",
        event=event_to_show(),
        rows=range(1, SHEET_ROWS + 1),
        signup_url=_online_signup_url(),
        back=request.args.get("back") == "lead",
    )


@bp.get("/sheet/qr.svg")
def sheet_qr() -> Response:
    """The sheet's QR code: the online sign-up's address, never one from the request."""
    url = _online_signup_url()
    if url is None:
        return Response(status=404)
    return Response(qr_svg(url), mimetype="image/svg+xml")


def idle_seconds() -> int:
    """Seconds before an open volunteer screen locks itself (the tablet follows suit)."""
    return int(current_app.config["KIOSK_VOLUNTEER_IDLE_SECONDS"])


@bp.app_context_processor
@hooks.for_everyone("the volunteer screens' idle limit: a setting of the whole kiosk")
def inject_volunteer_idle() -> dict[str, object]:
    return {"volunteer_idle_seconds": idle_seconds}


@bp.post("/signup/email")
@unlocked_only
def email_hint() -> Response:
    """A suggestion for a likely typo in a paper sign-up's email domain; never a refusal.

    Not reads_only: checking the unlock notes this request as the volunteer's activity."""
    block, context = email_typos.hint_context(request.form, url_for("volunteer.email_hint"))
    return render("_email_field.html", block, errors={}, **context)
