"""Many tables, one hub. On the hub: add a table (its one-line join code and QR code, shown
once), see each table's last sync and what it sent, revoke one. At a table: join a hub by
its code and see the sync's state (services/hub.py, services/sync.py)."""

import base64
from typing import Any

from flask import current_app, request
from flask.wrappers import Response
from flask_babel import gettext as _

from kiosk.extensions import db
from kiosk.lead.blueprint import bp, client_address, redirect_to, render_form
from kiosk.models import Event
from kiosk.parsing import NotANumber, parse_id
from kiosk.services import events, hub, sync
from kiosk.services.qr import make_svg


def _render(
    form: object | None = None, errors: dict[str, str] | None = None, **context: Any
) -> Response:
    active = events.active_event()
    all_events = events.list_events()
    names = {e.uuid: e.name for e in all_events}
    tables = hub.tables()
    default = {
        "hub_url": current_app.config.get("KIOSK_PUBLIC_URL", ""),
        "event": str(active.id) if active else "",
    }
    return render_form(
        "lead/hub.html",
        "hub_page",
        form if form is not None else default,
        errors,
        tables=tables,
        table_events={t.id: [names[u] for u in t.events if u in names] for t in tables},
        event_options=[(str(e.id), e.name) for e in all_events],
        link=sync.link(),
        state=sync.status(),
        line=sync.status_line(),
        **context,
    )


@bp.get("/hub")
def hub_page() -> Response:
    """The hub page: this kiosk's tables (on a hub) and its own link to a hub (at a table)."""
    return _render(joined=request.args.get("joined") == "1")


@bp.post("/hub/tables")
def hub_add_table() -> Response:
    """Add a table: its join code and QR code, shown this once.

    Answered with the page itself, not a redirect: the code holds the table's token, which
    the hub does not keep and must never put in a URL."""
    errors: dict[str, str] = {}
    try:
        event = db.session.get(Event, parse_id(request.form.get("event", "")))
    except NotANumber:
        event = None
    if event is None:
        errors["event"] = _("Choose the event the table takes sign-ups for.")
    name = request.form.get("name", "")
    if not name.strip():
        errors["name"] = _("Give the table a name, e.g. “Library steps”.")
    if errors or event is None:
        return _render(request.form, errors)
    try:
        code = hub.add_table(
            name,
            [event],
            request.form.get("hub_url", ""),
            request.form.get("fingerprint", ""),
            actor=client_address(),
        )
    except hub.HubRefused as refused:
        return _render(request.form, {"name": str(refused)})
    picture = base64.b64encode(make_svg(code)).decode()
    return _render(new_code=code, new_table=" ".join(name.split()), qr_data=picture)


@bp.post("/hub/tables/<id:table_id>/revoke")
def hub_revoke_table(table_id: int) -> Response:
    """Refuse a table's token from now on."""
    hub.revoke_table(table_id, actor=client_address())
    return redirect_to("lead.hub_page")


@bp.post("/hub/join")
def hub_join() -> Response:
    """At a table: join the hub of a join code."""
    try:
        sync.join(request.form.get("code", ""), actor=client_address())
    except hub.HubRefused as refused:
        return _render(request.form, {"code": str(refused)})
    return redirect_to("lead.hub_page", joined="1")
