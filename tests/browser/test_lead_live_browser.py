"""The lead's dashboard left open all day: a visible "session ends in 2 min: stay signed in"
instead of a silent logout (the refreshes alone never keep it signed in), the keyboard focus
kept across the 5-second refreshes, and what changed announced politely."""

from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from kiosk import clock
from kiosk.services.questions import record_question
from kiosk.services.signups import record_signup
from tests.lead_helpers import PASSPHRASE, set_passphrase

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    # Refreshes every second, not five: the tests wait for several of them.
    return {"WTF_CSRF_ENABLED": True, "KIOSK_DASHBOARD_REFRESH_SECONDS": 1}


@pytest.fixture
def later(monkeypatch):
    """Move the kiosk's clock ahead of the real one (it keeps ticking): later(minutes=29)."""
    real_now = clock.now
    offset = [timedelta(0)]
    monkeypatch.setattr(clock, "now", lambda: real_now() + offset[0])

    def move(**delta: float) -> None:
        offset[0] = timedelta(**delta)

    return move


@pytest.fixture
def lead_page(app, live_server, page):
    set_passphrase(app)
    page.goto(live_server.url + "/lead/login")
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Demo event").wait_for()
    return page


def next_refresh(page) -> None:
    with page.expect_response(
        lambda r: r.url.endswith("/lead/") and r.request.headers.get("hx-request") == "true",
        timeout=5000,
    ):
        pass


def test_a_dashboard_near_the_end_of_its_session_asks_and_stays_signed_in(lead_page, later):
    prompt = lead_page.locator("#session_prompt")
    assert prompt.is_hidden()
    later(minutes=28, seconds=30)  # 90 s left, and polling never pushed the end back
    expect(prompt).to_be_visible(timeout=9000)
    expect(prompt).to_contain_text("Your session ends in 1:")
    serious = [
        v["id"]
        for v in Axe().run(lead_page).response["violations"]
        if v["impact"] in ("critical", "serious")
    ]
    assert serious == []
    lead_page.get_by_role("button", name="Stay signed in").click()
    expect(prompt).to_be_hidden(timeout=5000)
    later(minutes=50)  # 21.5 min after the click: still signed in, the dashboard live
    next_refresh(lead_page)
    assert lead_page.url.endswith("/lead/")
    assert lead_page.get_by_role("heading", name="Demo event").is_visible()
    assert lead_page.console_errors == []


def test_a_dashboard_left_alone_warns_then_ends(lead_page, later):
    later(minutes=29, seconds=52)
    prompt = lead_page.locator("#session_prompt")
    expect(prompt).to_be_visible(timeout=9000)
    # Nobody answers: the countdown reaches 0:00 and the session ends, for real.
    lead_page.wait_for_url("**/lead/login", timeout=20000)
    assert lead_page.get_by_label("Passphrase").is_visible()


def test_keyboard_focus_stays_on_its_control_across_refreshes(app, lead_page):
    with app.app_context():
        record_question(question="How do rescues work?", email="q@example.org", consent=True)
    answered = lead_page.get_by_role("button", name="Mark answered")
    expect(answered).to_be_visible(timeout=9000)
    answered.focus()
    focused_id = lead_page.evaluate("document.activeElement.id")
    assert focused_id.startswith("answered-")
    next_refresh(lead_page)
    next_refresh(lead_page)
    lead_page.wait_for_timeout(200)  # htmx puts the focus back as the swap settles
    assert lead_page.evaluate("document.activeElement.id") == focused_id
    lead_page.keyboard.press("Enter")  # the focused button still works
    expect(lead_page.get_by_text("No questions waiting.")).to_be_visible(timeout=9000)
    # Its control is gone: focus goes to the dashboard's heading, not the page's body (once
    # htmx has settled the swap, a moment after the new content shows).
    lead_page.wait_for_function("() => document.activeElement.tagName === 'H1'", timeout=3000)
    assert lead_page.evaluate("document.activeElement.textContent") == "Demo event"


def test_what_changed_is_announced_politely(app, lead_page):
    announcer = lead_page.locator("#announcer")
    assert announcer.get_attribute("aria-live") == "polite"
    with app.app_context():
        record_signup(first_name="Min", email="min@example.org", consent=True)
    expect(announcer).to_have_text("1 sign-ups", timeout=9000)
