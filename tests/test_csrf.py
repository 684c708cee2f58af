"""Every state-changing route refuses a missing, foreign or stale CSRF token (400, nothing
changes); no GET changes anything; a kiosk open all day still takes a post first time."""

import re
import time

import itsdangerous
import pytest
from flask_wtf.csrf import generate_csrf
from sqlalchemy import func, select

from kiosk import create_app
from kiosk.extensions import db
from kiosk.models import Signup
from kiosk.services.events import active_event, close_event
from tests.helpers import HX, SAMPLE_ARGS, csrf_token_of, database_snapshot, routes
from tests.lead_helpers import PASSPHRASE, set_passphrase

# A request each POST route would accept with a good token, so a refusal is the token's doing.
SAMPLE_FORMS: dict[str, dict[str, str]] = {
    "visitor.answer": {"choice": "people"},
    "visitor.faq_open": {"depth": "more"},
    "visitor.signup": {"first_name": "Min-ji", "email": "minji@example.org", "consent": "y"},
    "visitor.pledge": {"kind": "once", "amount": "other", "amount_other": "20"},
    "visitor.ask": {"question": "How is a rescue planned?"},
}

CSRF_REFUSAL = 'data-error="csrf"'

# The hub's endpoints for tables (kiosk/hub.py) carry no cookie: a bearer token authenticates
# them instead of a CSRF token (tests/test_sync.py: refused without one, nothing changes).
MACHINE_ENDPOINTS = frozenset({"hub.hello", "hub.changes", "hub.records"})


def browser_post_routes(app) -> list[tuple[str, str]]:
    return [(e, url) for e, url in routes(app, "POST") if e not in MACHINE_ENDPOINTS]


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def fresh_token(client) -> str:
    return csrf_token_of(client.get("/").get_data(as_text=True))


def token_signed_with_another_key(app) -> str:
    """A token the kiosk issued before its secret key changed (a reinstall, a rotated key)."""
    other = create_app({"SECRET_KEY": "an-older-key", "WTF_CSRF_ENABLED": True, "TESTING": True})
    with other.test_request_context():
        return generate_csrf()


def bad_tokens(app, client) -> dict[str, dict[str, str]]:
    """Form fields to send, by kind of bad token; `client` holds the visitor's session."""
    fresh_token(client)  # the visitor has a session with a token of its own
    foreign = fresh_token(app.test_client())  # valid, but for another browser's session
    return {
        "missing": {},
        "foreign": {"csrf_token": foreign},
        "stale": {"csrf_token": token_signed_with_another_key(app)},
        "forged": {"csrf_token": "not-a-token"},
    }


def test_every_post_route_refuses_a_missing_foreign_or_stale_token_and_changes_nothing(app, client):
    post_routes = browser_post_routes(app)
    assert {"visitor.answer", "visitor.faq_open"} <= {endpoint for endpoint, _ in post_routes}
    failures = []
    for endpoint, url in post_routes:
        for kind, fields in bad_tokens(app, client).items():
            for headers in ({}, HX):
                before = database_snapshot(app)
                data = SAMPLE_FORMS.get(endpoint, {}) | fields
                response = client.post(url, data=data, headers=headers)
                body = response.get_data(as_text=True)
                if response.status_code != 400 or CSRF_REFUSAL not in body:
                    failures.append(f"{endpoint} {kind} token: {response.status_code}")
                if database_snapshot(app) != before:
                    failures.append(f"{endpoint} {kind} token: the database changed")
    assert failures == []


def test_the_same_posts_with_a_good_token_are_not_refused(app, client):
    for endpoint, url in browser_post_routes(app):
        data = SAMPLE_FORMS.get(endpoint, {}) | {"csrf_token": fresh_token(client)}
        response = client.post(url, data=data)
        assert CSRF_REFUSAL not in response.get_data(as_text=True), endpoint
        assert response.status_code < 400 or endpoint not in SAMPLE_FORMS, endpoint


def test_the_token_in_the_htmx_header_is_accepted(app, client):
    token = fresh_token(client)
    response = client.post(
        "/opener", data={"choice": "people"}, headers=HX | {"X-CSRFToken": token}
    )
    assert response.status_code == 200


def test_no_get_request_changes_anything(app, client):
    get_routes = routes(app, "GET")
    assert len(get_routes) >= 7
    for endpoint, url in get_routes:
        for headers in ({}, HX):
            before = database_snapshot(app)
            response = client.get(url, headers=headers)
            assert response.status_code != 500, endpoint  # a 503: login before setup
            assert database_snapshot(app) == before, f"GET {url} changed the database"


def test_a_refused_form_tells_the_visitor_kindly_and_offers_to_send_it_again(app, client):
    fresh_token(client)
    typed = {"choice": "people", "note": '<script>alert("x")</script>'}
    response = client.post("/opener", data=typed, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "This page was open too long" in page and "Please try again" in page
    assert "Traceback" not in page
    assert '<script>alert("x")' not in page
    assert "&lt;script&gt;alert(" in page
    # The page's "Send it again" form carries what was typed and a token that works.
    resend = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    assert resend["choice"] == "people"
    response = client.post("/opener", data={"choice": "people", "csrf_token": resend["csrf_token"]})
    assert response.status_code == 303


def test_a_cross_site_post_never_gets_its_fields_echoed_into_a_ready_form(client):
    fresh_token(client)
    response = client.post(
        "/opener", data={"choice": "people"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 400
    assert 'value="people"' not in response.get_data(as_text=True)


def test_a_refused_htmx_post_swaps_the_kind_message_into_the_page(client):
    fresh_token(client)
    response = client.post("/opener", data={"choice": "people"}, headers=HX)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="error_panel"' in html
    assert response.headers["HX-Retarget"] == "#main"


def test_a_kiosk_left_open_eight_hours_still_accepts_a_sign_up_first_time(app, client, monkeypatch):
    form = client.get("/signup").get_data(as_text=True)  # the form shown at opening time
    later = int(time.time()) + 8 * 3600 + 60
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: later)
    typed = {"first_name": "Late", "email": "late@example.org", "consent": "y"}
    response = client.post("/signup", data=typed | {"csrf_token": csrf_token_of(form)})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Signup)) == 1


def test_sample_arguments_name_real_endpoints(app):
    assert set(SAMPLE_ARGS) <= set(app.view_functions)
    assert set(SAMPLE_FORMS) <= set(app.view_functions)


def test_no_get_request_creates_an_event_when_the_lead_closed_the_last_one(app, client):
    with app.app_context():
        close_event(active_event())
    for endpoint, url in routes(app, "GET"):
        before = database_snapshot(app)
        assert client.get(url).status_code != 500, endpoint
        assert database_snapshot(app) == before, f"GET {url} changed the database"
    token = fresh_token(client)
    client.post("/opener", data={"choice": "people", "csrf_token": token})  # the first tap
    with app.app_context():  # ... opens the walk-up event
        assert active_event().name.startswith("Walk-up table")


def log_in_as_lead(app, client) -> None:
    set_passphrase(app)
    token = csrf_token_of(client.get("/lead/login").get_data(as_text=True))
    answer = client.post("/lead/login", data={"passphrase": PASSPHRASE, "csrf_token": token})
    assert answer.status_code == 303


def test_no_get_request_of_a_logged_in_lead_changes_anything(app, client):
    log_in_as_lead(app, client)
    for endpoint, url in routes(app, "GET"):
        before = database_snapshot(app)
        assert client.get(url).status_code != 500, endpoint
        assert database_snapshot(app) == before, f"GET {url} changed the database"


def test_every_lead_post_refuses_a_missing_token_even_when_logged_in(app, client):
    log_in_as_lead(app, client)
    for endpoint, url in browser_post_routes(app):
        before = database_snapshot(app)
        response = client.post(url, data=SAMPLE_FORMS.get(endpoint, {}))
        assert response.status_code == 400 and CSRF_REFUSAL in response.get_data(as_text=True)
        assert database_snapshot(app) == before, endpoint


def test_a_refused_login_never_echoes_the_passphrase_or_pin(app, client):
    set_passphrase(app)
    client.get("/lead/login")
    same_origin = {"Sec-Fetch-Site": "same-origin"}
    for url, field in (("/lead/login", "passphrase"), ("/volunteer/unlock", "pin")):
        response = client.post(url, data={field: "secret-value-123"}, headers=same_origin)
        assert response.status_code == 400
        assert "secret-value-123" not in response.get_data(as_text=True)
