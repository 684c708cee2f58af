"""The fast path (kiosk/fast_path.py): kept visitor screens answered in front of Flask.

It may only ever repeat what Flask answered, to a request Flask would have answered the
same way, while what the screen shows stands. Each test names one of those promises; the
fast path's own count of its answers (`hits`) says which requests it answered. Both engines.
"""

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kiosk import hooks, page_cache
from kiosk.content import current_content
from kiosk.fast_path import FastPath, fast_path_of
from kiosk.i18n import LANG_COOKIE
from kiosk.volunteer import UNLOCK_COOKIE
from tests.helpers import HX, assert_calm_503_without_generations, settled

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines

TAP_KEY = re.compile(r'name="idempotency_key" value="([0-9a-f]{32})"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def fast(app: Flask) -> FastPath:
    layer = fast_path_of(app)
    assert layer is not None, "the app has a fast path"
    return layer


def screens(app: Flask) -> list[tuple[str, dict[str, str]]]:
    """Every kept visitor screen, as a page and as the htmx fragment a tablet asks for."""
    with app.app_context():
        pack = current_content()
        choice, slug = pack.choices[0].key, pack.faq_entries[0].slug
        link = next(iter(pack.links))
    return [
        ("/", {}),
        (f"/opener/{choice}", {}),
        (f"/opener/{choice}", HX),
        ("/opener/chart", HX),
        ("/faq", {}),
        ("/faq", HX),
        (f"/faq/{slug}", HX),
        (f"/faq/{slug}?view=more", HX),
        ("/involved", {}),
        ("/involved", HX),
        (f"/qr/{link}.svg", {}),
    ]


def same_headers(response) -> list[tuple[str, str]]:
    """The response's headers, a per-request one's value masked."""
    return [
        (name, "PER REQUEST" if hooks.header_declaration(name).kind == hooks.PER_REQUEST else value)
        for name, value in response.headers.to_wsgi_list()
    ]


def masked(body: str) -> str:
    return TAP_KEY.sub('name="idempotency_key" value="KEY"', body)


@pytest.fixture
def visitor(client: FlaskClient) -> FlaskClient:
    """A visitor whose session has its CSRF token (the first page gave it)."""
    client.get("/")
    return client


@pytest.mark.parametrize("language", [None, "ko"])
def test_the_fast_answer_is_flasks_answer(app, visitor, language):
    if language:
        visitor.set_cookie(LANG_COOKIE, language)
    for path, headers in screens(app):
        by_flask = visitor.get(path, headers=headers)
        hits = fast(app).hits
        by_fast_path = visitor.get(path, headers=headers)
        assert fast(app).hits == hits + 1, f"{path} {headers} came from the fast path"
        assert by_fast_path.status == by_flask.status == "200 OK"
        # The same headers in the same order; the per-request ones (a QR code's Date) made
        # afresh (kiosk/hooks.py), so compared by name.
        assert same_headers(by_fast_path) == same_headers(by_flask), path
        assert masked(by_fast_path.get_data(as_text=True)) == masked(
            by_flask.get_data(as_text=True)
        )
        if language:
            assert by_fast_path.headers["Content-Language"] == language


def test_each_fast_answer_has_a_fresh_tap_key_and_the_sessions_token(app, visitor):
    bodies = [visitor.get("/").get_data(as_text=True) for _ in range(3)]
    keys = [TAP_KEY.findall(body) for body in bodies]
    assert all(keys) and len({key for page in keys for key in page}) == len(keys)
    assert len({CSRF.search(body).group(1) for body in bodies}) == 1
    assert page_cache.CSRF_SLOT not in bodies[-1] and page_cache.TAP_KEY_SLOT not in bodies[-1]


def test_each_visitor_gets_their_own_token_and_it_is_accepted(app):
    app.config["WTF_CSRF_ENABLED"] = True
    first, other = app.test_client(), app.test_client()
    for client in (first, other, first, other):  # the second round from the fast path
        client.get("/")
    hits = fast(app).hits
    mine = CSRF.search(first.get("/").get_data(as_text=True)).group(1)
    theirs = CSRF.search(other.get("/").get_data(as_text=True)).group(1)
    assert fast(app).hits == hits + 2
    assert mine != theirs
    form = {"choice": "people", "csrf_token": mine}
    assert other.post("/opener", data=form, headers=HX).status_code == 400
    assert first.post("/opener", data=form, headers=HX).status_code == 200
    form["csrf_token"] = theirs
    assert other.post("/opener", data=form, headers=HX).status_code == 200


def asked_twice(client: FlaskClient, app: Flask, path: str = "/faq", **kwargs) -> int:
    """How many of two identical requests the fast path answered."""
    hits = fast(app).hits
    client.get(path, **kwargs)
    client.get(path, **kwargs)
    return fast(app).hits - hits


def test_requests_flask_would_answer_otherwise_go_to_flask(app, visitor):
    assert asked_twice(visitor, app) == 1  # the first teaches it, the second is fast
    assert asked_twice(visitor, app, headers={"If-None-Match": '"x"'}) == 0
    assert asked_twice(visitor, app, headers={"Range": "bytes=0-10"}) == 0
    # No session yet: Flask makes one and sets its cookie, each time.
    assert asked_twice(app.test_client(use_cookies=False), app) == 0
    visitor.set_cookie("someone_elses", "1")
    assert asked_twice(visitor, app) == 0
    visitor.delete_cookie("someone_elses")
    hits = fast(app).hits
    assert visitor.head("/faq").status_code == 200
    assert visitor.post("/faq").status_code in (400, 405)
    assert fast(app).hits == hits


def test_a_session_holding_more_than_its_token_goes_to_flask(app, visitor):
    assert asked_twice(visitor, app) == 1
    with visitor.session_transaction() as session:
        session["_flashes"] = [("message", "for this visitor only")]
    assert asked_twice(visitor, app) == 0


def test_a_forged_session_cookie_gets_a_new_session_from_flask(app, visitor):
    assert asked_twice(visitor, app) == 1
    visitor.set_cookie(app.config["SESSION_COOKIE_NAME"], "forged.cookie.value")
    hits = fast(app).hits
    response = visitor.get("/faq")
    assert fast(app).hits == hits
    assert "session=" in response.headers.get("Set-Cookie", "")


def test_a_volunteers_unlock_still_ends_on_a_visitor_screen(app, visitor):
    """Flask's hook that locks the tablet again must see the request (issue 9)."""
    assert asked_twice(visitor, app) == 1
    visitor.set_cookie(UNLOCK_COOKIE, "some-unlock")
    hits = fast(app).hits
    response = visitor.get("/faq")
    assert fast(app).hits == hits
    assert f"{UNLOCK_COOKIE}=;" in response.headers.get("Set-Cookie", "")


def famine_count(client: FlaskClient) -> int:
    html = client.get("/opener/chart", headers=HX).get_data(as_text=True)
    match = re.search(r">Famine</span>.*?bar-count\">(\d+)<", html, re.S)
    assert match
    return int(match.group(1))


def test_a_write_in_another_process_ends_the_kept_answer(app, second, visitor):
    there = second.test_client()
    assert famine_count(visitor) == 0
    hits = fast(app).hits
    assert famine_count(visitor) == 0
    assert fast(app).hits == hits + 1
    assert there.post("/opener", data={"choice": "famine"}, headers=HX).status_code == 200
    settled(app)  # PostgreSQL: its notification arrived (kiosk/change_signal.py)
    assert famine_count(visitor) == 1  # Flask again: the counters moved
    assert famine_count(visitor) == 1
    assert fast(app).hits == hits + 2


def test_a_database_failure_under_a_kept_answer_is_the_calm_503(app, visitor):
    assert asked_twice(visitor, app) == 1
    assert_calm_503_without_generations(app, visitor)


def test_made_up_query_strings_never_grow_what_it_keeps(app, visitor):
    visitor.get("/faq")
    kept, used = len(fast(app).recipes), fast(app).recipes.used
    hits = fast(app).hits
    for number in range(50):
        visitor.get(f"/faq?made-up-{number}={'B' * 5_000}")
    # One recipe for /faq, whatever else the request sent: each of them answered from it.
    assert (len(fast(app).recipes), fast(app).recipes.used) == (kept, used)
    assert fast(app).hits == hits + 50
    assert asked_twice(visitor, app) == 2
