"""The visitor's screens: the opener, the FAQ, Learn, Get involved and its QR codes, the
journalists' desk, and the forms that capture people (sign-up, pledge, ask, press request)."""

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, make_response, request, url_for
from flask.wrappers import Response
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from jinja2_fragments.flask import render_blocks
from werkzeug.datastructures import ImmutableMultiDict

from kiosk import clock, hooks, i18n, page_cache
from kiosk.content import current_content
from kiosk.models import Pledge, Tally
from kiosk.page_cache import SETUP, TALLIES
from kiosk.parsing import NotANumber, parse_whole
from kiosk.privacy import new_form_key
from kiosk.rendering import is_htmx, link_href, render, render_shared, see_other, wants_fragment
from kiosk.services import counts, email_typos, pledges, press, tallies, team
from kiosk.services.events import active_event, event_to_show
from kiosk.services.qr import qr_svg
from kiosk.services.questions import record_question
from kiosk.services.records import InvalidInput
from kiosk.services.signups import form_fields, interest_asked, record_signup
from kiosk.write_queue import reads_only

bp = Blueprint("visitor", __name__)

FAQ_VIEWS = ("closed", "short", "more")
FAQ_DEPTHS = ("short", "more")
# The event an opener tap's answer triggers (HX-Trigger): the chart refreshes on it.
TALLIED = "tallied"
hooks.header("HX-Trigger", hooks.FOR_EVERYONE, "names the event a tap's answer raises")
# Where the chart goes in a kept opener page (kiosk.page_cache: never escaped by Jinja).
CHART_SLOT = "kiosk-chart-slot-8c1e4f"

# The visitor's top navigation: (endpoint, label), in display order.
NAV = [
    ("visitor.index", _l("Start")),
    ("visitor.faq", _l("Questions")),
    ("visitor.learn", _l("Learn")),
    ("visitor.involved", _l("Get involved")),
    ("visitor.signup", _l("Sign up")),
    ("visitor.pledge", _l("Pledge")),
]


@bp.app_context_processor
@hooks.for_everyone("the visitor's navigation: constant")
def inject_nav() -> dict[str, object]:
    return {"visitor_nav": NAV}


def _opener_chart() -> list[dict[str, object]]:
    pack = current_content()
    # The active event's id is kept per setup generation, like its language (kiosk/i18n.py):
    # a tap renews the chart, and the chart's render need not read the event's row again.
    event_id = page_cache.remembered("active_event_id", (SETUP,), _active_event_id)
    found = counts.tallies_by_key(event_id, Tally.OPENER) if event_id is not None else {}
    return tallies.bars(found, [(c.key, c.label) for c in pack.choices])


def _active_event_id() -> int | None:
    event = active_event()
    return event.id if event is not None else None


def _chart_block() -> str:
    """The opener's chart as its htmx block: kept until the next tap or event change (with
    placeholders: page_cache.personal fills them in)."""
    return page_cache.cached(
        ("opener_chart",),
        (SETUP, TALLIES),
        lambda: render_blocks(
            "visitor/opener.html", ["opener_chart"], choice=None, chart=_opener_chart()
        ),
    )


def _render_opener(chosen_key: str | None) -> Response:
    """The opener (or a reframe). The page is kept per setup with a placeholder where the
    chart goes, filled in from the chart's own cache; the htmx panel has no chart."""
    choice = current_content().choice(chosen_key) if chosen_key else None
    return render_shared(
        "visitor/opener.html",
        "opener_panel",
        key=chosen_key,
        depends=(SETUP,),
        context=lambda: {"choice": choice, "chart_slot": CHART_SLOT},
        parts={CHART_SLOT: _chart_block},
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
    tallies.record_tally(Tally.OPENER, key, request.form.get("idempotency_key"))
    page_cache.tap_answer(Tally.OPENER, key, {"choice": key})
    if is_htmx():
        # The reframe alone (under 2 KB); the chart refreshes itself on this event.
        response = _render_opener(key)
        response.headers["HX-Trigger"] = TALLIED
        return response
    return see_other(url_for("visitor.reframe", key=key))


@bp.get("/start")
def start() -> Response:
    """A new visitor: the opener in the event's own language (the idle reset comes here)."""
    return i18n.forget_choice(see_other(url_for("visitor.index")))


@bp.get("/opener/<key>")
def reframe(key: str) -> Response:
    """The reframe of one opener answer, as a page of its own (no JavaScript, reload)."""
    if current_content().choice(key) is None:
        abort(404)
    return _render_opener(key)


@bp.get("/opener/chart")
def opener_chart() -> Response:
    """The live chart of this event's opener answers, polled by the opener page."""
    if not wants_fragment():
        return _render_opener(None)  # the page it belongs to
    response = make_response(page_cache.personal(_chart_block()))
    response.vary.add("HX-Request")
    return response


def _render_faq(slug: str | None, view: str) -> Response:
    pack = current_content()
    entry = pack.faq_entry(slug) if slug else None
    if slug and entry is None:
        abort(404)
    return render_shared(
        "visitor/faq.html",
        "faq_entry",
        key=(slug, view),
        depends=(SETUP,),
        context=lambda: {"entry": entry, "open_slug": slug, "view": view},
        query={"view": None if view == "short" else view},
    )


@bp.get("/faq")
def faq() -> Response:
    """Every question of the guide, grouped; each opens in place."""
    return render_shared(
        "visitor/faq.html",
        "faq_list",
        key=None,
        depends=(SETUP,),
        context=lambda: {"entry": None, "open_slug": None, "view": "closed"},
    )


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
    sent = request.form.get("depth")
    depth = "more" if sent == "more" else "short"
    kind = Tally.FAQ_MORE if depth == "more" else Tally.FAQ_OPEN
    tallies.record_tally(kind, slug, request.form.get("idempotency_key"))
    # The answer is kept for the depths a tablet sends (none is the short one).
    page_cache.tap_answer(kind, slug, {"depth": sent if sent in FAQ_DEPTHS else None})
    if is_htmx():
        return _render_faq(slug, depth)
    target = url_for("visitor.faq_entry", slug=slug, view=depth, _anchor=f"faq_entry-{slug}")
    return see_other(target)


@bp.get("/involved")
def involved() -> Response:
    """The four ways to help and the links to follow, each with a QR code."""
    # Keyed by the day too: an event of the team's is shown until its day has passed.
    return render_shared(
        "visitor/involved.html",
        "involved_ways",
        key=clock.today(),
        depends=(SETUP,),
        context=lambda: {"our_team": team.team(), "links": team.links()},
    )


@bp.get("/learn")
def learn() -> Response:
    """The human-rights picture in a few cards, testimony, and a reading list."""
    return render("visitor/learn.html", "learn_cards")


@bp.get("/press")
def press_desk() -> Response:
    """For journalists: whom to contact for interviews, what to send, timelines, staff
    interviews, interview guidelines, and the team's own contact."""
    return render("visitor/press.html", "press_desk", team_contact=team.team_contact())


@bp.get("/qr/<key>.svg")
def qr(key: str) -> Response:
    """A QR code of a content-pack link (or the team page's in its place); any other key is
    a 404, never a URL from the request."""
    if key not in team.links():
        abort(404)
    # The code carries the active event's tracking source: kept per setup generation.
    svg = page_cache.cached(("qr", key), (SETUP,), lambda: qr_svg(link_href(key)).decode())
    response = Response(page_cache.personal(svg), mimetype="image/svg+xml")
    # The tracking source changes with the active event: revalidate, don't trust an old copy.
    response.headers["Cache-Control"] = "no-cache"
    response.add_etag()
    response.make_conditional(request)  # in place: a 304 when the browser's copy is current
    return response


def _untyped_context() -> dict[str, Any]:
    """What a form's blocks need that is the same for every visitor: nothing typed, no
    message, how long a thank-you stays."""
    return {
        "form": ImmutableMultiDict(),
        "errors": {},
        "return_after": current_app.config["KIOSK_THANKS_SECONDS"],
    }


def _form_context(errors: dict[str, str] | None = None) -> dict[str, Any]:
    """What a form block needs: typed values kept on error, messages, its idempotency key."""
    form = request.form if errors else ImmutableMultiDict()
    return _untyped_context() | {
        "form": form,
        "errors": errors or {},
        "form_key": form.get("idempotency_key") or new_form_key(),
    }


def _submit(
    template: str,
    name: str,
    save: Callable[[], Any],
    thanks_url: Callable[[Any], str],
    context: Callable[[Any], dict[str, Any]] = lambda _record: {},
    shared_thanks: bool = False,
) -> Response:
    """Run `save`; answer 422 with the form block, the thank-you block, or a 303 to it.

    `context(record)` adds what the page shows besides the form (None while it is a form).
    `shared_thanks`: the thank-you block shows nothing of the record, so it is kept.
    """
    try:
        record = save()
    except InvalidInput as error:
        extra = _form_context(error.errors) | context(None)
        return render(template, f"{name}_form", status=422, **extra)
    if shared_thanks and wants_fragment():
        return _shared_thanks(template, f"{name}_thanks")
    if is_htmx():
        extra = _form_context() | context(record)
        return render(template, f"{name}_thanks", thanks=True, **extra)
    return see_other(thanks_url(record))


def _shared_thanks(template: str, block: str) -> Response:
    """A thank-you block that is the same for every visitor (nothing they typed, no key or
    token in it), rendered once per language, address prefix and setup generation
    (page_cache.remembered) instead of after every record."""
    context = _untyped_context() | {"thanks": True}
    body = page_cache.remembered(
        f"{template} {block} {get_locale()} {request.script_root}",
        (SETUP,),
        lambda: render_blocks(template, [block], **context),
    )
    response = make_response(body)
    response.vary.add("HX-Request")
    return response


def _consented() -> bool:
    return request.form.get("consent") == "y"


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Response:
    """Join the mailing list: first name and email, interests, explicit consent."""
    if request.method == "GET":
        context = _form_context()
        # "Join the team" on Get involved opens the form with its interest chosen.
        asked = interest_asked(request.args.get("interest"))
        if asked:
            context["form"] = ImmutableMultiDict([("interests", asked)])
        return render("visitor/signup.html", "signup_form", **context)
    form = request.form
    return _submit(
        "visitor/signup.html",
        "signup",
        lambda: record_signup(**form_fields(form)),
        lambda _record: url_for("visitor.signup_thanks"),
        shared_thanks=True,
    )


@bp.post("/signup/email")
@reads_only
def email_hint() -> Response:
    """A suggestion for a likely typo in the email's domain; it never refuses the address."""
    block, context = email_typos.hint_context(request.form, url_for("visitor.email_hint"))
    return render("_email_field.html", block, errors={}, **context)


@bp.get("/signup/thanks")
def signup_thanks() -> Response:
    """Thank-you after a sign-up; returns to the opener by itself."""
    return render("visitor/signup.html", "signup_thanks", thanks=True, **_form_context())


def _pledge_context(kind: str | None, amount_cents: int | None) -> dict[str, Any]:
    """Presets and progress for the form; after a pledge, its QR link and a longer stay."""
    event = event_to_show()
    context = {
        "presets": pledges.presets(event),
        "tshirt_monthly": pledges.TSHIRT_MONTHLY_DOLLARS,
        "progress": pledges.progress(event),
        "pledged_kind": kind,
        "pledged_cents": amount_cents,
        "donate_link": "monthly" if kind == Pledge.MONTHLY else "donate",
    }
    if kind is not None:
        context["return_after"] = current_app.config["KIOSK_PLEDGE_THANKS_SECONDS"]
    return context


def _pledged(record: Pledge | None) -> dict[str, Any]:
    return (
        _pledge_context(record.kind, record.amount_cents) if record else _pledge_context(None, None)
    )


@bp.route("/pledge", methods=["GET", "POST"])
def pledge() -> Response:
    """Pledge an amount, once or monthly; finish it on your own phone with a QR code."""
    if request.method == "GET":
        return render("visitor/pledge.html", "pledge_form", **_form_context(), **_pledged(None))
    form = request.form
    return _submit(
        "visitor/pledge.html",
        "pledge",
        lambda: pledges.record_pledge(
            kind=form.get("kind"),
            amount=form.get("amount"),
            amount_other=form.get("amount_other"),
            name=form.get("name"),
            email=form.get("email"),
            consent=_consented(),
            idempotency_key=form.get("idempotency_key"),
        ),
        lambda record: url_for(
            "visitor.pledge_thanks", kind=record.kind, cents=record.amount_cents
        ),
        _pledged,
    )


@bp.get("/pledge/thanks")
def pledge_thanks() -> Response:
    """The QR code to finish the pledge on a phone, and the event's progress."""
    kind = request.args.get("kind")
    try:
        cents = parse_whole(request.args.get("cents"), 1, pledges.MAXIMUM_DOLLARS * 100)
    except NotANumber:
        cents = None  # an address typed by hand: show the QR code without an amount
    context = _form_context() | _pledge_context(
        kind if kind in pledges.KINDS else Pledge.ONCE, cents
    )
    return render("visitor/pledge.html", "pledge_thanks", thanks=True, **context)


@bp.route("/ask", methods=["GET", "POST"])
def ask() -> Response:
    """Leave a question for the team, optionally with an email for the reply."""
    if request.method == "GET":
        return render("visitor/ask.html", "ask_form", **_form_context())
    form = request.form
    return _submit(
        "visitor/ask.html",
        "ask",
        lambda: record_question(
            question=form.get("question"),
            email=form.get("email"),
            consent=_consented(),
            idempotency_key=form.get("idempotency_key"),
        ),
        lambda _record: url_for("visitor.ask_thanks"),
    )


@bp.route("/press/request", methods=["GET", "POST"])
def press_request() -> Response:
    """A journalist's request to the team, sent with their agreement to the guidelines."""
    if request.method == "GET":
        return render(
            "visitor/press_request.html",
            "press_form",
            team_contact=team.team_contact(),
            **_form_context(),
        )
    form = request.form
    return _submit(
        "visitor/press_request.html",
        "press",
        lambda: press.record_press_request(**press.form_fields(form)),  # type: ignore[arg-type]  # form_fields names each keyword
        lambda _record: url_for("visitor.press_thanks"),
        lambda _record: {"team_contact": team.team_contact()},
    )


@bp.get("/press/thanks")
def press_thanks() -> Response:
    """Thank-you after a press request; returns to the opener by itself."""
    return render(
        "visitor/press_request.html",
        "press_thanks",
        thanks=True,
        team_contact=team.team_contact(),
        **_form_context(),
    )


@bp.get("/ask/thanks")
def ask_thanks() -> Response:
    """Thank-you after a question; returns to the opener by itself."""
    return render("visitor/ask.html", "ask_thanks", thanks=True, **_form_context())
