"""Every form carries an idempotency key: a double tap, a resend after a flaky moment or two
taps at once create exactly one record, and each gets the same thank-you."""

import re
import threading

import pytest
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import Pledge, PressRequest, Question, Signup
from kiosk.services import volunteers
from tests.helpers import HX

PIN = "2468"

# (form page, where it posts, what it stores, a valid filling-in)
FORMS = {
    "signup": (
        "/signup",
        "/signup",
        Signup,
        {"first_name": "Ana", "email": "ana@example.org", "consent": "y"},
    ),
    "pledge": (
        "/pledge",
        "/pledge",
        Pledge,
        {"kind": "once", "amount": "other", "amount_other": "30"},
    ),
    "ask": ("/ask", "/ask", Question, {"question": "Where do people go after a rescue?"}),
    "press_request": (
        "/press/request",
        "/press/request",
        PressRequest,
        {
            "name": "Jo",
            "outlet": "Example News",
            "website": "news.example.com",
            "commissioned": "no",
            "topics": "Resettlement",
            "email": "jo@news.example.com",
            "agree": "y",
        },
    ),
    "volunteer_signup": (
        "/volunteer/",
        "/volunteer/signup",
        Signup,
        {"first_name": "Paper", "email": "paper@example.org", "consent": "y"},
    ),
}


@pytest.fixture
def visitor(app, client):
    """A client that may also use the volunteer screen (unlocked with the PIN)."""
    with app.app_context():
        volunteers.set_volunteer_pin(PIN)
    return client


def open_form(client, name: str) -> str:
    page, _, _, _ = FORMS[name]
    if page.startswith("/volunteer"):
        assert client.post("/volunteer/unlock", data={"pin": PIN}).status_code == 303
    html = client.get(page).get_data(as_text=True)
    keys = re.findall(r'name="idempotency_key" value="([0-9a-f]{32})"', html)
    assert keys, f"the {name} form carries an idempotency key"
    return keys[0]


def stored(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("name", list(FORMS))
def test_every_form_renders_a_fresh_idempotency_key(visitor, name):
    assert open_form(visitor, name) != open_form(visitor, name)


@pytest.mark.parametrize("name", list(FORMS))
def test_a_double_tap_stores_one_record_and_thanks_both_taps_alike(app, visitor, name):
    _, action, model, data = FORMS[name]
    before = stored(app, model)
    form = data | {"idempotency_key": open_form(visitor, name)}
    first, second = visitor.post(action, data=form), visitor.post(action, data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert stored(app, model) == before + 1


@pytest.mark.parametrize("name", ["signup", "pledge", "ask"])
def test_an_htmx_resend_gets_the_same_thank_you_block(app, visitor, name):
    _, action, model, data = FORMS[name]
    form = data | {"idempotency_key": open_form(visitor, name)}
    first = visitor.post(action, data=form, headers=HX)
    second = visitor.post(action, data=form, headers=HX)
    assert first.status_code == second.status_code == 200
    strip_keys = re.compile(r'value="[0-9a-f]{32}"')  # the next form's fresh key differs
    assert strip_keys.sub("", first.get_data(as_text=True)) == strip_keys.sub(
        "", second.get_data(as_text=True)
    )
    assert stored(app, model) == 1


@pytest.mark.parametrize("name", ["signup", "pledge", "ask"])
def test_two_taps_at_the_same_moment_store_one_record(app, name):
    _, action, model, data = FORMS[name]
    key = open_form(app.test_client(), name)
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def tap() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post(action, data=data | {"idempotency_key": key}).status_code)

    taps = [threading.Thread(target=tap) for _ in range(4)]
    for thread in taps:
        thread.start()
    for thread in taps:
        thread.join(timeout=30)
    assert statuses == [303] * 4
    assert stored(app, model) == 1
