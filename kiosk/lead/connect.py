"""Connect a tablet: the kiosk's address on the table's network as a QR code to scan, and
the paper sign-up sheet to print."""

from flask import abort, current_app
from flask.wrappers import Response

from kiosk.lead.blueprint import bp
from kiosk.rendering import render
from kiosk.services import network, volunteers
from kiosk.services.qr import qr_svg


@bp.get("/connect")
def connect() -> Response:
    """The address tablets open, as a QR code, with the steps at the table."""
    return render(
        "lead/connect.html",
        "connect",
        kiosk_url=network.kiosk_url("/"),
        listens_here_only=current_app.config.get("KIOSK_SERVE_HOST") in ("127.0.0.1", "localhost"),
        pin_set=volunteers.volunteer_pin_is_set(),
    )


@bp.get("/connect/qr.svg")
def connect_qr() -> Response:
    """The QR code of the kiosk's address: this machine's own, never one from the request."""
    url = network.kiosk_url("/")
    if url is None:
        abort(404)
    return Response(qr_svg(url), mimetype="image/svg+xml")
