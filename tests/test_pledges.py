"""Request-level tests of the pledge and ask screens."""

import re
import uuid

import pytest
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Pledge, Question
from kiosk.services import events, pledges
from tests.helpers import HX, assert_fragment, assert_full_page


def pledge_form(**changes) -> dict:
    data = {"kind": "once", "amount": "30", "idempotency_key": uuid.uuid4().hex} | changes
    return {k: v for k, v in data.items() if v is not None}


def all_of(app, model) -> list:
    with app.app_context():
        rows = list(db.session.scalars(select(model).order_by(model.id)))
        db.session.expunge_all()
        return rows


def test_the_pledge_page_offers_presets_other_and_monthly_and_never_card_fields(client):
    html = assert_full_page(client.get("/pledge"))
    for preset in ("15", "30", "50", "100", "3000"):
        assert f'name="amount" value="{preset}"' in html
    assert 'name="amount" value="other"' in html and 'name="amount_other"' in html
    assert 'name="kind" value="once"' in html and 'name="kind" value="monthly"' in html
    assert "t-shirt" in html
    assert "$3,000" in html
    # The page's random values (its CSRF token, its script nonce) once spelt "cvc" by chance.
    words = re.sub(r'(value|nonce|content)="[A-Za-z0-9._-]{20,}"', "", html).lower()
    for card_word in ("card number", "cvv", "cvc", "expiry", 'autocomplete="cc-'):
        assert card_word not in words
    assert 'id="pledge_form"' in assert_fragment(client.get("/pledge", headers=HX))


# A stored pledge and the total the database sums: both engines.
@pytest.mark.both_engines
def test_a_preset_pledge_is_stored_and_redirects_to_the_thank_you_with_its_qr(app, client):
    response = client.post("/pledge", data=pledge_form())
    assert response.status_code == 303
    assert "/pledge/thanks" in response.headers["Location"]
    [pledge] = all_of(app, Pledge)
    assert (pledge.kind, pledge.amount_cents, pledge.email, pledge.consent_at) == (
        "once",
        3000,
        "",
        None,
    )
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'src="/qr/donate.svg"' in html
    assert "Your pledge: $30" in html


def test_an_htmx_pledge_answers_the_qr_and_the_events_progress(app, client):
    client.post("/pledge", data=pledge_form(amount="100"))
    response = client.post("/pledge", data=pledge_form(kind="monthly", amount="50"), headers=HX)
    html = assert_fragment(response)
    assert html.lstrip().startswith('<section id="pledge_thanks"')
    assert 'src="/qr/monthly.svg"' in html
    assert "Your pledge: $50 a month" in html
    assert "$150 pledged at this event: 5% of one rescue ($3,000)" in html
    assert '<rect class="progress-fill" width="5"' in html
    assert 'data-return-after="45"' in html
    assert "style=" not in html


def test_other_amounts_accept_dollars_and_cents(app, client):
    client.post("/pledge", data=pledge_form(amount="other", amount_other="$1,250.5"))
    client.post("/pledge", data=pledge_form(amount=None, amount_other="42"))
    assert [p.amount_cents for p in all_of(app, Pledge)] == [125050, 4200]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"amount": None}, "amount", "Please choose an amount."),
        ({"amount": "31"}, "amount", "Please choose an amount."),
        ({"amount": "other", "amount_other": "lots"}, "amount_other", "in dollars"),
        ({"amount": "other", "amount_other": "0"}, "amount_other", "smallest amount is $1"),
        ({"amount": "other", "amount_other": "-5"}, "amount_other", "in dollars"),
        ({"amount": "other", "amount_other": "100001"}, "amount_other", "at most"),
        ({"kind": "monthly", "amount": "other", "amount_other": "0"}, "amount_other", "$1"),
        ({"kind": "monthly", "amount_other": "100001", "amount": "other"}, "amount_other", "most"),
        ({"kind": "yearly"}, "kind", "one-time or monthly"),
        ({"email": "nope"}, "email", "look like an email"),
        ({"email": "a@example.org"}, "consent", "Please tick the box"),
        ({"name": "N" * 121}, "name", "under 120 characters"),
    ],
)
def test_each_invalid_pledge_field_is_refused_in_place(app, client, changes, field, message):
    response = client.post("/pledge", data=pledge_form(**changes), headers=HX)
    assert response.status_code == 422
    html = assert_fragment(response)
    assert message in html.split(f'id="{field}-error">')[1].split("</p>")[0]
    assert all_of(app, Pledge) == []


def test_a_monthly_gift_of_any_amount_is_welcome_and_15_a_month_is_only_the_t_shirt(app, client):
    """Seed 004: $15 or more a month earns a free t-shirt; it is no minimum."""
    html = client.get("/pledge").get_data(as_text=True)
    assert "start at" not in html
    assert "who give $15 or more a month a free t-shirt" in html
    for typed in ("10", "1", "2.50"):
        data = pledge_form(kind="monthly", amount="other", amount_other=typed)
        assert client.post("/pledge", data=data, headers=HX).status_code == 200
    assert [(p.kind, p.amount_cents) for p in all_of(app, Pledge)] == [
        ("monthly", 1000),
        ("monthly", 100),
        ("monthly", 250),
    ]


@pytest.mark.parametrize(
    ("cents", "share", "width"),
    [(0, "0%", 0), (1500, "<1%", 1), (100, "<1%", 1), (2999, "<1%", 1), (3000, "1%", 1)],
)
def test_the_progress_never_reads_0_percent_once_something_is_pledged(app, cents, share, width):
    with app.app_context():
        progress = pledges.Progress(total_cents=cents, rescue_cost_cents=300_000)
        assert (progress.share, progress.bar_percent) == (share, width)


def test_after_a_15_dollar_pledge_the_bar_reads_less_than_1_percent_not_0(app, client):
    response = client.post("/pledge", data=pledge_form(amount="15"), headers=HX)
    html = assert_fragment(response)
    assert "$15 pledged at this event: &lt;1% of one rescue ($3,000)" in html
    assert " 0% of one rescue" not in html
    assert '<rect class="progress-fill" width="1"' in html


def test_a_pledge_with_an_email_and_consent_stores_the_consent(app, client):
    data = pledge_form(name="홍길동", email="Hong@Example.org", consent="y")
    assert client.post("/pledge", data=data).status_code == 303
    [pledge] = all_of(app, Pledge)
    assert (pledge.name, pledge.email, pledge.consent_version) == (
        "홍길동",
        "hong@example.org",
        "2026-11-v1",
    )


# A stored pledge and the total the database sums: both engines.
@pytest.mark.both_engines
def test_a_resent_pledge_is_counted_once(app, client):
    data = pledge_form()
    client.post("/pledge", data=data, headers=HX)
    client.post("/pledge", data=data, headers=HX)
    assert len(all_of(app, Pledge)) == 1


# A stored pledge and the total the database sums: both engines.
@pytest.mark.both_engines
def test_progress_is_the_pledged_total_as_a_share_of_the_events_rescue_cost(app):
    with app.app_context():
        event = events.create_event("Gala", rescue_cost_cents=200_000, activate=True)
        for amount in ("100", "other"):
            pledges.record_pledge(kind="once", amount=amount, amount_other="2900")
        progress = pledges.progress(event)
        assert progress.total_cents == 300_000
        assert (progress.percent, progress.bar_percent, progress.rescues) == (150, 100, 1)
        assert pledges.presets(event)[-1] == 2000


def test_pledge_pages_are_never_cached(client):
    for response in (
        client.get("/pledge"),
        client.post("/pledge", data=pledge_form(amount=None), headers=HX),
        client.post("/pledge", data=pledge_form(), headers=HX),
        client.get("/pledge/thanks?kind=once&cents=3000"),
    ):
        assert response.headers["Cache-Control"] == "no-store"


def test_a_question_is_stored_for_the_lead_and_thanked_with_a_return(app, client):
    data = {"question": "  How do\r\nrescues\u0007 work?  ", "idempotency_key": uuid.uuid4().hex}
    response = client.post("/ask", data=data, headers=HX)
    html = assert_fragment(response)
    assert response.status_code == 200 and 'id="ask_thanks"' in html
    assert "data-return-after" in html
    assert response.headers["Cache-Control"] == "no-store"
    client.post("/ask", data=data, headers=HX)
    [question] = all_of(app, Question)
    assert question.text == "How do\nrescues work?"
    assert question.email == "" and question.consent_at is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"question": ""}, "question", "Please write your question."),
        ({"question": "x" * 1001}, "question", "under 1000 characters"),
        ({"question": "Why?", "email": "bad"}, "email", "look like an email"),
        ({"question": "Why?", "email": "me@example.org"}, "consent", "Please tick the box"),
    ],
)
def test_each_invalid_ask_field_is_refused_in_place(app, client, data, field, message):
    response = client.post("/ask", data=data, headers=HX)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True).split(f'id="{field}-error">')[1]
    assert all_of(app, Question) == []


def test_a_question_with_an_email_and_consent_keeps_both(app, client):
    data = {"question": "Can I volunteer?", "email": "me@example.org", "consent": "y"}
    assert client.post("/ask", data=data).status_code == 303
    [question] = all_of(app, Question)
    assert question.email == "me@example.org" and question.consent_version == "2026-11-v1"


def test_the_faq_links_to_ask(client):
    assert 'href="/ask"' in client.get("/faq").get_data(as_text=True)
