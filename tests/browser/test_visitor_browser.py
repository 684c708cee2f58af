"""What only a browser shows on the visitor screens: swaps, idle reset, QR codes that decode."""

import io

import pytest
import zxingcpp
from PIL import Image

from kiosk.content import current_content
from kiosk.fast_path import fast_path_of
from kiosk.services.events import active_event
from kiosk.services.qr import link_url

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    # A short idle time keeps the test quick; the countdown still has room to be seen.
    return {"KIOSK_IDLE_SECONDS": 4, "KIOSK_IDLE_COUNTDOWN": 2}


def mark_page(page) -> None:
    """Put a marker on the window: it survives htmx swaps and dies with a page load."""
    page.evaluate("window.__kioskMarker = 'same page'")


def still_same_page(page) -> bool:
    return page.evaluate("window.__kioskMarker") == "same page"


def test_tapping_an_opener_choice_swaps_in_the_reframe_without_a_page_load(live_server, page):
    page.goto(live_server.url + "/")
    mark_page(page)
    page.get_by_role("button", name="The people").click()
    page.get_by_text("You said:").wait_for()
    assert still_same_page(page)
    assert page.locator("#opener_panel .reframe").is_visible()
    assert page.get_by_role("link", name="Ask a question").is_visible()
    # The chart refreshes in its own request, fired by the tap's "tallied" trigger: it may land
    # a moment after the reframe, so wait for it rather than read it at once.
    page.locator("#opener_chart").get_by_text("1", exact=True).wait_for(timeout=5000)
    assert page.locator("#opener_chart").get_by_text("1", exact=True).count() == 1
    assert page.console_errors == []


def test_a_second_tap_is_counted_and_answered_by_the_fast_path(app, live_server, page, monkeypatch):
    """What a browser's htmx sends for a tap is what the fast path takes (kiosk/fast_path.py):
    the second tap of a choice is counted and answered there, and the chart shows both."""
    page.goto(live_server.url + "/")
    mark_page(page)
    page.get_by_role("button", name="The people").click()
    page.get_by_text("You said:").wait_for()
    page.locator("#opener_chart").get_by_text("1", exact=True).wait_for(timeout=5000)
    page.goto(live_server.url + "/")  # a fresh opener: its tap forms carry a new key
    layer, counted = fast_path_of(app), []
    count = layer._count  # noqa: SLF001 (watched, not changed)

    def watched(*args):
        found = count(*args)
        counted.append(found is not None)
        return found

    monkeypatch.setattr(layer, "_count", watched)
    page.get_by_role("button", name="The people").click()
    page.get_by_text("You said:").wait_for()
    page.locator("#opener_chart").get_by_text("2", exact=True).wait_for(timeout=5000)
    assert counted == [True]  # counted in front of Flask, once
    assert page.console_errors == []


def test_an_faq_answer_opens_in_place_tells_more_and_closes_in_one_tap(live_server, page):
    page.goto(live_server.url + "/faq")
    mark_page(page)
    entry = page.locator("#faq_entry-rescue-cost")
    entry.get_by_role("button").click()
    entry.locator(".faq-short").wait_for()
    assert "$3,000" in entry.locator(".faq-short").inner_text()
    page.locator("#faq_entry-rescue-cost").get_by_role("button", name="Tell me more").click()
    page.locator("#faq_entry-rescue-cost .faq-more").wait_for()
    page.locator("#faq_entry-rescue-cost").get_by_role("link", name="Back to the questions").click()
    page.locator("#faq_entry-rescue-cost .faq-short").wait_for(state="detached")
    assert still_same_page(page)
    assert page.console_errors == []


def test_an_idle_screen_asks_still_there_then_returns_to_a_fresh_opener(live_server, page):
    page.goto(live_server.url + "/faq")
    page.locator("#faq_entry-rescue-cost").get_by_role("button").click()
    page.locator("#faq_entry-rescue-cost .faq-short").wait_for()
    overlay = page.locator("#idle_overlay")
    overlay.wait_for(state="visible", timeout=6000)
    assert "Still there?" in overlay.inner_text()
    page.wait_for_url(live_server.url + "/", timeout=6000)
    page.get_by_role("heading", name="What comes to mind").wait_for()
    assert page.locator(".reframe").count() == 0


def test_a_touch_during_the_countdown_keeps_the_visitor_where_they_are(live_server, page):
    page.goto(live_server.url + "/involved")
    overlay = page.locator("#idle_overlay")
    overlay.wait_for(state="visible", timeout=6000)
    page.get_by_role("button", name="I'm still here").click()
    assert overlay.is_hidden()
    page.wait_for_timeout(1500)  # past the moment the countdown would have ended
    assert page.url == live_server.url + "/involved"


def decode_qr(locator) -> str:
    image = Image.open(io.BytesIO(locator.screenshot()))
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1, "exactly one QR code in the image"
    return results[0].text


def test_get_involved_qr_codes_decode_to_the_configured_links_with_the_tracking_source(
    app, live_server, page
):
    with app.app_context():
        pack = current_content()
        source = active_event().tracking_source
        expected = {key: link_url(link, source) for key, link in pack.links.items()}
    assert source, "the demo event has a tracking source"
    page.goto(live_server.url + "/involved")
    images = page.locator("img[data-qr-key]")
    # Three of the four ways (Join the team is the kiosk's own sign-up until the team sets a
    # public sign-up link), Donate, four to follow.
    assert images.count() == 8
    for index in range(images.count()):
        image = images.nth(index)
        key = image.get_attribute("data-qr-key")
        image.scroll_into_view_if_needed()
        # A visitor reading the codes: keeps the short idle time from dimming the screen.
        page.keyboard.press("Shift")
        assert decode_qr(image) == expected[key]
    assert f"trackingSource={source}" in expected["fundraise"]
    assert "trackingSource" not in expected["instagram"]


# Where each of the desk's cards stands: [id, left, top, width] in CSS pixels, in page order.
DESK_CARDS_JS = """() => [...document.querySelectorAll('#press_desk > li')].map(card => {
  const box = card.getBoundingClientRect();
  return [card.id, Math.round(box.left), Math.round(box.top), Math.round(box.width)];
})"""


@pytest.mark.parametrize(
    "page", [(800, 1280), (390, 844)], ids=["portrait", "phone"], indirect=True
)
def test_the_journalists_desk_is_one_full_width_column_in_reading_order_below_900px(
    live_server, page
):
    page.goto(live_server.url + "/press")
    cards = page.evaluate(DESK_CARDS_JS)
    assert [card[0] for card in cards] == [
        "press-send",
        "press-time",
        "press-research",
        "press-guidelines",
    ]
    assert len({left for _id, left, _top, _width in cards}) == 1, cards
    assert len({width for *_rest, width in cards}) == 1, cards
    tops = [top for _id, _left, top, _width in cards]
    assert tops == sorted(tops) and len(set(tops)) == 4, cards
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_the_journalists_desk_sets_research_beside_what_to_send_on_a_landscape_tablet(
    live_server, page
):
    page.goto(live_server.url + "/press")
    cards = {card_id: (left, top) for card_id, left, top, _w in page.evaluate(DESK_CARDS_JS)}
    assert cards["press-research"][0] > cards["press-send"][0]
    assert cards["press-research"][1] == cards["press-send"][1]
    assert cards["press-time"][0] == cards["press-send"][0] == cards["press-guidelines"][0]
    assert cards["press-send"][1] < cards["press-time"][1] < cards["press-guidelines"][1]
