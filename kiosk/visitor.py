"""The visitor's screens: the opener, the FAQ, Get involved and its QR codes."""

from flask import Blueprint, abort, redirect, request, url_for
from flask.wrappers import Response
from flask_babel import lazy_gettext as _l

from kiosk.content import current_content
from kiosk.models import Tally
from kiosk.rendering import link_href, render
from kiosk.services import tallies
from kiosk.services.events import current_event
from kiosk.services.qr import qr_svg

bp = Blueprint("visitor", __name__)

FAQ_VIEWS = ("closed", "short", "more")

# The visitor's top navigation: (endpoint, label), in display order.
NAV = [
    ("visitor.index", _l("Start")),
    ("visitor.faq", _l("Questions")),
    ("visitor.involved", _l("Get involved")),
]


@bp.app_context_processor
def inject_nav() -> dict[str, object]:
    return {"visitor_nav": NAV}


def _opener_chart() -> list[dict[str, object]]:
    pack = current_content()
    counts = tallies.count_by_key(current_event(), Tally.OPENER)
    return tallies.bars(counts, [(c.key, c.label) for c in pack.choices])


def _render_opener(chosen_key: str | None) -> Response:
    choice = current_content().choice(chosen_key) if chosen_key else None
    return render(
        "visitor/opener.html",
        "opener_panel",
        # After a tap, the chart rides along out of band so it shows the new count.
        also=["opener_chart"] if choice else [],
        oob=choice is not None,
        choice=choice,
        chart=_opener_chart(),
    )


@bp.get("/")
def index() -> Response:
    """The opener: what comes to mind when you hear "North Korea"?"""
    return _render_opener(None)


@bp.post("/opener")
def answer() -> Response:
    """Count an opener answer and show its reframe."""
    key = request.form.get("choice", "")
    if current_content().choice(key) is None:
        abort(400, "Unknown opener choice.")
    tallies.record_tally(Tally.OPENER, key)
    if request.htmx:  # type: ignore[attr-defined]
        return _render_opener(key)
    return redirect(url_for("visitor.reframe", key=key), 303)  # type: ignore[return-value]


@bp.get("/opener/<key>")
def reframe(key: str) -> Response:
    """The reframe of one opener answer, as a page of its own (no JavaScript, reload)."""
    if current_content().choice(key) is None:
        abort(404)
    return _render_opener(key)


@bp.get("/opener/chart")
def opener_chart() -> Response:
    """The live chart of this event's opener answers, polled by the opener page."""
    return render("visitor/opener.html", "opener_chart", choice=None, chart=_opener_chart())


def _render_faq(slug: str | None, view: str) -> Response:
    pack = current_content()
    entry = pack.faq_entry(slug) if slug else None
    if slug and entry is None:
        abort(404)
    return render("visitor/faq.html", "faq_entry", entry=entry, open_slug=slug, view=view)


@bp.get("/faq")
def faq() -> Response:
    """Every question of the guide, grouped; each opens in place."""
    return render("visitor/faq.html", "faq_list", entry=None, open_slug=None, view="closed")


@bp.get("/faq/<slug>")
def faq_entry(slug: str) -> Response:
    """One question at a depth: closed, the short answer, or the longer one."""
    view = request.args.get("view", "short")
    return _render_faq(slug, view if view in FAQ_VIEWS else "short")


@bp.post("/faq/<slug>")
def faq_open(slug: str) -> Response:
    """Count an answer being opened (short, or "Tell me more") and show it."""
    if current_content().faq_entry(slug) is None:
        abort(404)
    depth = "more" if request.form.get("depth") == "more" else "short"
    tallies.record_tally(Tally.FAQ_MORE if depth == "more" else Tally.FAQ_OPEN, slug)
    if request.htmx:  # type: ignore[attr-defined]
        return _render_faq(slug, depth)
    target = url_for("visitor.faq_entry", slug=slug, view=depth, _anchor=f"faq_entry-{slug}")
    return redirect(target, 303)  # type: ignore[return-value]


@bp.get("/involved")
def involved() -> Response:
    """The four ways to help and the links to follow, each with a QR code."""
    return render("visitor/involved.html", "involved_ways")


@bp.get("/qr/<key>.svg")
def qr(key: str) -> Response:
    """A QR code of a content-pack link; any other key is a 404, never a URL from the request."""
    if key not in current_content().links:
        abort(404)
    response = Response(qr_svg(link_href(key)), mimetype="image/svg+xml")
    # The tracking source changes with the active event: revalidate, don't trust an old copy.
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    return response.make_conditional(request)
