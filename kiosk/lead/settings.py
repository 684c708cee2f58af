"""The lead's settings: the volunteer PIN, the kiosk's idle timeout, retention, session length."""

from flask import request
from flask.wrappers import Response

from kiosk.lead import bp, client_address, render_form
from kiosk.services import settings_form
from kiosk.services.records import InvalidInput


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> Response:
    """The volunteer PIN, the kiosk's idle timeout, retention and the lead's session length."""
    if request.method == "GET":
        return render_form("lead/settings.html", "settings_form", settings_form.current_form())
    try:
        settings_form.save(request.form, actor=client_address())
    except InvalidInput as invalid:
        return render_form("lead/settings.html", "settings_form", request.form, invalid.errors)
    return render_form(
        "lead/settings.html", "settings_form", settings_form.current_form(), saved=True
    )
