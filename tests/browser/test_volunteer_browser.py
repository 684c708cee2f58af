"""In the browser: a volunteer reaches the PIN screen from a pinned tablet by holding the
team's name, unlocks, counts a conversation, types a paper sign-up and locks the tablet
again; the unlock ends at Lock and at the idle reset, and Back never brings it back."""

import pytest
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Signup, VolunteerUnlock
from kiosk.services.volunteers import set_volunteer_pin
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

PIN = "2580"


@pytest.fixture
def app_config() -> dict:
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def pin(app) -> str:
    with app.app_context():
        set_volunteer_pin(PIN)
    return PIN


def unlock(page, url: str) -> None:
    page.goto(url + "/volunteer/")
    page.get_by_label("PIN").fill(PIN)
    page.get_by_role("button", name="Open").click()
    page.get_by_role("heading", name="Conversations today").wait_for()


def open_unlocks(app) -> int:
    with app.app_context():
        rows = db.session.scalars(select(VolunteerUnlock)).all()
        return sum(1 for row in rows if row.ended_at is None)


def test_a_volunteer_counts_types_a_paper_signup_and_locks(app, pin, live_server, page):
    unlock(page, live_server.url)
    counter = page.locator("#volunteer_counter .counter-number")
    assert counter.inner_text() == "0"
    page.get_by_role("button", name="+1 conversation").click()
    page.wait_for_function("() => document.querySelector('.counter-number').textContent === '1'")
    # The count keeps the keyboard where it was, and can be taken back.
    assert page.evaluate("document.activeElement.textContent.trim()") == "+1 conversation"
    page.get_by_role("button", name="Undo").click()
    page.get_by_text("Taken back").wait_for()
    assert counter.inner_text() == "0"

    page.get_by_label("First name").fill("Paper")
    page.get_by_label("Email", exact=True).fill("paper@example.org")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Save sign-up").click()
    page.get_by_text("Saved. Ready for the next one.").wait_for()
    assert page.get_by_label("First name").input_value() == ""
    with app.app_context():
        rows = [(s.first_name, s.source) for s in db.session.scalars(select(Signup))]
    assert rows == [("Paper", "volunteer")]

    page.get_by_role("button", name="Lock").click()
    page.wait_for_url(live_server.url + "/")
    page.goto(live_server.url + "/volunteer/")
    assert page.get_by_label("PIN").is_visible()
    assert open_unlocks(app) == 0
    assert page.console_errors == []


def test_holding_the_team_name_for_two_seconds_opens_the_pin_screen(pin, live_server, page):
    page.goto(live_server.url + "/faq")
    team = page.locator("[data-volunteer-hold]")
    box = team.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    # A short tap is the brand link, as before: back to the opener.
    page.mouse.down()
    page.wait_for_timeout(300)
    page.mouse.up()
    page.wait_for_url(live_server.url + "/")
    # Held for two seconds: the PIN screen, without a release needed.
    team.hover()
    page.mouse.down()
    page.wait_for_url(live_server.url + "/volunteer/", timeout=4000)
    page.mouse.up()
    assert page.get_by_label("PIN").is_visible()
    assert page.console_errors == []


def test_a_finger_held_on_the_team_name_opens_it_too(pin, browser, live_server):
    context = browser.new_context(viewport={"width": 800, "height": 1280}, has_touch=True)
    page = context.new_page()
    page.goto(live_server.url + "/")
    box = page.locator("[data-volunteer-hold]").bounding_box()
    point = {"x": box["x"] + 10, "y": box["y"] + box["height"] / 2}
    cdp = context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
    page.wait_for_url(live_server.url + "/volunteer/", timeout=4000)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert page.get_by_label("PIN").is_visible()
    context.close()


def test_a_keyboard_reaches_the_volunteer_screen_by_a_link_shown_only_on_focus(
    pin, live_server, page
):
    page.goto(live_server.url + "/")
    link = page.get_by_role("link", name="Volunteer screen")
    assert not page.evaluate(
        "el => { const r = el.getBoundingClientRect(); return r.right > 0 && r.left < innerWidth }",
        link.element_handle(),
    )
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Volunteer screen":
            break
    box = link.bounding_box()
    assert box and 0 <= box["x"] < 1280 and box["width"] > 50  # visible while focused
    page.keyboard.press("Enter")
    page.wait_for_url(live_server.url + "/volunteer/")


@pytest.mark.parametrize(
    "app_config", [{"WTF_CSRF_ENABLED": True, "KIOSK_VOLUNTEER_IDLE_SECONDS": 4}]
)
def test_the_unlock_ends_at_the_idle_reset(app, pin, live_server, page):
    unlock(page, live_server.url)
    assert open_unlocks(app) == 1
    # Left alone: after the idle time the tablet goes back to the opener, which ends the
    # unlock on the server (not only in this browser).
    page.wait_for_url(live_server.url + "/", timeout=9000)
    page.locator(".opener-question").wait_for()
    assert open_unlocks(app) == 0
    page.goto(live_server.url + "/volunteer/")
    assert page.get_by_label("PIN").is_visible()


def test_a_copied_cookie_opens_nothing_after_lock(app, pin, browser, live_server, page):
    unlock(page, live_server.url)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "kiosk_volunteer"]
    other = browser.new_context()
    other.add_cookies([cookie])
    thief = other.new_page()
    thief.goto(live_server.url + "/volunteer/")
    assert thief.get_by_role("heading", name="Conversations today").is_visible()
    page.get_by_role("button", name="Lock").click()
    page.wait_for_url(live_server.url + "/")
    thief.goto(live_server.url + "/volunteer/")
    assert thief.get_by_label("PIN").is_visible()
    other.close()


@pytest.fixture(scope="module")
def bfcache_browser(browser):
    """Chromium with its back-forward cache on, as on a real tablet (Playwright turns it off)."""
    with_cache = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        ignore_default_args=["--disable-back-forward-cache"],
        headless=True,
    )
    yield with_cache
    with_cache.close()


def test_back_after_lock_never_shows_the_volunteer_screen(app, pin, bfcache_browser, live_server):
    context = bfcache_browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    unlock(page, live_server.url)
    page.get_by_label("First name").fill("Typed but not sent")
    page.get_by_role("button", name="Lock").click()
    page.wait_for_url(live_server.url + "/")
    # A page restored from the back-forward cache fires no "load": wait for the commit.
    page.go_back(wait_until="commit")
    page.get_by_label("PIN").wait_for()
    assert "Typed but not sent" not in page.content()
    page.go_forward(wait_until="commit")
    page.locator(".opener-question").wait_for()
    page.go_back(wait_until="commit")
    page.get_by_label("PIN").wait_for()
    context.close()
