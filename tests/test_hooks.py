"""The fast path's declared contract (kiosk/hooks.py): every request hook and every response
header is declared "same for every visitor" or "per request", and the fast path honours it.

The walks fail when a hook or a header exists without a declaration; each is shown to fail by
adding an undeclared one here. SQLite only: no SQL decides these outcomes.
"""

import uuid

import pytest
from flask import Flask, Response, request

from kiosk import hooks
from kiosk.fast_path import fast_path_of
from tests.helpers import HX, routes, screen_requests
from tests.lead_helpers import log_in, set_passphrase


def hits(app: Flask) -> int:
    layer = fast_path_of(app)
    assert layer is not None
    return layer.hits


def new_visitor(app: Flask):
    """A visitor whose session has its CSRF token (the first page gave it)."""
    client = app.test_client()
    client.get("/")
    return client


def asked(client, times: int = 3, path: str = "/faq") -> list[Response]:
    return [client.get(path) for _ in range(times)]


def names_of(response: Response) -> set[str]:
    names = set(response.headers.keys())
    response.close()  # a static file's answer holds the file open until then
    return names


def headers_of_real_answers(app: Flask) -> set[str]:
    """The names of the headers the app sends: every GET route as a page and as htmx, each
    POST route empty-handed, the kept screens, a 404, a 405, a static file, a lead's pages."""
    names: set[str] = set()
    visitor = new_visitor(app)
    for _endpoint, url in routes(app, "GET"):
        for headers in ({}, HX):
            names |= names_of(visitor.get(url, headers=headers))
    for _endpoint, url in routes(app, "POST"):
        for headers in ({}, HX):
            names |= names_of(visitor.post(url, headers=headers))
    for _endpoint, method, path, headers, form in screen_requests(app):
        names |= names_of(visitor.open(path, method=method, headers=headers, data=form))
    for path, headers in [
        ("/no-such-page", {}),
        ("/no-such-page", HX),
        ("/static/css/kiosk.css", {}),
        ("/static/css/kiosk.css", {"Range": "bytes=0-9"}),
    ]:
        names |= names_of(visitor.get(path, headers=headers))
    names |= names_of(visitor.put("/faq"))
    set_passphrase(app)
    lead = app.test_client()
    log_in(lead)
    for endpoint, url in routes(app, "GET"):
        if endpoint.startswith("lead."):
            names |= names_of(lead.get(url))
    return names


# ---- hooks ---------------------------------------------------------------------------------


def test_every_hook_of_the_app_is_declared(app):
    assert hooks.undeclared_hooks(app) == []
    # Context processors feed shared renders (page_cache): one per request would be frozen.
    for processors in app.template_context_processors.values():
        for processor in processors:
            assert hooks.declaration(app, processor).kind == hooks.FOR_EVERYONE, processor


def test_a_hook_added_without_a_declaration_fails_the_walk(app):
    def undeclared_before() -> None:
        return None

    def undeclared_after(response: Response) -> Response:
        return response

    def undeclared_teardown(_error: BaseException | None) -> None:
        return None

    def undeclared_context() -> dict[str, object]:
        return {}

    app.before_request(undeclared_before)
    app.after_request(undeclared_after)
    app.teardown_request(undeclared_teardown)
    app.teardown_appcontext(undeclared_teardown)
    app.context_processor(undeclared_context)
    found = hooks.undeclared_hooks(app)
    for name in ("before", "after", "teardown", "context"):
        assert any(f"undeclared_{name}" in hook for hook in found), (name, found)
    assert len(found) == 5
    # Until it is declared, the fast path stays out of every screen it runs for.
    visitor = new_visitor(app)
    before = hits(app)
    assert [r.status_code for r in asked(visitor)] == [200, 200, 200]
    assert hits(app) == before


def test_a_refusing_hook_declared_per_request_refuses_on_the_fast_path_too(app):
    """A maintenance switch: Flask answers 503 while it is on, and so does every request the
    fast path would have answered (its stand-in sends them to Flask)."""
    switch = {"on": False}

    @app.before_request
    @hooks.per_request("a maintenance switch", fast=lambda _environ: not switch["on"])
    def maintenance() -> Response | None:
        return Response("Back soon", 503) if switch["on"] else None

    visitor = new_visitor(app)
    before = hits(app)
    assert [r.status_code for r in asked(visitor)] == [200, 200, 200]
    assert hits(app) == before + 2  # the first taught it
    switch["on"] = True
    assert [r.status_code for r in asked(visitor)] == [503, 503, 503]
    assert hits(app) == before + 2
    switch["on"] = False
    assert [r.status_code for r in asked(visitor)] == [200, 200, 200]
    assert hits(app) == before + 5


def test_a_hook_declared_per_request_without_a_stand_in_keeps_the_fast_path_away(app):
    switch = {"on": False}

    @app.before_request
    @hooks.per_request("a maintenance switch the fast path cannot check")
    def maintenance() -> Response | None:
        return Response("Back soon", 503) if switch["on"] else None

    visitor = new_visitor(app)
    before = hits(app)
    assert [r.status_code for r in asked(visitor)] == [200, 200, 200]
    switch["on"] = True
    assert [r.status_code for r in asked(visitor)] == [503, 503, 503]
    assert hits(app) == before


# ---- headers -------------------------------------------------------------------------------


def test_every_header_the_app_sends_is_declared(app):
    names = headers_of_real_answers(app)
    assert {"Content-Security-Policy", "Content-Language", "HX-Trigger", "ETag"} <= names
    assert hooks.undeclared_headers(names) == []


def test_a_header_added_without_a_declaration_fails_the_walk(app):
    @app.after_request
    @hooks.for_everyone("adds a header nobody declared")
    def undeclared_header(response: Response) -> Response:
        response.headers["X-Undeclared"] = "1"
        return response

    assert hooks.undeclared_headers(headers_of_real_answers(app)) == ["X-Undeclared"]
    # Until it is declared, no answer carrying it is sent again.
    visitor = new_visitor(app)
    before = hits(app)
    asked(visitor)
    assert hits(app) == before


@pytest.fixture
def request_id(app, monkeypatch):
    """An after_request hook that gives every answer its own X-Request-Id (monkeypatch
    takes the header's declaration away again after the test)."""
    monkeypatch.setattr(hooks, "HEADERS", dict(hooks.HEADERS))

    @app.after_request
    @hooks.per_request("a fresh id per answer: its header is declared per request")
    def add_request_id(response: Response) -> Response:
        response.headers["X-Request-Id"] = request.environ.get("kiosk.id") or uuid.uuid4().hex
        return response

    return add_request_id


def test_a_per_request_header_is_made_afresh_for_each_fast_answer(app, request_id):
    request_id.kiosk_hook = hooks.Hook(
        hooks.PER_REQUEST, "a fresh id per answer", fast=lambda _environ: True
    )
    hooks.header(
        "X-Request-Id",
        hooks.PER_REQUEST,
        "one per answer",
        value=lambda _environ, _body: uuid.uuid4().hex,
    )
    visitor = new_visitor(app)
    before = hits(app)
    ids = [r.headers["X-Request-Id"] for r in asked(visitor)]
    assert hits(app) == before + 2
    assert len(set(ids)) == 3, ids


def test_a_per_request_header_that_cannot_be_made_keeps_its_answers_with_flask(app, request_id):
    request_id.kiosk_hook = hooks.Hook(
        hooks.PER_REQUEST, "a fresh id per answer", fast=lambda _environ: True
    )
    hooks.header("X-Request-Id", hooks.PER_REQUEST, "one per answer, made by Flask only")
    visitor = new_visitor(app)
    before = hits(app)
    ids = [r.headers["X-Request-Id"] for r in asked(visitor)]
    assert hits(app) == before
    assert len(set(ids)) == 3, ids


def test_a_header_is_declared_one_way_only():
    with pytest.raises(ValueError, match="declared twice"):
        hooks.header("Content-Length", hooks.FOR_EVERYONE, "a second, different declaration")
    with pytest.raises(ValueError):
        hooks.header("X-Something", "sometimes", "neither kind")
