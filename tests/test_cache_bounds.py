"""What a client sends never grows what a process keeps (issue 20.1): the page cache
(kiosk/page_cache.py) keeps a screen under the parameters its view reads, bounded in bytes;
the fast path (kiosk/fast_path.py) keeps only Flask's answers and cookies it verified.

SQLite only: what is kept is decided in the process, not by SQL. The served kiosk under
hostile load is tests/test_serve_memory.py.
"""

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kiosk import page_cache
from kiosk.bounded import ByteBudget, weight
from kiosk.content import current_content
from kiosk.fast_path import FastPath, fast_path_of
from tests.helpers import HX

# Under the fast path's limits (a target of 8 KB, a cookie of 4 KB): what the kiosk reads.
LONG = "B" * 3_000


def kept_by_page_cache(app: Flask) -> int:
    """The bytes of every screen and value the page cache holds, however it holds them."""
    return sum(weight(group.pages) for group in app.extensions["kiosk_page_cache"].values())


def fast(app: Flask) -> FastPath:
    layer = fast_path_of(app)
    assert layer is not None
    return layer


def kept_by_fast_path(app: Flask) -> int:
    layer = fast(app)
    return weight(layer.recipes) + weight(layer.sessions) + weight(layer.signed)


def slug_of(app: Flask) -> str:
    with app.app_context():
        return current_content().faq_entries[0].slug


@pytest.fixture
def visitor(client: FlaskClient) -> FlaskClient:
    client.get("/")
    return client


def switch_target(html: str) -> str:
    match = re.search(r'href="/language/ko\?next=([^"]*)"', html)
    assert match, "the page has the language switch"
    return match.group(1)


# ---- The page cache: one screen per parameters read ---------------------------------------


def test_made_up_parameters_share_the_screen_and_are_never_echoed(app, visitor):
    slug = slug_of(app)
    for path in ("/faq", "/", f"/faq/{slug}?view=more", "/involved"):
        visitor.get(path)
        visitor.get(path, headers=HX)
    before = kept_by_page_cache(app)
    for number in range(30):
        for path in ("/faq?", "/?", f"/faq/{slug}?view=more&", "/involved?"):
            page = visitor.get(f"{path}q{number:06}={LONG}").get_data(as_text=True)
            assert LONG not in page
            visitor.get(f"{path}q{number:06}={LONG}", headers=HX)
    assert kept_by_page_cache(app) == before


def test_a_screen_echoes_the_address_it_is_kept_under(app, client):
    slug = slug_of(app)
    page = client.get(f"/faq/{slug}?junk=1&view=more&view=short").get_data(as_text=True)
    assert switch_target(page) == f"/faq/{slug}?view%3Dmore"
    # The view's default and values it does not read are the one plain screen.
    for query in ("", "?view=short", "?view=made-up", f"?view={LONG}", "?other=1"):
        assert switch_target(client.get(f"/faq/{slug}{query}").get_data(as_text=True)) == (
            f"/faq/{slug}"
        )
    assert switch_target(client.get("/faq?q=1").get_data(as_text=True)) == "/faq"


def test_a_page_not_kept_echoes_a_bounded_address(client):
    assert switch_target(client.get("/signup?interest=x").get_data(as_text=True)) == (
        "/signup?interest%3Dx"
    )
    page = client.get(f"/signup?q={LONG}").get_data(as_text=True)
    assert LONG not in page and switch_target(page) == "/signup"


def test_the_page_cache_keeps_no_more_bytes_than_its_budget(app, client, monkeypatch):
    monkeypatch.setattr(page_cache, "PAGE_BYTES", 300_000)
    with app.app_context():
        slugs = [entry.slug for entry in current_content().faq_entries]
    for slug in slugs:
        for view in ("closed", "short", "more"):
            for headers in ({}, HX):
                assert client.get(f"/faq/{slug}?view={view}", headers=headers).status_code == 200
    # Every screen asked for is about 3 MB; the budget holds the latest of them.
    assert kept_by_page_cache(app) <= 300_000 * 1.1
    assert client.get(f"/faq/{slugs[0]}").status_code == 200  # let go, rendered again


# ---- The fast path: verified cookies, canonical keys, bytes --------------------------------


def test_the_fast_path_keeps_no_more_bytes_than_its_budget(app, visitor):
    fast(app).recipes = ByteBudget(200_000)
    with app.app_context():
        slugs = [entry.slug for entry in current_content().faq_entries]
    for slug in slugs:
        for view in ("closed", "short", "more"):
            visitor.get(f"/faq/{slug}?view={view}", headers=HX)
            visitor.get(f"/faq/{slug}?view={view}")
    assert 0 < fast(app).recipes.used <= 200_000
    assert len(fast(app).recipes) < 6 * len(slugs)  # the oldest were let go


def test_junk_session_cookies_are_never_kept(app, visitor):
    assert visitor.get("/faq").status_code == 200
    before = kept_by_fast_path(app)
    hits = fast(app).hits
    junk = app.test_client(use_cookies=False)
    name = app.config["SESSION_COOKIE_NAME"]
    for number in range(40):
        response = junk.get("/faq", headers={"Cookie": f"{name}={number}.{LONG}"})
        assert response.status_code == 200
    assert fast(app).hits == hits  # Flask answered each, with a new session
    assert kept_by_fast_path(app) == before


def test_a_verified_session_is_kept(app, visitor):
    visitor.get("/faq")
    cookie = visitor.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None and cookie.value in fast(app).sessions


def test_htmx_header_values_and_made_up_parameters_share_one_recipe(app, visitor):
    slug = slug_of(app)
    for path in ("/faq", f"/faq/{slug}?view=more"):
        visitor.get(path)
        visitor.get(path, headers=HX)
    recipes = len(fast(app).recipes)
    before = kept_by_fast_path(app)
    for number in range(30):
        visitor.get(f"/faq?z{number}={LONG}", headers={"HX-Request": f"no{number}{LONG}"})
        visitor.get(f"/faq/{slug}?view=more&z{number}={LONG}", headers=HX)
        visitor.get(f"/faq/{slug}?view={LONG}{number}", headers=HX)  # Flask's, not kept
    assert len(fast(app).recipes) == recipes
    assert kept_by_fast_path(app) <= before + 2_000  # at most the signed token, once


def test_an_odd_value_goes_to_flask_and_is_answered_as_flask_would(app, visitor):
    slug = slug_of(app)
    plain = visitor.get(f"/faq/{slug}", headers=HX).get_data(as_text=True)
    visitor.get(f"/faq/{slug}?view=made-up", headers=HX)
    hits = fast(app).hits
    odd = visitor.get(f"/faq/{slug}?view=made-up", headers=HX).get_data(as_text=True)
    assert fast(app).hits == hits
    masked = re.compile(r'name="idempotency_key" value="[0-9a-f]{32}"')
    assert masked.sub("", odd) == masked.sub("", plain)


def test_targets_and_cookies_no_page_makes_are_refused_unread(app, visitor):
    visitor.get("/faq")
    before = kept_by_page_cache(app), kept_by_fast_path(app)
    response = visitor.get(f"/faq?q={'B' * 9_000}")
    assert response.status_code == 414
    page = response.get_data(as_text=True)
    assert "too long" in page and "B" * 100 not in page
    assert "Content-Security-Policy" in response.headers
    assert visitor.get(f"/{'C' * 9_000}", headers=HX).status_code == 414
    assert visitor.post(f"/signup?q={'B' * 9_000}").status_code == 414
    junk = app.test_client(use_cookies=False)
    response = junk.get("/faq", headers={"Cookie": f"session={'B' * 20_000}"})
    assert response.status_code == 431 and "too long" in response.get_data(as_text=True)
    assert (kept_by_page_cache(app), kept_by_fast_path(app)) == before
    assert visitor.get("/faq").status_code == 200
