"""In the browser: a volunteer unlocks the screen, counts a conversation, types a paper
sign-up and locks the tablet again."""

import pytest
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Signup
from kiosk.services.volunteers import set_volunteer_pin

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config() -> dict:
    return {"WTF_CSRF_ENABLED": True}


def test_a_volunteer_counts_types_a_paper_signup_and_locks(app, live_server, page):
    with app.app_context():
        set_volunteer_pin("2580")
    page.goto(live_server.url + "/volunteer/")
    page.get_by_label("PIN").fill("2580")
    page.get_by_role("button", name="Open").click()
    counter = page.locator("#volunteer_counter .counter-number")
    assert counter.inner_text() == "0"
    page.get_by_role("button", name="+1 conversation").click()
    page.wait_for_function("() => document.querySelector('.counter-number').textContent === '1'")

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
    assert page.console_errors == [] or all("404" in e for e in page.console_errors)
