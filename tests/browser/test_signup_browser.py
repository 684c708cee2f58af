"""In the browser: the sign-up by its labels, the thank-you's return, Back and reload,
no autofill of earlier visitors, and a pledge QR code that really decodes."""

import io
import re

import pytest
from PIL import Image
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Signup

pytestmark = pytest.mark.browser

RETURN_SECONDS = 1
EXPECTED_DONATE_URL = "https://www.libertyinnorthkorea.org/donate/?trackingSource=RescueTeamKiosk"


@pytest.fixture
def app_config() -> dict:
    # CSRF on, as at a real table: the forms and htmx must carry the token themselves.
    return {"WTF_CSRF_ENABLED": True, "KIOSK_THANKS_SECONDS": RETURN_SECONDS}


@pytest.fixture
def page(page):
    """The shared page, also noting every 404 so tests can tell a missing favicon from a bug."""
    page.not_found = []
    page.on("response", lambda r: page.not_found.append(r.url) if r.status == 404 else None)
    return page


def real_errors(page) -> list[str]:
    """Console errors, less the browser's notes about a 422 form answer and its favicon probe."""
    assert all(url.endswith("/favicon.ico") for url in page.not_found), page.not_found
    return [e for e in page.console_errors if "422" not in e and "404" not in e]


def fill_signup(page, email: str = "jisoo@example.org") -> None:
    page.get_by_label("First name").fill("지수")
    page.get_by_label("Last name").fill("Kim")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Phone").fill("+1 202 555 0130")
    page.get_by_label("School or organisation").fill("City College")
    page.get_by_label("Events", exact=True).check()
    page.get_by_label("Fundraising", exact=True).check()
    page.get_by_label("I agree").check()


def stored_signups(app) -> list[tuple[str, str, str, str]]:
    with app.app_context():
        rows = db.session.scalars(select(Signup).order_by(Signup.id))
        return [(s.first_name, s.email, s.interests, s.source) for s in rows]


def test_a_visitor_signs_up_by_the_labels_is_thanked_and_returned_to_the_opener(
    app, live_server, page
):
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Sign up").click()
    page.wait_for_url(live_server.url + "/signup")
    fill_signup(page)
    page.get_by_role("button", name="Sign me up").click()
    thanks = page.locator("#signup_thanks")
    thanks.wait_for()
    assert "Thank you!" in thanks.inner_text()
    assert stored_signups(app) == [("지수", "jisoo@example.org", "events,fundraising", "kiosk")]
    # The thank-you goes back to the opener by itself.
    page.wait_for_url(live_server.url + "/", timeout=(RETURN_SECONDS + 5) * 1000)
    assert page.locator(".choice-grid").is_visible()
    assert real_errors(page) == []


def test_errors_appear_beside_the_fields_in_place_and_keep_what_was_typed(app, live_server, page):
    page.goto(live_server.url + "/signup")
    page.get_by_label("First name").fill("Aiko")
    page.get_by_label("Email", exact=True).fill("aiko-at-example")
    page.get_by_role("button", name="Sign me up").click()
    error = page.locator("#email-error")
    error.wait_for()
    assert "email address" in error.inner_text()
    assert "tick the box" in page.locator("#consent-error").inner_text()
    assert page.get_by_label("First name").input_value() == "Aiko"
    assert page.get_by_label("Email", exact=True).input_value() == "aiko-at-example"
    assert page.url == live_server.url + "/signup"  # swapped in place, no navigation
    page.get_by_label("Email", exact=True).fill("aiko@example.org")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Sign me up").click()
    page.locator("#signup_thanks").wait_for()
    assert stored_signups(app) == [("Aiko", "aiko@example.org", "", "kiosk")]
    assert real_errors(page) == []


def assert_no_trace_of(page, *typed: str) -> None:
    html = page.content()
    for value in typed:
        assert value not in html
    for field in page.locator("input[type=text], input[type=email], input[type=tel]").all():
        assert field.input_value() == ""


def test_after_the_return_back_and_reload_show_an_empty_form(live_server, page):
    page.goto(live_server.url + "/faq")
    page.goto(live_server.url + "/signup")
    fill_signup(page, email="back.button@example.org")
    page.get_by_role("button", name="Sign me up").click()
    page.wait_for_url(live_server.url + "/", timeout=(RETURN_SECONDS + 5) * 1000)
    page.go_back()
    assert_no_trace_of(page, "back.button@example.org", "지수")
    page.reload()
    assert_no_trace_of(page, "back.button@example.org", "지수")
    # And a visitor who walks away mid-form: the link replaced the form in the history, so
    # Back goes to the page before it; Forward and reload show no trace either.
    page.goto(live_server.url + "/signup")
    fill_signup(page, email="half.done@example.org")
    page.get_by_role("link", name="Questions").click()
    page.wait_for_url(live_server.url + "/faq")
    page.go_back()
    assert page.url != live_server.url + "/signup"
    assert_no_trace_of(page, "half.done@example.org", "지수")
    page.go_forward()
    page.wait_for_url(live_server.url + "/faq")
    page.reload()
    assert_no_trace_of(page, "half.done@example.org", "지수")


def test_the_email_field_has_autocomplete_off_and_offers_no_earlier_entry(live_server, page):
    page.goto(live_server.url + "/signup")
    fill_signup(page, email="earlier.visitor@example.org")
    page.get_by_role("button", name="Sign me up").click()
    page.wait_for_url(live_server.url + "/", timeout=(RETURN_SECONDS + 5) * 1000)
    page.goto(live_server.url + "/signup")
    email = page.get_by_label("Email", exact=True)
    assert email.get_attribute("autocomplete") == "off"
    assert page.locator("form").first.get_attribute("autocomplete") == "off"
    assert email.get_attribute("list") is None  # no datalist of suggestions
    email.click()
    page.keyboard.type("e")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert email.input_value() == "e"
    for name in ("first_name", "last_name", "phone", "organisation"):
        assert page.locator(f"#{name}").get_attribute("autocomplete") == "off"


def test_the_pledge_qr_decodes_to_the_donate_url_with_the_tracking_source(live_server, page):
    import zxingcpp

    page.goto(live_server.url + "/pledge")
    page.get_by_label("One time").check()
    page.get_by_label("$50", exact=True).check()
    page.get_by_role("button", name=re.compile("Pledge and show")).click()
    qr = page.locator("#pledge_thanks img.qr")
    qr.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    assert "$50 pledged at this event" in page.locator("#pledge_thanks").inner_text()
    image = Image.open(io.BytesIO(qr.screenshot())).convert("L")
    # A quiet zone around the code helps the decoder, as paper does around a printed one.
    framed = Image.new("L", (image.width + 40, image.height + 40), 255)
    framed.paste(image, (20, 20))
    decoded = [result.text for result in zxingcpp.read_barcodes(framed)]
    assert decoded == [EXPECTED_DONATE_URL]
    assert real_errors(page) == []


def test_a_likely_domain_typo_is_suggested_taken_with_one_tap_and_never_refused(
    app, live_server, page
):
    page.goto(live_server.url + "/signup")
    page.get_by_label("Email", exact=True).fill("jisoo@gmial.con")
    page.get_by_label("Phone").click()  # leaving the field asks for a suggestion
    hint = page.locator("#email_hint")
    hint.get_by_text("Did you mean jisoo@gmail.com?").wait_for()
    hint.get_by_role("button", name="Yes, use it").click()
    email = page.get_by_label("Email", exact=True)
    page.wait_for_function("() => document.getElementById('email').value === 'jisoo@gmail.com'")
    assert page.evaluate("document.activeElement.id") == "email"
    # Kept as typed, a sign-up with a suggestion is stored all the same.
    email.fill("jisoo@gmial.con")
    fill_signup(page, email="jisoo@gmial.con")
    page.get_by_role("button", name="Sign me up").click()
    page.locator("#signup_thanks").wait_for()
    assert [row[1] for row in stored_signups(app)] == ["jisoo@gmial.con"]
    assert real_errors(page) == []
