"""Every response carries the strict headers, and htmx is configured to need nothing more."""

import html
import json
import re

import pytest

from kiosk.security import VISIT_COOKIE
from tests.helpers import HX, PRESS_REQUEST, routes
from tests.lead_helpers import log_in, set_passphrase

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def assert_strict_headers(response, where: str) -> None:
    headers = response.headers
    assert headers.get("Content-Security-Policy") == STRICT_CSP, where
    assert "unsafe" not in headers["Content-Security-Policy"], where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "no-referrer", where
    policy = headers.get("Permissions-Policy", "")
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in policy, where


def test_every_page_and_fragment_carries_the_strict_headers(app, client):
    for endpoint, url in routes(app, "GET"):
        for headers in ({}, HX):
            assert_strict_headers(client.get(url, headers=headers), f"GET {url}")


def test_error_answers_and_posts_carry_the_strict_headers_too(client):
    assert_strict_headers(client.get("/no-such-page"), "404")
    assert_strict_headers(client.post("/opener", data={"choice": "nonsense"}), "400")
    assert_strict_headers(client.post("/opener", data={"choice": "people"}), "303")
    with client.get("/static/css/kiosk.css") as static:
        assert_strict_headers(static, "static")


def htmx_config(page: str) -> dict:
    match = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page)
    assert match, "the page configures htmx in a meta tag"
    return json.loads(html.unescape(match.group(1)))


def test_htmx_is_configured_for_the_strict_policy(client):
    config = htmx_config(client.get("/").get_data(as_text=True))
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["includeIndicatorStyles"] is False
    assert config["historyCacheSize"] == 0
    assert config["selfRequestsOnly"] is True


def test_htmx_indicator_rules_live_in_our_stylesheet(client):
    with client.get("/static/css/kiosk.css") as response:
        css = response.get_data(as_text=True)
    assert ".htmx-indicator" in css and ".htmx-request .htmx-indicator" in css


def test_no_template_or_page_has_inline_script_or_style(app, client):
    for endpoint, url in routes(app, "GET"):
        page = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), url
        assert not re.search(r"<style\b", page), url
        assert not re.search(r"\sstyle=", page), url
        assert not re.search(r"\son[a-z]+=", page), url
        assert "javascript:" not in page, url


def test_dynamic_answers_are_never_stored_by_the_browser(app, client):
    for endpoint, url in routes(app, "GET"):
        response = client.get(url)
        if endpoint == "visitor.qr":
            continue  # a QR code holds no personal data; it revalidates instead (no-cache)
        assert response.headers.get("Cache-Control") == "no-store", url
    assert client.post("/opener", data={"choice": "people"}).headers["Cache-Control"] == "no-store"


SIGN_UP = {"first_name": "Ana", "email": "ana@example.org", "consent": "y"}
PERSONAL_POSTS = [
    ("/signup", SIGN_UP),
    ("/pledge", {"kind": "once", "amount": "other", "amount_other": "30", "name": "Ana"}),
    ("/ask", {"question": "Who decides?", "email": "ana@example.org", "consent": "y"}),
    ("/press/request", PRESS_REQUEST),
]


@pytest.mark.parametrize(("url", "data"), PERSONAL_POSTS)
def test_every_answer_to_a_personal_form_is_never_stored(client, url, data):
    answers = [
        client.post(url, data=data),  # 303 to the thank-you
        client.post(url, data=data, headers=HX),  # the thank-you block
        client.post(url, data={"email": "ana@example.org"}),  # 422: the typed values again
    ]
    answers.append(client.get(answers[0].headers["Location"]))
    for response in answers:
        assert response.headers["Cache-Control"] == "no-store", response.status_code


def visit_cookie(response) -> str | None:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(VISIT_COOKIE + "="):
            return header
    return None


@pytest.mark.parametrize(("url", "data"), PERSONAL_POSTS)
def test_each_stored_personal_form_rotates_an_httponly_cookie(client, url, data):
    first = visit_cookie(client.post(url, data=data))
    second = visit_cookie(client.post(url, data=data, headers=HX))
    assert first and second and first != second
    for cookie in (first, second):
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_form_still_to_fix_or_a_plain_page_keeps_the_cookie(client):
    assert visit_cookie(client.post("/signup", data={"email": "x"})) is None  # 422
    assert visit_cookie(client.get("/signup")) is None
    assert visit_cookie(client.post("/opener", data={"choice": "people"})) is None


def test_leaving_a_page_with_fields_ends_the_visit_with_a_fresh_httponly_cookie(client):
    """kiosk.js posts here as a page with fields is left (see tests/browser/test_bfcache_*)."""
    first = client.post("/visit/end")
    second = client.post("/visit/end")
    assert (first.status_code, second.status_code) == (204, 204)
    assert visit_cookie(first) != visit_cookie(second)
    assert "HttpOnly" in visit_cookie(first)
    assert first.headers["Cache-Control"] == "no-store"
    assert client.get("/visit/end").status_code == 405


def test_every_lead_page_and_export_is_strict_and_never_stored(app, client):
    set_passphrase(app)
    assert log_in(client).status_code == 303
    client.post("/signup", data=SIGN_UP)
    for endpoint, url in routes(app, "GET"):
        if endpoint == "visitor.qr":
            continue
        response = client.get(url)
        assert_strict_headers(response, url)
        assert response.headers.get("Cache-Control") == "no-store", url
        page = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=", page), url
    for export in ("csv", "mailchimp", "json"):
        response = client.post("/lead/export", data={"event": "1", "format": export})
        assert response.status_code == 200, export
        assert response.headers.get("Cache-Control") == "no-store", export
        response.close()  # read no further: a download broken off
