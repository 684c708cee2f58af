"""Every form carries an idempotency key: a double tap, a resend after a flaky moment or two
taps at once create exactly one record, and each gets the same thank-you."""

import re
import threading

import pytest
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import Pledge, PressRequest, Question, Signup, Tally
from kiosk.services import volunteers
from tests.helpers import HX, PRESS_REQUEST

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines

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
        PRESS_REQUEST,
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


CHANGED = {
    "signup": {"email": "ana.lima@example.org"},
    "pledge": {"amount_other": "45"},
    "ask": {"question": "How long does a rescue take?"},
    "press_request": {"outlet": "Another Weekly"},
    "volunteer_signup": {"email": "paper.two@example.org"},
}


@pytest.mark.parametrize("name", list(FORMS))
def test_a_resend_with_the_same_key_but_other_content_is_stored_not_dropped(app, visitor, name):
    _, action, model, data = FORMS[name]
    before = stored(app, model)
    key = open_form(visitor, name)
    changed = data | CHANGED[name] | {"idempotency_key": key}
    assert visitor.post(action, data=data | {"idempotency_key": key}).status_code == 303
    assert visitor.post(action, data=changed).status_code == 303
    assert visitor.post(action, data=changed).status_code == 303  # sent once more: once
    assert stored(app, model) == before + 2
    field, value = next(iter(CHANGED[name].items()))
    column = {"amount_other": "amount_cents", "question": "text"}.get(field, field)
    value = {"45": 4500}.get(value, value)
    with app.app_context():
        kept = db.session.scalars(select(getattr(model, column))).all()
    assert value in kept, f"the changed {name} is kept"


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


# Taps: an opener answer and an FAQ open, each from the form the page rendered.
TAPS = {
    "opener": ("/", "/opener", {"choice": "people"}, Tally.OPENER),
    "faq_open": ("/faq", "/faq/what-we-do", {"depth": "short"}, Tally.FAQ_OPEN),
    "faq_more": ("/faq/what-we-do", "/faq/what-we-do", {"depth": "more"}, Tally.FAQ_MORE),
}


def tap_key(client, page: str) -> str:
    html = client.get(page).get_data(as_text=True)
    keys = re.findall(r'name="idempotency_key" value="([0-9a-f]{32})"', html)
    assert keys, f"the tap forms of {page} carry an idempotency key"
    return keys[0]


def taps_of(app, kind: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Tally).where(Tally.kind == kind))


@pytest.mark.parametrize("name", list(TAPS))
def test_a_retried_tap_counts_once(app, client, name):
    """A tap the tablet sends again after a timeout (same form, same key) is one tap."""
    page, action, data, kind = TAPS[name]
    form = data | {"idempotency_key": tap_key(client, page)}
    first = client.post(action, data=form, headers=HX)
    second = client.post(action, data=form, headers=HX)
    assert first.status_code == second.status_code == 200
    strip_keys = re.compile(r'value="[0-9a-f]{32}"')  # the next forms' fresh key differs
    assert strip_keys.sub("", first.get_data(as_text=True)) == strip_keys.sub(
        "", second.get_data(as_text=True)
    )
    assert taps_of(app, kind) == 1


def test_each_page_renders_a_fresh_tap_key_and_each_counts(app, client):
    first, second = tap_key(client, "/"), tap_key(client, "/")
    assert first != second
    for key in (first, second):
        client.post("/opener", data={"choice": "people", "idempotency_key": key}, headers=HX)
    assert taps_of(app, Tally.OPENER) == 2


def test_one_faq_page_key_counts_each_question_once(app, client):
    """The FAQ page's forms share the page's key: each question it opens still counts."""
    key = tap_key(client, "/faq")
    for slug in ("what-we-do", "why-rescue-team"):
        form = {"depth": "short", "idempotency_key": key}
        assert client.post(f"/faq/{slug}", data=form, headers=HX).status_code == 200
        assert client.post(f"/faq/{slug}", data=form, headers=HX).status_code == 200
    assert taps_of(app, Tally.FAQ_OPEN) == 2


def test_a_tap_without_a_key_still_counts(app, client):
    """An old page (rendered before keys) or a key of the wrong shape: counted, not refused."""
    for key in ("", "not-a-key"):
        client.post("/opener", data={"choice": "people", "idempotency_key": key})
    client.post("/opener", data={"choice": "people"})
    assert taps_of(app, Tally.OPENER) == 3


def test_retried_taps_at_the_same_moment_count_once(app):
    key = tap_key(app.test_client(), "/")
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def tap() -> None:
        client = app.test_client()
        barrier.wait()
        form = {"choice": "people", "idempotency_key": key}
        statuses.append(client.post("/opener", data=form, headers=HX).status_code)

    taps = [threading.Thread(target=tap) for _ in range(4)]
    for thread in taps:
        thread.start()
    for thread in taps:
        thread.join(timeout=30)
    assert statuses == [200] * 4
    assert taps_of(app, Tally.OPENER) == 1


def test_a_resent_tap_counts_once_whatever_the_page_said(app, client):
    """The server's side alone: the same key sent twice is one tap (counted twice before)."""
    form = {"choice": "people", "idempotency_key": "0123456789abcdef0123456789abcdef"}
    client.post("/opener", data=form, headers=HX)
    client.post("/opener", data=form, headers=HX)
    assert taps_of(app, Tally.OPENER) == 1
