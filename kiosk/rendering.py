"""One place that decides between a whole page and an htmx fragment."""

from collections.abc import Iterable
from typing import Any

from flask import Flask, current_app, make_response, render_template, request
from flask.wrappers import Response
from jinja2_fragments.flask import render_blocks

from kiosk.content import current_content
from kiosk.parsing import dollars
from kiosk.services.events import active_event
from kiosk.services.qr import link_url
from kiosk.services.settings import idle_seconds


def wants_fragment() -> bool:
    """True for htmx swaps; boosted links and history restores need the whole page."""
    htmx = request.htmx  # type: ignore[attr-defined]
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(
    template: str,
    block: str,
    *,
    status: int = 200,
    also: Iterable[str] = (),
    **context: Any,
) -> Response:
    """Render `block` of `template` for htmx (plus out-of-band blocks `also`), else the page."""
    if wants_fragment():
        body = render_blocks(template, [block, *also], **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def link_href(key: str) -> str:
    """The address of a content-pack link, with the active event's tracking source."""
    event = active_event()
    return link_url(current_content().links[key], event.tracking_source if event else "")


def has_endpoint(name: str) -> bool:
    """Lets a template link to an optional screen only when the kiosk has it."""
    return name in current_app.view_functions


def init_app(app: Flask) -> None:
    app.jinja_env.filters["dollars"] = dollars
    app.jinja_env.globals.update(has_endpoint=has_endpoint, idle_seconds=idle_seconds)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
