"""One place that decides between a whole page and an htmx fragment."""

from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any, cast

from flask import Flask, current_app, make_response, redirect, render_template, request
from flask.wrappers import Response
from htmx_flask.requests import HtmxAwareRequest, HtmxHeaders
from jinja2 import FileSystemBytecodeCache
from jinja2_fragments.flask import render_blocks

from kiosk import page_cache
from kiosk.parsing import dollars
from kiosk.services import team
from kiosk.services.email_typos import suggestion_for
from kiosk.services.events import active_event
from kiosk.services.qr import link_url
from kiosk.services.settings import shown_idle_seconds


def htmx() -> HtmxHeaders:
    """This request's htmx headers (htmx_flask makes every request of the app a
    HtmxAwareRequest; Flask's `request` is typed as a plain Request)."""
    return cast(HtmxAwareRequest, request).htmx


def is_htmx() -> bool:
    """True when htmx sent this request (a swap, a poll, a boosted link)."""
    return bool(htmx())


def wants_fragment() -> bool:
    """True for htmx swaps; boosted links and history restores need the whole page."""
    headers = htmx()
    return bool(headers) and not headers.boosted and not headers.history_restore_request


def see_other(location: str) -> Response:
    """A 303 to `location`. Flask makes it with the app's Response class; its signature
    says werkzeug's, hence the cast."""
    return cast(Response, redirect(location, 303))


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


def render_shared(
    template: str,
    block: str,
    *,
    key: Hashable,
    depends: tuple[str, ...],
    context: Callable[[], dict[str, Any]],
    parts: dict[str, Callable[[], str]] | None = None,
    query: page_cache.Query | None = None,
) -> Response:
    """`render` for a screen that is the same for every visitor: kept per generation.

    `key` names what varies besides the template (a choice, a slug, a view); `depends` are
    the generations (kiosk.page_cache) of what it shows; `context()` is called only when the
    screen must be rendered, so it reads the database after the generations were read.
    `parts` fill placeholders the context put in the page with text cached on its own
    (the opener's chart: a tap renews the chart, not the page around it), placeholders and
    all: the visitor's values go in last (`page_cache.personal`). `query`: every request
    parameter the view reads, with the checked value it used (None: its default); the
    screen is kept under these alone (`page_cache.cached`).
    """
    fragment = wants_fragment()

    def make() -> str:
        if fragment:
            return render_blocks(template, [block], **context())
        return render_template(template, **context())

    text = page_cache.cached(
        (template, block, fragment, request.endpoint, key), depends, make, query=query
    )
    for slot, part in (parts or {}).items():
        if slot in text:
            text = text.replace(slot, part())
    response = make_response(page_cache.personal(text), 200)
    response.vary.add("HX-Request")
    return response


def link_href(key: str) -> str:
    """The address of a content-pack link (or the team page's in its place: services/team.py),
    with the active event's tracking source."""
    event = active_event()
    return link_url(team.links()[key], event.tracking_source if event else "")


def has_endpoint(name: str) -> bool:
    """Lets a template link to an optional screen only when the kiosk has it."""
    return name in current_app.view_functions


def init_app(app: Flask) -> None:
    app.jinja_env.filters["dollars"] = dollars
    app.jinja_env.filters["email_suggestion"] = suggestion_for
    app.jinja_env.globals.update(
        has_endpoint=has_endpoint,
        idle_seconds=shown_idle_seconds,
        team=team.team,
        team_links=team.links,
        team_outcome=team.outcome_text,
    )
    # Compiled templates kept on disk: a restarted kiosk renders its first pages sooner.
    cache = Path(app.instance_path) / "cache" / "jinja"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # a read-only instance folder: compile templates in memory, as before
    else:
        app.jinja_env.bytecode_cache = FileSystemBytecodeCache(str(cache))
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
