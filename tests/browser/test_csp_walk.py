"""A walk through every screen and htmx interaction under the strict CSP, with CSRF on:
zero policy violations and zero console errors.

To cover a new screen, add a function decorated with @screen: it gets the page and the
server's base URL, and drives the screen as a visitor (or volunteer, or lead) would.
"""

import re
from collections.abc import Callable

import pytest

from kiosk.services.volunteers import set_volunteer_pin
from tests.lead_helpers import PASSPHRASE, set_passphrase

pytestmark = pytest.mark.browser

Walk = Callable[[object, str], None]
SCREENS: dict[str, tuple[Walk, tuple[int, ...]]] = {}


def screen(*expected_statuses: int) -> Callable[[Walk], Walk]:
    """Register a walk; `expected_statuses` are error answers the walk provokes on purpose
    (the browser logs each as "Failed to load resource"), not mistakes."""

    def register(walk: Walk) -> Walk:
        SCREENS[walk.__name__] = (walk, expected_statuses)
        return walk

    return register


VOLUNTEER_PIN = "2580"


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture(autouse=True)
def volunteer_pin_and_lead_passphrase(app):
    with app.app_context():
        set_volunteer_pin(VOLUNTEER_PIN)
    set_passphrase(app)


@screen()
def opener_tap_reframe_and_chart(page, base: str) -> None:
    page.goto(base + "/")
    page.get_by_role("button", name="The people").click()
    page.get_by_text("You said:").wait_for()
    # The chart polls every 30 s; trigger one poll now, as htmx would.
    with page.expect_response(re.compile(r"/opener/chart$")):
        page.evaluate(
            "htmx.ajax('GET', '/opener/chart', {target: '#opener_chart', swap: 'outerHTML'})"
        )
    page.get_by_role("link", name="Start again").click()
    page.get_by_role("heading", name="What comes to mind").wait_for()


@screen()
def opener_without_javascript_fallback_pages(page, base: str) -> None:
    page.goto(base + "/opener/people")
    page.get_by_text("You said:").wait_for()


@screen()
def faq_open_more_and_close(page, base: str) -> None:
    page.goto(base + "/faq")
    entry = page.locator("#faq_entry-rescue-cost")
    entry.get_by_role("button").click()
    entry.locator(".faq-short").wait_for()
    page.locator("#faq_entry-rescue-cost").get_by_role("button", name="Tell me more").click()
    page.locator("#faq_entry-rescue-cost .faq-more").wait_for()
    page.locator("#faq_entry-rescue-cost").get_by_role("link", name="Back to the questions").click()
    page.locator("#faq_entry-rescue-cost .faq-short").wait_for(state="detached")


@screen()
def involved_with_qr_codes(page, base: str) -> None:
    page.goto(base + "/involved")
    page.wait_for_load_state("networkidle")
    loaded = page.evaluate(
        "[...document.querySelectorAll('img.qr')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert loaded, "every QR image loaded"


@screen()
def idle_countdown_and_reset(page, base: str) -> None:
    page.clock.install()
    page.goto(base + "/involved")
    page.clock.fast_forward(55_000)
    page.locator("#idle_overlay").wait_for(state="visible")
    page.clock.fast_forward(11_000)
    page.wait_for_url(base + "/")


@screen(400)
def stale_token_then_send_it_again(page, base: str) -> None:
    page.goto(base + "/")
    # A page whose session token no longer matches: what a kiosk sees after a key change.
    page.evaluate(
        """() => {
          document.body.setAttribute('hx-headers', '{"X-CSRFToken": "stale"}');
          document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'stale');
        }"""
    )
    page.get_by_role("button", name="The people").click()
    page.get_by_text("This page was open too long").wait_for()
    page.get_by_role("button", name="Send it again").click()
    page.get_by_text("You said:").wait_for()


@screen(413)
def too_long_a_request(page, base: str) -> None:
    page.goto(base + "/")
    page.evaluate(
        """() => {
          const extra = document.createElement('input');
          extra.type = 'hidden'; extra.name = 'padding'; extra.value = 'x'.repeat(70000);
          document.querySelector('form.choice-grid').appendChild(extra);
        }"""
    )
    page.get_by_role("button", name="The people").click()
    page.get_by_text("That is more than we can take").wait_for()


@screen(422)
def signup_invalid_then_thanked(page, base: str) -> None:
    page.goto(base + "/signup")
    page.get_by_label("First name").fill("지수")
    page.get_by_label("Email", exact=True).fill("not-an-email")
    page.get_by_role("button", name="Sign me up").click()
    page.locator(".field-error").first.wait_for()
    page.get_by_label("Email", exact=True).fill("jisoo@example.org")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Sign me up").click()
    page.get_by_text("Thank you!").wait_for()


@screen()
def pledge_with_qr_and_progress(page, base: str) -> None:
    page.goto(base + "/pledge")
    page.get_by_label("One time").check()
    page.get_by_label("$50", exact=True).check()
    page.get_by_role("button", name=re.compile("Pledge and show")).click()
    page.locator("img.qr").first.wait_for()
    page.wait_for_load_state("networkidle")


@screen()
def ask_a_question(page, base: str) -> None:
    page.goto(base + "/ask")
    page.get_by_label("Your question").fill("<b>How</b> are rescues planned?")
    page.get_by_role("button", name="Send my question").click()
    page.get_by_role("heading", name="Thanks for asking!").wait_for()


@screen()
def volunteer_unlock_count_enter_and_lock(page, base: str) -> None:
    page.goto(base + "/volunteer/")
    page.get_by_label("PIN").fill(VOLUNTEER_PIN)
    page.get_by_role("button", name="Open").click()
    page.get_by_role("button", name="+1 conversation").click()
    page.wait_for_function("() => document.querySelector('.counter-number').textContent === '1'")
    page.get_by_label("First name").fill("Paper")
    page.get_by_label("Email", exact=True).fill("paper@example.org")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Save sign-up").click()
    page.get_by_text("Saved. Ready for the next one.").wait_for()
    page.get_by_role("button", name="Lock").click()
    page.wait_for_url(base + "/")


@screen()
def lead_login_dashboard_and_every_page(page, base: str) -> None:
    page.goto(base + "/ask")
    page.get_by_label("Your question").fill("Can I volunteer at the next event?")
    page.get_by_role("button", name="Send my question").click()
    page.get_by_role("heading", name="Thanks for asking!").wait_for()
    page.goto(base + "/lead/login")
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Log in").click()
    page.locator("#dashboard").wait_for()
    with page.expect_response(re.compile(r"/lead/$"), timeout=8_000):
        pass  # the dashboard refreshes itself every 5 s
    page.get_by_role("button", name="Mark answered").click()
    page.get_by_text("No questions waiting.").wait_for()
    for path in ("/lead/events", "/lead/events/new", "/lead/data", "/lead/settings", "/lead/audit"):
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
    page.goto(base + "/lead/data")
    page.get_by_label("Their email address").fill("nobody@example.org")
    page.get_by_role("button", name="Find their data").click()
    page.wait_for_load_state("networkidle")


@pytest.fixture
def watched(page):
    """The page, recording CSP violations (the DOM event and the console's report)."""
    violations: list[str] = []
    page.expose_function("__kioskReportViolation", lambda text: violations.append(text))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e =>"
        " window.__kioskReportViolation(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.csp_violations = violations
    return page


def unexpected_errors(errors: list[str], expected_statuses: tuple[int, ...]) -> list[str]:
    expected = [f"the server responded with a status of {status}" for status in expected_statuses]
    return [e for e in errors if not any(text in e for text in expected)]


@pytest.mark.parametrize("name", list(SCREENS))
def test_a_walk_through_the_screen_records_no_csp_violation_and_no_console_error(
    live_server, watched, name
):
    walk, expected_statuses = SCREENS[name]
    walk(watched, live_server.url)
    watched.wait_for_timeout(100)  # let late reports arrive
    assert watched.csp_violations == []
    assert unexpected_errors(watched.console_errors, expected_statuses) == []


def test_the_walk_does_see_a_violation_when_a_page_breaks_the_policy(live_server, watched):
    watched.goto(live_server.url + "/")
    watched.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<p style=\"color:red\">x</p>')"
    )
    watched.wait_for_timeout(200)
    assert any("style-src" in v for v in watched.csp_violations)
