"""What a visitor and a volunteer see (issue 24): no sideways scroll on a phone, the "Still
there?" card hiding the form behind it, motion only when wanted, readable QR captions, the
thank-you's countdown, and a language switch that keeps what the visitor typed or opened."""

import pytest

from kiosk.services.volunteers import set_volunteer_pin
from tests.helpers import routes

pytestmark = pytest.mark.browser

PIN = "2580"
PHONE = {"width": 390, "height": 844}
# The thank-yous, reached after a form; their addresses as the form's redirect gives them.
THANKS = ["/signup/thanks", "/pledge/thanks?kind=once&cents=5000", "/ask/thanks", "/press/thanks"]


@pytest.fixture
def app_config() -> dict:
    # Long enough that no idle reset interrupts a test that does not wait for one.
    return {"KIOSK_IDLE_SECONDS": 120, "KIOSK_PLEDGE_THANKS_SECONDS": 30}


def phone_page(browser, **options):
    context = browser.new_context(viewport=PHONE, service_workers="block", **options)
    return context, context.new_page()


def visitor_screens(app) -> list[str]:
    skipped = ("visitor.qr", "visitor.start", "visitor.opener_chart")
    urls = [url for endpoint, url in routes(app, "GET") if endpoint.startswith("visitor.")]
    pages = [
        url
        for endpoint, url in routes(app, "GET")
        if endpoint.startswith("visitor.") and endpoint not in skipped and "thanks" not in url
    ]
    assert "/" in pages and "/press" in pages and len(urls) > len(pages)
    return pages + THANKS


def sideways(page) -> list[int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def test_no_visitor_screen_and_not_the_volunteer_screen_scrolls_sideways_on_a_phone(
    app, live_server, browser
):
    with app.app_context():
        set_volunteer_pin(PIN)
    context, page = phone_page(browser)
    too_wide = {}
    for language in ("en", "ko"):
        page.goto(f"{live_server.url}/language/{language}")
        for url in visitor_screens(app):
            page.goto(live_server.url + url)
            width, window = sideways(page)
            if width > window:
                too_wide[f"{language} {url}"] = width
        page.goto(live_server.url + "/volunteer/")
        if page.locator("#pin").count():
            page.locator("#pin").fill(PIN)
            page.locator("#pin").press("Enter")
        page.locator("#volunteer_signup").wait_for()
        width, window = sideways(page)
        if width > window:
            too_wide[f"{language} /volunteer/"] = width
    context.close()
    assert too_wide == {}


def test_the_still_there_card_hides_the_form_it_covers(app, live_server, page):
    page.goto(live_server.url + "/signup")
    page.get_by_label("First name").fill("Previous Visitor")
    page.evaluate("document.getElementById('idle_overlay').hidden = false")
    field = page.get_by_label("First name").bounding_box()
    x, y = field["x"] + 10, field["y"] + field["height"] / 2
    covering = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('#idle_overlay') !== null", [x, y]
    )
    assert covering
    looks = page.evaluate(
        """() => { const s = getComputedStyle(document.getElementById('idle_overlay'));
                   const alpha = s.backgroundColor.match(/[\\d.]+/g).map(Number)[3] ?? 1;
                   return [alpha, s.backdropFilter]; }"""
    )
    alpha, backdrop = looks
    # Opaque enough that the name cannot be read through it (and blurred besides).
    assert alpha >= 0.95 and "blur" in backdrop


def test_the_thank_you_does_not_move_when_the_tablet_asks_for_reduced_motion(live_server, browser):
    context = browser.new_context(reduced_motion="reduce", service_workers="block")
    page = context.new_page()
    page.goto(live_server.url + "/signup/thanks")
    assert page.locator(".thanks").evaluate("e => getComputedStyle(e).animationName") == "none"
    context.close()
    moving = browser.new_context(reduced_motion="no-preference", service_workers="block")
    page = moving.new_page()
    page.goto(live_server.url + "/signup/thanks")
    assert page.locator(".thanks").evaluate("e => getComputedStyle(e).animationName") == "rise"
    moving.close()


def test_qr_captions_are_readable_and_never_break_inside_a_word(live_server, browser):
    context, page = phone_page(browser)
    page.goto(live_server.url + "/involved")
    captions = page.locator(".qr-card figcaption span")
    assert captions.count() >= 16  # a label and an address under each of the eight codes
    styles = captions.evaluate_all(
        """spans => spans.map(s => { const c = getComputedStyle(s);
             return [parseFloat(c.fontSize), c.overflowWrap, c.hyphens, c.wordBreak]; })"""
    )
    for size, wrap, hyphens, word_break in styles:
        assert size >= 16
        assert (wrap, hyphens) == ("normal", "none") and word_break != "break-all"
    # Each line of an address ends at a dot or a slash, or where the address ends.
    lines = page.locator(".qr-url").evaluate_all(
        """spans => spans.flatMap(span => {
             const range = document.createRange(), chars = [], ends = [];
             const walker = document.createTreeWalker(span, NodeFilter.SHOW_TEXT);
             while (walker.nextNode()) {
               const node = walker.currentNode;
               for (let i = 0; i < node.length; i++) chars.push([node, i]);
             }
             let top = null;
             chars.forEach(([node, i], index) => {
               range.setStart(node, i); range.setEnd(node, i + 1);
               const y = range.getBoundingClientRect().top;
               if (top !== null && y > top + 2) {
                 const [before, at] = chars[index - 1];
                 ends.push(before.data[at]);
               }
               top = y;
             });
             return ends;
           })"""
    )
    assert set(lines) <= {".", "/"}
    # and every caption stays inside its card
    outside = captions.evaluate_all(
        """spans => spans.filter(s => {
             const card = s.closest('.qr-card, .way').getBoundingClientRect();
             const box = s.getBoundingClientRect();
             return box.left < card.left || box.right > card.right;
           }).map(s => s.textContent)"""
    )
    assert outside == []
    assert sideways(page)[0] <= PHONE["width"]
    context.close()


def test_the_pledge_thank_you_counts_down_the_seconds_left(live_server, page):
    page.goto(live_server.url + "/pledge/thanks?kind=once&cents=5000")
    count = page.locator("#pledge_thanks [data-return-count]")
    assert count.is_visible()
    first = int(count.inner_text())
    assert 25 <= first <= 30
    page.wait_for_timeout(2200)
    assert int(count.inner_text()) <= first - 2
    assert "seconds" in page.locator("#pledge_thanks .return-note").inner_text()


def kept_in_storage(page) -> str:
    return page.evaluate(
        "JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])"
    )


def test_switching_language_keeps_a_half_typed_form_for_this_visitor_only(live_server, page):
    page.goto(live_server.url + "/signup")
    page.get_by_label("First name").fill("Minji")
    page.get_by_label("Email", exact=True).fill("minji@example.org")
    page.locator("#interest-events").check()
    page.locator("#consent").check()
    page.get_by_role("link", name="한국어").click()
    page.locator("html[lang=ko]").wait_for(state="attached")
    assert page.locator("#first_name").input_value() == "Minji"
    assert page.locator("#email").input_value() == "minji@example.org"
    assert page.locator("#interest-events").is_checked()
    # Consent was given to the English wording: the Korean one is asked for afresh.
    assert not page.locator("#consent").is_checked()
    # Handed over once: nothing typed stays in the browser's storage.
    assert "Minji" not in kept_in_storage(page)
    page.reload()
    assert page.locator("#first_name").input_value() == ""
    assert "Minji" not in kept_in_storage(page)


def test_switching_language_keeps_an_open_answer_open(live_server, page):
    page.goto(live_server.url + "/faq")
    entry = page.locator("#faq_entry-rescue-cost")
    entry.get_by_role("button").click()
    entry.locator(".faq-short").wait_for()
    page.get_by_role("link", name="한국어").click()
    page.locator("html[lang=ko]").wait_for(state="attached")
    assert page.locator("#faq_entry-rescue-cost .faq-short").is_visible()
    assert page.locator("#faq_entry-rescue-cost.is-open").count() == 1
