"""The lead's settings: the volunteer PIN, the kiosk's idle timeout, retention, session length,
and the browsers the lead logged in from (known devices)."""

from typing import Any

from flask import request
from flask.wrappers import Response

from kiosk.lead.blueprint import DEVICE_COOKIE, bp, client_address, redirect_to, render_form
from kiosk.services import lead_auth, settings_form
from kiosk.services.records import InvalidInput


def _render(form: object, errors: dict[str, str] | None = None, **context: Any) -> Response:
    devices = lead_auth.known_devices()
    this_one = lead_auth.device_id(request.cookies.get(DEVICE_COOKIE))
    return render_form(
        "lead/settings.html",
        "settings_form",
        form,
        errors,
        devices=devices,
        expired={d.id for d in devices if lead_auth.device_expired(d)},
        this_device=this_one,
        **context,
    )


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> Response:
    """The volunteer PIN, the kiosk's idle timeout, retention and the lead's session length."""
    if request.method == "GET":
        return _render(settings_form.current_form())
    try:
        settings_form.save(request.form, actor=client_address())
    except InvalidInput as invalid:
        return _render(request.form, invalid.errors)
    return _render(settings_form.current_form(), saved=True)


@bp.post("/devices/<id:device_id>/revoke")
def revoke_device(device_id: int) -> Response:
    """Forget one browser: from now on it is locked out with everyone else."""
    lead_auth.revoke_device(device_id, actor=client_address())
    return redirect_to("lead.settings")
