"""Focus and announcements: after every in-page swap on the visitor screens, keyboard and
screen-reader focus moves to the new content's heading (tabindex="-1"), and the page's
polite live region (#announcer) says what changed (in words of its own: the heading is read
as it takes focus). The live chart's refresh takes neither."""

import re

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config() -> dict:
    return {"WTF_CSRF_ENABLED": True, "KIOSK_THANKS_SECONDS": 60}


def focused(page) -> dict:
    return page.evaluate(
        """() => { const e = document.activeElement;
                   return {tag: e.tagName.toLowerCase(), text: e.textContent.trim(),
                           tabindex: e.getAttribute('tabindex'), id: e.id,
                           inside: e.closest('[id]') ? e.closest('[id]').id : ''}; }"""
    )


def announced(page, words: str) -> str:
    """Wait until #announcer holds `words` (it is emptied first, then filled)."""
    page.wait_for_function(
        "words => document.getElementById('announcer').textContent.includes(words)", arg=words
    )
    return page.locator("#announcer").inner_text()


def wait_for_heading_focus(page, tag: str) -> dict:
    page.wait_for_function(f"() => document.activeElement.tagName === '{tag.upper()}'")
    return focused(page)


def test_an_opener_answer_focuses_the_reframe_heading_and_says_what_was_chosen(live_server, page):
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="The people").click()
    page.get_by_text("You said:").wait_for()
    now = wait_for_heading_focus(page, "h1")
    assert now["tabindex"] == "-1"
    assert now["text"] == page.locator(".reframe-title").inner_text()
    announced(page, "Your answer is counted.")


def test_the_live_chart_refresh_takes_no_focus_and_says_nothing(live_server, page):
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="Not sure").click()
    wait_for_heading_focus(page, "h1")
    announced(page, "Your answer is counted.")
    page.get_by_role("link", name="How can I help?").focus()
    page.evaluate("document.getElementById('announcer').textContent = 'before'")
    # The chart polls itself every 30 s; here the same request, from the chart, now.
    with page.expect_response(re.compile(r"/opener/chart$")):
        page.evaluate(
            """htmx.ajax('GET', '/opener/chart',
                         {source: '#opener_chart', target: '#opener_chart', swap: 'outerHTML'})"""
        )
    page.wait_for_timeout(300)
    assert focused(page)["text"] == "How can I help?"
    assert page.locator("#announcer").inner_text() == "before"


def test_an_faq_answer_opening_more_and_closing_focus_its_heading_and_announce_it(
    live_server, page
):
    page.goto(live_server.url + "/faq")
    entry = page.locator("#faq_entry-rescue-cost")
    entry.get_by_role("button").click()
    entry.locator(".faq-short").wait_for()
    now = wait_for_heading_focus(page, "h3")
    assert (now["inside"], now["tabindex"]) == ("faq_entry-rescue-cost", "-1")
    announced(page, "Answer shown.")

    entry.get_by_role("button", name="Tell me more").click()
    entry.locator(".faq-more").wait_for()
    page.wait_for_function(
        "() => document.activeElement.closest('li') && "
        "document.activeElement.closest('li').querySelector('.faq-more')"
    )
    assert focused(page)["tag"] == "h3"
    announced(page, "Longer answer shown.")

    entry.get_by_role("link", name="Back to the questions").click()
    entry.locator(".faq-short").wait_for(state="detached")
    now = wait_for_heading_focus(page, "h3")
    assert now["inside"] == "faq_entry-rescue-cost"
    announced(page, "Answer closed.")


def test_a_form_with_errors_focuses_its_heading_and_announces_the_problem(live_server, page):
    page.goto(live_server.url + "/signup")
    page.get_by_label("First name").fill("Aiko")
    page.get_by_role("button", name="Sign me up").click()
    page.locator(".field-error").first.wait_for()
    now = wait_for_heading_focus(page, "h1")
    assert (now["text"], now["tabindex"]) == ("Stay in touch", "-1")
    announced(page, "Not sent yet: please check the marked fields.")


def test_the_thank_you_takes_focus_and_is_announced(live_server, page):
    page.goto(live_server.url + "/ask")
    page.get_by_label("Your question").fill("How do rescues work?")
    page.get_by_role("button", name="Send my question").click()
    page.locator("#ask_thanks").wait_for()
    now = wait_for_heading_focus(page, "h1")
    assert (now["text"], now["tabindex"]) == ("Thanks for asking!", "-1")
    announced(page, "Your question was sent.")


def test_a_calm_error_panel_swapped_in_takes_focus(live_server, page):
    page.goto(live_server.url + "/")
    page.evaluate(
        """() => {
          const extra = document.createElement('input');
          extra.type = 'hidden'; extra.name = 'padding'; extra.value = 'x'.repeat(70000);
          document.querySelector('form.choice-grid').appendChild(extra);
        }"""
    )
    page.get_by_role("button", name="The people").click()
    page.get_by_text("That is more than we can take").wait_for()
    now = wait_for_heading_focus(page, "h1")
    assert now["text"] == "That is more than we can take"
    announced(page, "What was sent is too long")
