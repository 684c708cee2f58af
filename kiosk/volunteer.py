"""The volunteer's screen, behind a short PIN: quick tips, a conversation counter,
and quick entry of paper sign-ups."""

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, redirect, request, session, url_for
from flask.wrappers import Response
from flask_babel import gettext as _
from werkzeug.datastructures import ImmutableMultiDict

from kiosk.models import Signup, Tally
from kiosk.privacy import new_form_key
from kiosk.rendering import render
from kiosk.services import email_typos, tallies
from kiosk.services.events import event_to_show
from kiosk.services.records import InvalidInput
from kiosk.services.signups import form_fields, record_signup
from kiosk.services.volunteers import check_volunteer_pin, pin_fingerprint, volunteer_pin_is_set
from kiosk.visitor import VOLUNTEER_SESSION_KEY
from kiosk.write_queue import reads_only

bp = Blueprint("volunteer", __name__, url_prefix="/volunteer")

# An unlocked screen left alone this long asks for the PIN again.
UNLOCK_IDLE_SECONDS = 15 * 60
# After this many wrong PINs in a row, wait LOCKOUT_SECONDS before the next try.
MAX_FAILURES = 5
LOCKOUT_SECONDS = 60


@bp.record_once
def _announce_on_serve(state: Any) -> None:
    """`kiosk serve` prints where the volunteer screen is and whether it has a PIN yet."""
    state.app.extensions.setdefault("kiosk_startup_notes", []).append(_startup_note)


def _startup_note() -> str:
    # No request here, so no url_for: the blueprint's prefix is the screen's address.
    where = f"  Volunteer screen:       {bp.url_prefix}/"
    return where if volunteer_pin_is_set() else f"{where}  (no PIN yet: run `kiosk pin`)"


def is_unlocked() -> bool:
    """True while this browser holds an unlock made with the current PIN, not yet idle."""
    unlock = session.get(VOLUNTEER_SESSION_KEY)
    if not isinstance(unlock, dict) or not volunteer_pin_is_set():
        return False
    fresh = time.time() - float(unlock.get("seen", 0)) < UNLOCK_IDLE_SECONDS
    if not fresh or unlock.get("pin") != pin_fingerprint():
        session.pop(VOLUNTEER_SESSION_KEY, None)
        return False
    unlock["seen"] = time.time()
    session[VOLUNTEER_SESSION_KEY] = unlock
    return True


def unlocked_only(view: Callable[..., Response]) -> Callable[..., Response]:
    """Send anyone without the PIN to the gate; an htmx request gets a full redirect."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        if is_unlocked():
            return view(*args, **kwargs)
        if request.htmx:  # type: ignore[attr-defined]
            response = Response(status=204)
            response.headers["HX-Redirect"] = url_for("volunteer.index")
            return response
        return redirect(url_for("volunteer.index"), 303)  # type: ignore[return-value]

    return wrapper


def _failures() -> dict[str, float]:
    # Per process and shared by every tablet: guessing is slowed for everyone alike.
    return current_app.extensions.setdefault("volunteer_pin_failures", {"count": 0, "at": 0.0})


def _locked_out() -> bool:
    failures = _failures()
    return failures["count"] >= MAX_FAILURES and time.time() - failures["at"] < LOCKOUT_SECONDS


def _screen_context(**extra: Any) -> dict[str, Any]:
    event = event_to_show()
    return {
        "event": event,
        "conversations": tallies.total_since(event, Tally.CONVERSATION, tallies.start_of_today()),
        "form": ImmutableMultiDict(),
        "errors": {},
        "form_key": new_form_key(),
        "saved": False,
    } | extra


@bp.get("/")
def index() -> Response:
    """The volunteer's screen, or the PIN gate in front of it."""
    if not is_unlocked():
        return render("volunteer/pin.html", "pin_form", pin_set=volunteer_pin_is_set(), error="")
    return render(
        "volunteer/index.html",
        "volunteer_signup",
        **_screen_context(saved=request.args.get("saved") == "1"),
    )


@bp.post("/unlock")
def unlock() -> Response:
    """Check the PIN and open the volunteer's screen on this browser."""
    if not volunteer_pin_is_set():
        return redirect(url_for("volunteer.index"), 303)  # type: ignore[return-value]
    if _locked_out():
        error = _("Too many wrong PINs. Please wait a minute and try again.")
    elif check_volunteer_pin(request.form.get("pin", "").strip()):
        _failures().update(count=0, at=0.0)
        session[VOLUNTEER_SESSION_KEY] = {"pin": pin_fingerprint(), "seen": time.time()}
        return redirect(url_for("volunteer.index"), 303)  # type: ignore[return-value]
    else:
        failures = _failures()
        failures.update(count=failures["count"] + 1, at=time.time())
        error = _("That PIN is not right. Please try again.")
    return render("volunteer/pin.html", "pin_form", status=422, pin_set=True, error=error)


@bp.post("/lock")
def lock() -> Response:
    """Close the volunteer's screen and hand the tablet back to visitors."""
    session.pop(VOLUNTEER_SESSION_KEY, None)
    return redirect(url_for("visitor.index"), 303)  # type: ignore[return-value]


@bp.post("/conversation")
@unlocked_only
def conversation() -> Response:
    """Count one conversation at the table (an anonymous tally)."""
    tallies.record_tally(Tally.CONVERSATION, "table")
    if request.htmx:  # type: ignore[attr-defined]
        return render("volunteer/index.html", "volunteer_counter", **_screen_context())
    return redirect(url_for("volunteer.index"), 303)  # type: ignore[return-value]


@bp.post("/signup")
@unlocked_only
def signup() -> Response:
    """Type in a paper sign-up; on success, an empty form for the next one."""
    form = request.form
    try:
        record_signup(**form_fields(form), source=Signup.VOLUNTEER)
    except InvalidInput as error:
        context = _screen_context(
            form=form, errors=error.errors, form_key=form.get("idempotency_key") or new_form_key()
        )
        return render("volunteer/index.html", "volunteer_signup", status=422, **context)
    if request.htmx:  # type: ignore[attr-defined]
        return render("volunteer/index.html", "volunteer_signup", **_screen_context(saved=True))
    return redirect(url_for("volunteer.index", saved="1"), 303)  # type: ignore[return-value]


@bp.post("/signup/email")
@unlocked_only
@reads_only
def email_hint() -> Response:
    """A suggestion for a likely typo in a paper sign-up's email domain; never a refusal."""
    block, context = email_typos.hint_context(request.form, url_for("volunteer.email_hint"))
    return render("_email_field.html", block, errors={}, **context)
