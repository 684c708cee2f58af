"""In the browser, in Korean: one visitor switches to 한국어, answers, opens a question and
signs up with a Korean name; the next visitor meets English again."""

import csv
import io

import pytest
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Signup
from kiosk.services import exports
from kiosk.services.events import active_event

pytestmark = pytest.mark.browser

IDLE_SECONDS = 7
COUNTDOWN = 2


@pytest.fixture
def app_config() -> dict:
    # CSRF on, as at a real table; the thank-you stays long enough for the idle reset to act.
    return {
        "WTF_CSRF_ENABLED": True,
        "KIOSK_IDLE_SECONDS": IDLE_SECONDS,
        "KIOSK_IDLE_COUNTDOWN": COUNTDOWN,
        "KIOSK_THANKS_SECONDS": 60,
    }


def lang(page) -> str:
    return page.evaluate("document.documentElement.lang")


def test_a_visitor_goes_through_the_kiosk_in_korean_and_the_next_one_meets_english(
    app, live_server, page
):
    page.goto(live_server.url + "/")
    assert lang(page) == "en"
    page.get_by_role("link", name="한국어").click()
    page.get_by_role("heading", name="‘북한’ 하면 무엇이 먼저 떠오르나요?").wait_for()
    assert lang(page) == "ko"

    page.get_by_role("button", name="사람들").click()
    page.get_by_text("고른 답:").wait_for()
    assert "자유를 향한 길" in page.locator(".reframe").inner_text()

    page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="궁금한 점").click()
    entry = page.locator("#faq_entry-rescue-cost")
    entry.get_by_role("button", name="한 사람을 구출하는 데 비용이 얼마나 들어요?").click()
    entry.locator(".faq-short").wait_for()
    assert "$3,000" in entry.locator(".faq-short").inner_text()

    page.get_by_role("navigation", name="주 메뉴").get_by_role("link", name="가입하기").click()
    page.get_by_label("이름", exact=True).fill("민지")
    page.get_by_label("성 (선택)", exact=True).fill("김")
    page.get_by_label("이메일", exact=True).fill("minji@example.kr")
    page.get_by_label("행사", exact=True).check()
    page.get_by_label("이메일을 보내는 데 동의합니다").check()
    page.get_by_role("button", name="가입하기").click()
    thanks = page.locator("#signup_thanks")
    thanks.wait_for()
    assert "감사해요!" in thanks.inner_text() and "가입이 완료됐어요" in thanks.inner_text()
    assert lang(page) == "ko"

    # Nobody touches the tablet: "Still there?" in Korean, then the opener, in English.
    overlay = page.locator("#idle_overlay")
    overlay.wait_for(state="visible", timeout=(IDLE_SECONDS + 2) * 1000)
    assert "아직 계신가요?" in overlay.inner_text()
    page.get_by_role("heading", name="What comes to mind").wait_for(timeout=(COUNTDOWN + 4) * 1000)
    assert page.url == live_server.url + "/"
    assert lang(page) == "en"
    assert page.console_errors == []

    with app.app_context():
        [signup] = db.session.scalars(select(Signup))
        assert (signup.first_name, signup.last_name, signup.locale) == ("민지", "김", "ko")
        event = active_event()
        rows = list(csv.DictReader(io.StringIO("".join(exports.signups_csv(event))[1:])))
        chimp = list(csv.DictReader(io.StringIO("".join(exports.mailchimp_csv(event))[1:])))
    first = rows[0]
    assert (first["First Name"], first["Last Name"], first["Language"]) == ("민지", "김", "ko")
    assert (chimp[0]["First Name"], chimp[0]["Language"], chimp[0]["Tags"]) == (
        "민지",
        "ko",
        "Demo event,Events",
    )


def test_the_thank_you_returns_to_the_events_language(app, live_server, page):
    app.config["KIOSK_THANKS_SECONDS"] = 1
    page.goto(live_server.url + "/language/ko?next=/ask")
    page.get_by_label("질문 내용", exact=True).fill("탈북민은 어디에서 정착하나요?")
    page.get_by_role("button", name="질문 보내기").click()
    page.get_by_text("질문해 주셔서 감사해요!").wait_for()
    page.get_by_role("heading", name="What comes to mind").wait_for(timeout=6000)
    assert lang(page) == "en"


def test_a_korean_event_starts_each_visitor_in_korean(app, live_server, page):
    with app.app_context():
        active_event().locale = "ko"
        db.session.commit()
    page.goto(live_server.url + "/")
    assert lang(page) == "ko"
    page.get_by_role("link", name="English").click()
    page.get_by_role("heading", name="What comes to mind").wait_for()
    page.get_by_role("button", name="The people").click()
    page.get_by_text("You said:").wait_for()
    overlay = page.locator("#idle_overlay")
    overlay.wait_for(state="visible", timeout=(IDLE_SECONDS + 2) * 1000)
    page.get_by_role("heading", name="‘북한’ 하면 무엇이 먼저 떠오르나요?").wait_for(
        timeout=(COUNTDOWN + 4) * 1000
    )
    assert lang(page) == "ko"


def test_an_untouched_korean_opener_still_starts_over_for_the_next_visitor(live_server, page):
    """The opener is 'nothing to reset' only in the event's language."""
    page.goto(live_server.url + "/language/ko")
    page.get_by_role("heading", name="‘북한’ 하면 무엇이 먼저 떠오르나요?").wait_for()
    page.get_by_role("heading", name="What comes to mind").wait_for(
        timeout=(IDLE_SECONDS + COUNTDOWN + 4) * 1000
    )
    assert lang(page) == "en"
