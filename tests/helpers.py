"""Small helpers shared by the test modules."""

HX = {"HX-Request": "true"}
# The fewest answers a journalist's press request is stored with.
PRESS_REQUEST = {
    "name": "Jo",
    "outlet": "Example News",
    "website": "news.example.com",
    "commissioned": "no",
    "topics": "Resettlement",
    "email": "jo@news.example.com",
    "agree": "y",
}


def assert_fragment(response) -> str:
    """An htmx answer: no page shell, and caches told that HX-Request changes it."""
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert "HX-Request" in response.headers.get("Vary", "")
    return html


def assert_full_page(response) -> str:
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith("<!doctype html>")
    assert "<html" in html
    assert "HX-Request" in response.headers.get("Vary", "")
    return html


# Arguments for routes with URL variables, by endpoint. A new route with variables fails
# `routes()` loudly until it gets an entry here, so no route escapes the route-wide tests.
SAMPLE_ARGS: dict[str, dict[str, str]] = {
    "visitor.reframe": {"key": "people"},
    "visitor.faq_entry": {"slug": "what-we-do"},
    "visitor.faq_open": {"slug": "what-we-do"},
    "visitor.qr": {"key": "donate"},
    "i18n.switch": {"code": "ko"},
    "static": {"filename": "css/kiosk.css"},
    "lead.activate_event": {"event_id": "1"},
    "lead.close_event": {"event_id": "1"},
    "lead.edit_event": {"event_id": "1"},
    "lead.erase_event": {"event_id": "1"},
    "lead.summary": {"event_id": "1"},
    "lead.answered": {"question_id": "1"},
    "lead.press_handled": {"request_id": "1"},
    "lead.revoke_device": {"device_id": "1"},
    "lead.setup": {"token": "not-a-setup-token"},
    "lead.join_file": {"event_id": "1"},
    "lead.record": {"kind": "signup", "record_id": "1"},
    "lead.erase_record": {"kind": "signup", "record_id": "1"},
    "lead.hub_revoke_table": {"table_id": "1"},
}


def routes(app, method: str) -> list[tuple[str, str]]:
    """(endpoint, url) of every route answering `method`, from the app's own URL map."""
    from flask import url_for

    found = []
    with app.test_request_context():
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if method not in rule.methods or rule.endpoint == "static":
                continue
            missing = set(rule.arguments) - set(SAMPLE_ARGS.get(rule.endpoint, {}))
            assert not missing, f"add sample {missing} for {rule.endpoint} to SAMPLE_ARGS"
            found.append(
                (rule.endpoint, url_for(rule.endpoint, **SAMPLE_ARGS.get(rule.endpoint, {})))
            )
    return found


# A logged-in lead's requests note when the session was last used (its idle timeout):
# bookkeeping of the login itself, not data a GET may change.
SESSION_BOOKKEEPING = {("lead_session", "last_seen_at")}


def database_snapshot(app) -> dict[str, list[tuple]]:
    """Every row of every table: equal snapshots mean nothing was stored or changed."""
    from sqlalchemy import select

    from kiosk.extensions import db

    def columns(table):
        return [c for c in table.columns if (table.name, c.name) not in SESSION_BOOKKEEPING]

    with app.app_context():
        return {
            table.name: sorted(
                (tuple(row) for row in db.session.execute(select(*columns(table)))), key=repr
            )
            for table in db.metadata.sorted_tables
        }


def csrf_token_of(html: str) -> str:
    """The CSRF token a page rendered into its forms."""
    import re

    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page renders a CSRF token"
    return match.group(1)


def assert_calm_503_without_generations(app, client) -> None:
    """Drop the page generations' table under the running kiosk: the next FAQ page is the
    calm database-failure page (503), never a 500, whoever would have answered it."""
    from sqlalchemy import text

    from kiosk import change_signal
    from kiosk.extensions import db

    # The generations read from the database on every answer (PostgreSQL's listener would
    # keep them in memory and read nothing: kiosk/change_signal.py).
    change_signal.signal_of(app).stop()
    with app.app_context():
        db.session.execute(text("DROP TABLE generation"))
        db.session.commit()
    response = client.get("/faq")
    assert response.status_code == 503
    assert "Please tell a volunteer" in response.get_data(as_text=True)


def screen_requests(app) -> list[tuple[str, str, str, dict[str, str], dict[str, str]]]:
    """(endpoint, method, path, headers, form) of a request to each kept screen of
    page_cache.SCREENS, as a page and as the htmx fragment a tablet asks for."""
    from kiosk.content import current_content

    with app.app_context():
        pack = current_content()
        choice, slug = pack.choices[0].key, pack.faq_entries[0].slug
        link = next(iter(pack.links))
    return [
        ("visitor.index", "GET", "/", {}, {}),
        ("visitor.index", "GET", "/", HX, {}),
        ("visitor.reframe", "GET", f"/opener/{choice}", {}, {}),
        ("visitor.reframe", "GET", f"/opener/{choice}", HX, {}),
        ("visitor.answer", "POST", "/opener", HX, {"choice": choice}),
        ("visitor.opener_chart", "GET", "/opener/chart", HX, {}),
        ("visitor.faq", "GET", "/faq", {}, {}),
        ("visitor.faq", "GET", "/faq", HX, {}),
        ("visitor.faq_entry", "GET", f"/faq/{slug}", HX, {}),
        ("visitor.faq_entry", "GET", f"/faq/{slug}?view=more", {}, {}),
        ("visitor.faq_open", "POST", f"/faq/{slug}", HX, {"depth": "more"}),
        ("visitor.involved", "GET", "/involved", {}, {}),
        ("visitor.involved", "GET", "/involved", HX, {}),
        ("visitor.qr", "GET", f"/qr/{link}.svg", {}, {}),
    ]


def settled(*apps) -> None:
    """Each app (a hub's server process) has heard of every change committed so far: on
    PostgreSQL its listener is connected and has seen a marker sent after them
    (kiosk/change_signal.py); SQLite reads the generations on every answer."""
    from kiosk import change_signal

    for app in apps:
        assert change_signal.signal_of(app).caught_up(), "the change signal listens"
