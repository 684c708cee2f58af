"""Request-level tests of the volunteer's screen: the PIN gate, the counter, paper sign-ups."""

import uuid

import pytest
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Signup, Tally
from kiosk.services import volunteers
from tests.helpers import HX, assert_fragment

PIN = "4821"


@pytest.fixture
def pin(app) -> str:
    with app.app_context():
        volunteers.set_volunteer_pin(PIN)
    return PIN


@pytest.fixture
def unlocked(client, pin):
    assert client.post("/volunteer/unlock", data={"pin": pin}).status_code == 303
    return client


def conversations(app) -> int:
    with app.app_context():
        return len(list(db.session.scalars(select(Tally).where(Tally.kind == "conversation"))))


def paper(**changes) -> dict:
    return {
        "first_name": "Paper",
        "email": "paper@example.org",
        "consent": "y",
        "interests": ["events"],
        "idempotency_key": uuid.uuid4().hex,
    } | changes


def test_without_a_pin_the_screen_says_how_to_set_one(client):
    html = client.get("/volunteer/").get_data(as_text=True)
    assert "kiosk pin" in html
    assert 'name="pin"' not in html
    assert "Conversations today" not in html


def test_with_a_pin_set_the_screen_asks_for_it_and_shows_nothing_else(client, pin):
    response = client.get("/volunteer/")
    html = response.get_data(as_text=True)
    assert 'name="pin"' in html and 'type="password"' in html
    assert "Conversations today" not in html and "paper sign-up" not in html
    assert response.headers["Cache-Control"] == "no-store"


def test_a_wrong_pin_is_refused(client, pin):
    response = client.post("/volunteer/unlock", data={"pin": "0000"})
    assert response.status_code == 422
    assert "not right" in response.get_data(as_text=True)
    assert "Conversations today" not in client.get("/volunteer/").get_data(as_text=True)


def test_repeated_wrong_pins_lock_out_even_the_right_one_for_a_while(client, pin):
    for _ in range(5):
        client.post("/volunteer/unlock", data={"pin": "0000"})
    response = client.post("/volunteer/unlock", data={"pin": pin})
    assert response.status_code == 422
    assert "wait a minute" in response.get_data(as_text=True)


def test_the_right_pin_opens_tips_counter_and_paper_entry(unlocked):
    response = unlocked.get("/volunteer/")
    html = response.get_data(as_text=True)
    assert "Conversations today" in html
    assert "Start with a question" in html and "Keep it short" in html
    assert 'id="volunteer_signup"' in html and 'autocomplete="off"' in html
    assert "Lock" in html
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "url"),
    [("post", "/volunteer/conversation"), ("post", "/volunteer/signup")],
)
def test_a_visitor_without_the_pin_reaches_no_volunteer_action(app, client, pin, method, url):
    response = getattr(client, method)(url, data=paper())
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/volunteer/")
    hx = getattr(client, method)(url, data=paper(), headers=HX)
    assert hx.headers["HX-Redirect"] == "/volunteer/"
    assert conversations(app) == 0
    with app.app_context():
        assert db.session.scalars(select(Signup)).all() == []


def test_plus_one_counts_a_conversation_and_shows_todays_count(app, unlocked):
    unlocked.post("/volunteer/conversation", headers=HX)
    response = unlocked.post("/volunteer/conversation", headers=HX)
    html = assert_fragment(response)
    assert html.lstrip().startswith('<section id="volunteer_counter"')
    assert '<p class="counter-number">2</p>' in html
    assert conversations(app) == 2


def test_a_paper_signup_is_stored_as_entered_by_a_volunteer_and_the_form_empties(app, unlocked):
    response = unlocked.post("/volunteer/signup", data=paper(), headers=HX)
    html = assert_fragment(response)
    assert response.status_code == 200
    assert "Saved. Ready for the next one." in html
    assert 'value="Paper"' not in html and "paper@example.org" not in html
    with app.app_context():
        [signup] = db.session.scalars(select(Signup)).all()
        assert (signup.source, signup.interests, signup.consent_version) == (
            "volunteer",
            "events",
            "2026-11-v1",
        )


def test_a_paper_signup_gets_the_same_validation_and_keeps_what_was_typed(app, unlocked):
    response = unlocked.post(
        "/volunteer/signup", data=paper(email="nope", consent=None), headers=HX
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="email-error"' in html and 'id="consent-error"' in html
    assert 'value="Paper"' in html and 'value="nope"' in html


def test_a_paper_signup_without_javascript_redirects_back_with_a_confirmation(unlocked):
    response = unlocked.post("/volunteer/signup", data=paper())
    assert response.status_code == 303
    assert "Saved." in unlocked.get(response.headers["Location"]).get_data(as_text=True)


def test_lock_returns_to_the_opener_and_the_pin_is_needed_again(unlocked):
    response = unlocked.post("/volunteer/lock")
    assert response.status_code == 303 and response.headers["Location"].endswith("/")
    assert 'name="pin"' in unlocked.get("/volunteer/").get_data(as_text=True)


def test_any_visitor_screen_locks_the_volunteer_screen(unlocked):
    unlocked.get("/faq")
    assert 'name="pin"' in unlocked.get("/volunteer/").get_data(as_text=True)


def test_changing_the_pin_ends_every_unlock_made_with_the_old_one(app, unlocked):
    with app.app_context():
        volunteers.set_volunteer_pin("97531")
    assert 'name="pin"' in unlocked.get("/volunteer/").get_data(as_text=True)


def test_an_unlock_left_idle_too_long_needs_the_pin_again(unlocked, monkeypatch):
    import time

    from kiosk import volunteer

    later = time.time() + volunteer.UNLOCK_IDLE_SECONDS + 1
    monkeypatch.setattr(volunteer.time, "time", lambda: later)
    assert 'name="pin"' in unlocked.get("/volunteer/").get_data(as_text=True)


def test_kiosk_serve_announces_the_volunteer_screen_and_a_missing_pin(app):
    with app.app_context():
        [note] = [n for n in app.extensions["kiosk_startup_notes"] if "Volunteer" in n()]
        assert "/volunteer/" in note() and "kiosk pin" in note()
        volunteers.set_volunteer_pin(PIN)
        assert "kiosk pin" not in note()
