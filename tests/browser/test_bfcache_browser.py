"""Nothing typed survives the visitor, in Chromium with its back-forward cache on, as on a
pinned Android tablet: a visitor types and leaves by any way, and the next visitor's Back,
Forward, or Back then Forward shows none of it, at once or 20 seconds later."""

import re
import urllib.request

import pytest
from playwright.sync_api import Error as PlaywrightError

pytestmark = pytest.mark.browser

FIRST = "Leaky"
EMAIL = "leaky.visitor@example.org"
PHONE = "+1 202 555 0199"
QUESTION = "Will anyone read my private question?"


@pytest.fixture
def app_config() -> dict:
    # CSRF on, as at a real table; a short idle time for the walk-away case.
    return {"WTF_CSRF_ENABLED": True, "KIOSK_IDLE_SECONDS": 5, "KIOSK_IDLE_COUNTDOWN": 2}


def record_pageshow(page) -> None:
    """Every document notes whether it came from the back-forward cache (kept in the window)."""
    page.add_init_script(
        "window.addEventListener('pageshow', e => { window.__kioskRestored = e.persisted; });"
    )


def was_restored(page) -> bool:
    return page.evaluate("window.__kioskRestored === true")


def history_step(page, step) -> None:
    """Back or Forward: a restore from the cache fires no load event, so wait for the commit.

    A page that comes back holding a visit replaces itself with a fresh copy at once; when
    that replacement starts before Chromium reports the step's own commit, the step is
    reported aborted (net::ERR_ABORTED). That is the kiosk doing its job, not a failure:
    the checks that follow look at whatever page the tablet then shows."""
    try:
        step(wait_until="commit")
    except PlaywrightError as error:
        if "ERR_ABORTED" not in str(error):
            raise
        page.wait_for_load_state("domcontentloaded")
    page.wait_for_function("() => document.readyState !== 'loading'")


def snapshot(page) -> tuple[str, list[str]] | None:
    """The page's HTML and every field's value, or None while it is between documents."""
    try:
        return page.evaluate(
            """() => [document.documentElement.outerHTML,
                      [...document.querySelectorAll('input:not([type=hidden]), textarea')]
                        .map(f => (f.type === 'checkbox' || f.type === 'radio')
                                    ? (f.checked ? f.name + '=' + f.value : '') : f.value)]"""
        )
    except Exception as error:  # a reload in progress destroys the context
        if "context was destroyed" in str(error) or "navigation" in str(error).lower():
            return None
        raise


def fresh_choices(url: str) -> set[str]:
    """The choices a freshly served form picks by itself (the pledge's "One time")."""
    with urllib.request.urlopen(url) as response:  # noqa: S310 - our own test server
        html = response.read().decode()
    return {
        f"{name}={value}"
        for tag in re.findall(r"<input[^>]*\bchecked\b[^>]*>", html)
        for name, value in re.findall(r'name="([^"]*)" value="([^"]*)"', tag)
    }


def assert_nothing_typed_shows(page, *typed: str, seconds: float = 0.6) -> None:
    """Look again and again for `seconds`: no flash of the earlier visitor's data either."""
    defaults = fresh_choices(page.url) if page.url.startswith("http") else set()
    looks = 0
    for _ in range(int(seconds / 0.1)):
        seen = snapshot(page)
        if seen is not None:
            looks += 1
            html, values = seen
            for value in typed:
                assert value not in html, f"{value!r} is back on {page.url}"
            left = [v for v in values if v and v not in defaults]
            assert left == [], f"fields still filled on {page.url}: {values}"
        page.wait_for_timeout(100)
    assert looks > 0


def fill_signup(page) -> None:
    page.get_by_label("First name").fill(FIRST)
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Phone").fill(PHONE)
    page.get_by_label("Events", exact=True).check()
    page.get_by_label("I agree").check()


# The next visitor walks the whole history both ways.
NEXT_VISITOR = ("go_back", "go_back", "go_forward", "go_forward", "go_forward", "go_back")


def next_visitor_walks_the_history(page, *typed: str) -> None:
    for name in NEXT_VISITOR:
        history_step(page, getattr(page, name))
        assert_nothing_typed_shows(page, *typed)


def test_the_tablet_browser_really_keeps_pages_in_its_back_forward_cache(live_server, tablet):
    """Without this, every test below could pass for the wrong reason."""
    record_pageshow(tablet)
    tablet.goto(live_server.url + "/involved")
    tablet.get_by_role("link", name="Questions").click()
    tablet.wait_for_url(live_server.url + "/faq")
    history_step(tablet, tablet.go_back)
    assert tablet.url == live_server.url + "/involved"
    assert was_restored(tablet), "a page without fields comes back from the back-forward cache"


def leave_by_no_thanks(page, base: str) -> None:
    page.get_by_role("link", name="No thanks, back to the start").click()
    page.wait_for_url(base + "/")


def leave_by_the_brand(page, base: str) -> None:
    page.locator("a.brand").click()
    page.wait_for_url(base + "/")


def leave_by_the_menu(page, base: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Questions").click()
    page.wait_for_url(base + "/faq")


def leave_by_back(page, base: str) -> None:
    history_step(page, page.go_back)
    page.wait_for_url(base + "/involved")


LEAVE = {
    "no-thanks": leave_by_no_thanks,
    "brand": leave_by_the_brand,
    "menu": leave_by_the_menu,
    "back-button": leave_by_back,
}


@pytest.mark.parametrize("way", list(LEAVE))
def test_a_half_filled_sign_up_left_by_any_way_never_comes_back(live_server, tablet, way):
    base = live_server.url
    tablet.goto(base + "/involved")
    tablet.get_by_role("link", name="Stay in touch: sign up").click()
    tablet.wait_for_url(base + "/signup")
    fill_signup(tablet)
    LEAVE[way](tablet, base)
    next_visitor_walks_the_history(tablet, FIRST, EMAIL, PHONE)


def test_twenty_seconds_later_back_and_forward_still_show_nothing(live_server, tablet):
    base = live_server.url
    tablet.goto(base + "/")
    tablet.goto(base + "/signup")
    fill_signup(tablet)
    history_step(tablet, tablet.go_back)  # the visitor walks off with Back
    tablet.wait_for_timeout(20_000)
    history_step(tablet, tablet.go_forward)
    assert_nothing_typed_shows(tablet, FIRST, EMAIL, PHONE)
    tablet.get_by_role("link", name="Questions").click()
    tablet.wait_for_url(base + "/faq")
    for step in (tablet.go_back, tablet.go_back, tablet.go_forward):
        history_step(tablet, step)
        assert_nothing_typed_shows(tablet, FIRST, EMAIL, PHONE)


def test_a_question_left_behind_is_not_shown_to_the_next_visitor(live_server, tablet):
    base = live_server.url
    tablet.goto(base + "/faq")
    tablet.get_by_role("link", name="Leave a question").click()
    tablet.wait_for_url(base + "/ask")
    tablet.get_by_label("Your question").fill(QUESTION)
    tablet.get_by_label("Email for a reply").fill(EMAIL)
    tablet.get_by_role("link", name="Back to the questions").click()
    tablet.wait_for_url(base + "/faq")
    next_visitor_walks_the_history(tablet, QUESTION, EMAIL)


def test_a_pledge_form_with_errors_left_by_back_is_empty_when_it_comes_back(live_server, tablet):
    base = live_server.url
    tablet.goto(base + "/")
    tablet.goto(base + "/pledge")
    tablet.get_by_label("Other", exact=True).check()
    tablet.get_by_label("Other amount in dollars").fill("12345")
    tablet.locator("#name").fill(FIRST)
    tablet.locator("#email").fill("not-an-email")
    tablet.get_by_role("button", name="Pledge and show the QR code").click()
    tablet.locator(".field-error").first.wait_for()  # the 422 puts the values in the HTML
    history_step(tablet, tablet.go_back)
    next_visitor_walks_the_history(tablet, FIRST, "not-an-email", "12345")


def test_a_visitor_who_walks_away_leaves_nothing_for_back(live_server, tablet):
    base = live_server.url
    tablet.goto(base + "/faq")
    tablet.goto(base + "/signup")
    fill_signup(tablet)
    tablet.wait_for_url(base + "/", timeout=15_000)  # the idle reset
    next_visitor_walks_the_history(tablet, FIRST, EMAIL, PHONE)


def test_nothing_typed_is_written_to_browser_storage(live_server, tablet):
    base = live_server.url
    tablet.goto(base + "/signup")
    fill_signup(tablet)
    tablet.get_by_role("link", name="Questions").click()
    tablet.wait_for_url(base + "/faq")
    stored = tablet.evaluate(
        """async () => ({
            local: Object.entries(localStorage),
            session: Object.entries(sessionStorage),
            databases: (await indexedDB.databases()).length,
            caches: (await caches.keys()).length,
        })"""
    )
    assert stored["local"] == []
    # htmx notes the page's own path there (no history cache: historyCacheSize is 0).
    assert [key for key, _value in stored["session"]] in ([], ["htmx-current-path-for-history"])
    assert not any(value in str(stored) for value in (FIRST, EMAIL, PHONE))
    assert (stored["databases"], stored["caches"]) == (0, 0)
