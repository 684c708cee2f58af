"""Calm error screens for visitors, and a clear cause for the volunteer.

No error ever shows a traceback or a bare framework page: these handlers render the kiosk's
own page (the visitor navigation, a way back, the idle reset) or, for htmx, the same panel
retargeted into <main>. A database failure is rolled back, logged with its cause (never the
statement or its values: they hold people's data) and kept for /healthz until the next
successful write (services/database_health.py).
"""

from typing import Any

from flask import Flask, current_app, request, url_for
from flask.wrappers import Response
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DatabaseError, IntegrityError
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    RequestURITooLarge,
)
from werkzeug.routing import RequestRedirect

from kiosk import hooks
from kiosk.extensions import db
from kiosk.rendering import render, wants_fragment
from kiosk.services import database_health
from kiosk.services.database_health import database_cause, disk_full, note_database_problem


def render_error(status: int, kind: str, title: str, message: str, **context: Any) -> Response:
    """The error panel: a whole page, or for htmx the panel swapped into <main>."""
    response = render(
        "errors/error.html",
        "error_panel",
        status=status,
        kind=kind,
        title=title,
        message=message,
        **context,
    )
    if wants_fragment():
        response.headers["HX-Retarget"] = "#main"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


hooks.header("HX-Retarget", hooks.FOR_EVERYONE, "an error panel goes in #main")
hooks.header("HX-Reswap", hooks.FOR_EVERYONE, "an error panel replaces what #main holds")


def _form_page() -> str | None:
    """The address of the page holding the form just posted, if that page can be fetched."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        adapter.match(request.path, method="GET")
    except (HTTPException, RequestRedirect):
        return None
    return request.path


def _resend_fields() -> list[tuple[str, str]]:
    """What the visitor typed, to send again with a fresh token: only for our own pages.

    Sec-Fetch-Site is set by the browser and cannot be forged by another site, so a
    cross-site forgery never gets its fields echoed back into a ready-to-send form.
    """
    if request.headers.get("Sec-Fetch-Site") != "same-origin":
        return []
    return [(k, v) for k, v in request.form.items(multi=True) if not _is_secret(k)]


# Never echoed into a page: the token itself, passphrases, PINs, setup tokens.
SECRET_FIELD_WORDS = ("token", "pass", "pin", "secret")


def _is_secret(field: str) -> bool:
    return any(word in field.lower() for word in SECRET_FIELD_WORDS)


def csrf_failed(error: CSRFError) -> Response:
    """A missing, foreign or stale token: explain kindly, keep what the visitor typed."""
    current_app.logger.info("Refused %s %s: %s", request.method, request.path, error.description)
    return render_error(
        400,
        "csrf",
        _l("This page was open too long"),
        _l("Please try again: nothing was sent yet."),
        resend_fields=_resend_fields(),
        resend_action=request.path,
        back_href=_form_page() or url_for("visitor.index"),
    )


def bad_request(error: BadRequest) -> Response:
    return render_error(
        400,
        "bad_request",
        _l("That didn't work"),
        _l("Something in this request was not as expected. Please start again."),
        back_href=url_for("visitor.index"),
    )


def too_large(error: RequestEntityTooLarge) -> Response:
    return render_error(
        413,
        "too_large",
        _l("That is more than we can take"),
        _l("What was sent is too long. Please shorten it and try again."),
        back_href=_form_page() or url_for("visitor.index"),
    )


def too_long(error: RequestURITooLarge | RequestHeaderFieldsTooLarge) -> Response:
    """An address or cookies no page of the kiosk makes (kiosk/fast_path.py refuses them
    before they are read): the same words as a form sent too long."""
    return render_error(
        error.code or 414,
        "too_large",
        _l("That is more than we can take"),
        _l("What was sent is too long. Please shorten it and try again."),
        back_href=url_for("visitor.index"),
    )


def database_failed(error: DatabaseError) -> Response:
    """Roll back, tell the visitor to find a volunteer, and name the cause for them."""
    try:
        db.session.rollback()
    except DatabaseError:
        current_app.logger.exception("Rolling back after a database failure failed too")
    cause = database_cause(error)
    if isinstance(error, IntegrityError):
        # Two requests met on one row: the database kept its rules and nothing is broken,
        # so /healthz stays ok. (The kiosk's own writes handle their conflicts; this is the
        # net under one that did not.)
        current_app.logger.warning(
            "Conflict on %s %s: %s", request.method, request.path, type(error.orig).__name__
        )
        return render_error(
            409,
            "conflict",
            _l("That changed just now"),
            _l("Another screen saved the same thing at the same moment. Please try again."),
            resend_fields=_resend_fields() if request.method == "POST" else [],
            resend_action=request.path,
            back_href=_form_page() or url_for("visitor.index"),
        )
    note_database_problem(cause, until_a_write=disk_full(error))
    current_app.logger.error("Database failure on %s %s: %s", request.method, request.path, cause)
    return render_error(
        503,
        "database",
        _l("Please tell a volunteer"),
        _l("We couldn't save this just now. A volunteer at the table can help."),
        cause=cause,
        # Once the volunteer has fixed it, what the visitor typed can still be sent.
        resend_fields=_resend_fields() if request.method == "POST" else [],
        resend_action=request.path,
        back_href=url_for("visitor.index"),
    )


def _way_back() -> tuple[str, str]:
    """Where "back" leads from a page that is not there: the lead's pages, or the opener."""
    if request.path.startswith("/lead") and "lead.index" in current_app.view_functions:
        return url_for("lead.index"), str(_l("Back to the team lead's pages"))
    return url_for("visitor.index"), str(_l("Back to the start"))


def not_found(error: NotFound) -> Response:
    back_href, back_label = _way_back()
    return render_error(
        404,
        "not_found",
        _l("We can't find that page"),
        _l(
            "It may have moved, or the address has a small typo. Nothing is lost: everything "
            "on this kiosk starts from its first screen."
        ),
        back_href=back_href,
        back_label=back_label,
    )


def method_not_allowed(error: MethodNotAllowed) -> Response:
    back_href, back_label = _way_back()
    response = render_error(
        405,
        "method_not_allowed",
        _l("That didn't work"),
        _l(
            "This page can't be used that way, and nothing was changed. Please start again "
            "from the first screen."
        ),
        back_href=back_href,
        back_label=back_label,
    )
    response.headers["Allow"] = ", ".join(sorted(error.valid_methods or ()))
    return response


def internal_error(error: InternalServerError) -> Response:
    current_app.logger.error("Unhandled error on %s %s", request.method, request.path)
    return render_error(
        500,
        "internal",
        _l("Something went wrong"),
        _l("Please start again, or tell a volunteer at the table."),
        back_href=url_for("visitor.index"),
    )


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, csrf_failed)
    app.register_error_handler(BadRequest, bad_request)
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(RequestURITooLarge, too_long)
    app.register_error_handler(RequestHeaderFieldsTooLarge, too_long)
    app.register_error_handler(NotFound, not_found)
    app.register_error_handler(MethodNotAllowed, method_not_allowed)
    app.register_error_handler(DatabaseError, database_failed)
    app.register_error_handler(InternalServerError, internal_error)
    database_health.init_app(app)
