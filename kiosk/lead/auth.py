"""The door to the lead's console: log in, log out, and the first run's one-time setup link."""

from typing import Any

from flask import abort, request
from flask.wrappers import Response
from flask_babel import gettext as _

from kiosk.config import secure_cookies
from kiosk.lead.blueprint import (
    DEVICE_COOKIE,
    SESSION_COOKIE,
    bp,
    client_address,
    redirect_to,
    render_form,
)
from kiosk.services import lead_auth
from kiosk.services.audit import record_audit


@bp.record_once
def _announce_on_serve(state: Any) -> None:
    """`kiosk serve` prints the setup link (first run) or where the console is."""
    state.app.extensions.setdefault("kiosk_startup_notes", []).append(lead_auth.setup_note)


def _set_session_cookie(response: Response, token: str) -> None:
    secure = secure_cookies()
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=secure, path="/lead"
    )
    label = request.user_agent.string or _("A browser")
    response.set_cookie(
        DEVICE_COOKIE,
        lead_auth.remember_device(request.cookies.get(DEVICE_COOKIE), label),
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="Strict",
        secure=secure,
        path="/lead",
    )


def _wait_message(gate: lead_auth.Gate) -> str:
    minutes, seconds = divmod(gate.wait_seconds, 60)
    wait = _("%(m)d min %(s)d s", m=minutes, s=seconds) if minutes else _("%(s)d s", s=seconds)
    if gate.reason == "slow":
        return _("Too many wrong passphrases. Try again in %(wait)s.", wait=wait)
    return _(
        "Logging in is locked for a while after many wrong passphrases. Try again in %(wait)s.",
        wait=wait,
    )


def _login_page(status: int = 200, error: str | None = None) -> Response:
    errors = {"passphrase": error} if error else {}
    return render_form(
        "lead/login.html", "login_form", {}, errors, status, no_passphrase=status == 503
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """Ask for the passphrase; too many wrong ones slow down, then lock out for a while."""
    if not lead_auth.has_passphrase():
        return _login_page(503)
    known_device = lead_auth.is_known_device(request.cookies.get(DEVICE_COOKIE))
    if request.method == "GET":
        gate = lead_auth.login_gate(client_address(), known_device)
        return _login_page(200, None if gate.allowed else _wait_message(gate))
    token, gate = lead_auth.attempt_login(
        request.form.get("passphrase", ""),
        client_address(),
        previous_token=request.cookies.get(SESSION_COOKIE),
        known_device=known_device,
    )
    if token is None:
        if not gate.allowed:
            return _login_page(429, _wait_message(gate))
        return _login_page(422, _("That passphrase is not right."))
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
    errors: dict[str, str] = {}
    if request.method == "POST":
        passphrase = request.form.get("passphrase", "")
        problem = lead_auth.passphrase_problem(passphrase, request.form.get("confirmation", ""))
        opened = None
        if problem is None:
            opened = lead_auth.complete_setup(token, passphrase, client_address())
        if opened is not None:
            response = redirect_to("lead.index")
            session = lead_auth.start_session()
            # The recovery code is shown once, on the next page (lead/dashboard.py).
            lead_auth.remember_key(session, opened.key, opened.recovery_code)
            _set_session_cookie(response, session)
            return response
        errors["passphrase"] = problem or _("This setup link has been used already.")
    return render_form("lead/setup.html", "setup_form", {}, errors, token=token)
