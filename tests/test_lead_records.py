"""The lead's Records page: search an event's sign-ups, pledges and questions, correct a
field (checked like the form it came from, audited by hash, never in clear), erase one."""

import re
import uuid

import pytest
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import AuditEntry, Event, Pledge, Question, Signup
from kiosk.services import events, pledges, questions, signups
from tests.data_helpers import count, with_email
from tests.helpers import HX, assert_fragment, assert_full_page, csrf_token_of
from tests.lead_helpers import log_in, set_passphrase

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


@pytest.fixture
def lead_client(app, client):
    set_passphrase(app)
    assert log_in(client).status_code == 303
    return client


@pytest.fixture
def people(app) -> dict[str, int]:
    """A sign-up, a pledge and a question at the active event; another event's sign-up."""
    with app.app_context():
        ana = signups.record_signup(
            first_name="Ana", email="ana@gmial.com", phone="(202) 555-0143", consent=True
        )
        pledge = pledges.record_pledge(
            kind="once", amount="50", name="Ana Lee", email="ana@example.org", consent=True
        )
        question = questions.record_question(question="How are rescues planned?")
        other = events.create_event("Spring fair", on=None)
        db.session.add(Signup(event_id=other.id, first_name="Zed", email="zed@example.org"))
        db.session.commit()
        return {
            "event": events.active_event().id,
            "other": other.id,
            "signup": ana.id,
            "pledge": pledge.id,
            "question": question.id,
        }


def audit_details(app, action: str) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(select(AuditEntry.detail).where(AuditEntry.action == action))
        )


def test_the_records_page_lists_the_events_records_and_is_never_cached(lead_client, people):
    response = lead_client.get(f"/lead/records?event={people['event']}")
    html = assert_full_page(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert 'aria-current="page"' in html and ">Records<" in html
    assert "ana@gmial.com" in html and "Ana Lee" in html and "How are rescues planned?" in html
    assert "zed@example.org" not in html  # another event's


def test_searching_finds_across_kinds_and_the_results_are_a_fragment(lead_client, people):
    response = lead_client.get(f"/lead/records?event={people['event']}&q=ANA", headers=HX)
    html = assert_fragment(response)
    assert html.lstrip().startswith('<section id="records_results"')
    assert "ana@gmial.com" in html and "Ana Lee" in html
    assert "How are rescues planned?" not in html
    nothing = lead_client.get(f"/lead/records?event={people['event']}&q=100%25_", headers=HX)
    assert "No records match" in nothing.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "event=abc",
        "event=99999999999999999999999",
        "event=-1",
        "event=1&q=" + "x" * 5000,
        "event=1&q=%00%1b%E2%80%AE",
        "event=1&q=%ED%A0%80",
        "q[]=1&event[]=2",
    ],
)
def test_hostile_search_values_never_give_a_server_error(lead_client, people, query):
    response = lead_client.get(f"/lead/records?{query}")
    assert response.status_code in (200, 404, 422)


def test_a_correction_is_stored_and_audited_by_hash_never_in_clear(app, lead_client, people):
    url = f"/lead/records/signup/{people['signup']}"
    form = assert_full_page(lead_client.get(url))
    assert 'value="ana@gmial.com"' in form
    response = lead_client.post(
        url,
        data={
            "first_name": "Ana",
            "last_name": "Lee",
            "email": "ana@gmail.com",
            "phone": "+44 20 7946 0958",
            "organisation": "",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert "Saved" in assert_fragment(response)
    with app.app_context():
        ana = db.session.get(Signup, people["signup"])
        assert (ana.email, ana.last_name, ana.phone) == ("ana@gmail.com", "Lee", "+442079460958")
    [detail] = audit_details(app, "record.correct")
    assert "signup" in detail and "email" in detail and "phone" in detail
    assert "first_name" not in detail  # unchanged fields are not mentioned
    for clear in ("gmial", "gmail", "ana@", "Lee", "7946", "+44"):
        assert clear not in detail
    assert re.search(r"email [0-9a-f]{12}→[0-9a-f]{12}", detail)


@pytest.mark.parametrize(
    ("kind", "field", "value", "message"),
    [
        ("signup", "email", "not-an-email", "email address"),
        ("signup", "email", "", "Please enter your email address."),
        ("signup", "first_name", "", "first name"),
        ("signup", "phone", "555 0100", "phone number"),
        ("signup", "first_name", "A" * 81, "under 80"),
        ("pledge", "email", "x@", "email address"),
        ("question", "text", "", "question"),
    ],
)
def test_a_wrong_correction_is_refused_beside_its_field_and_nothing_changes(
    app, lead_client, people, kind, field, value, message
):
    url = f"/lead/records/{kind}/{people[kind]}"
    current = {
        "signup": {"first_name": "Ana", "email": "ana@gmial.com", "phone": "", "last_name": ""},
        "pledge": {"name": "Ana Lee", "email": "ana@example.org"},
        "question": {"text": "How are rescues planned?", "email": ""},
    }[kind]
    model = {"signup": Signup, "pledge": Pledge, "question": Question}[kind]
    with app.app_context():
        before = {k: getattr(db.session.get(model, people[kind]), k) for k in current}
    response = lead_client.post(url, data=current | {field: value}, headers=HX)
    assert response.status_code == 422
    html = assert_fragment(response)
    error = html.split(f'id="{field}-error">')[1].split("</p>")[0]
    assert message in error.replace("&#39;", "'")
    with app.app_context():
        assert {k: getattr(db.session.get(model, people[kind]), k) for k in current} == before
    assert audit_details(app, "record.correct") == []


def test_an_email_cannot_be_added_where_the_person_gave_no_consent(app, lead_client, people):
    url = f"/lead/records/question/{people['question']}"
    data = {"text": "How are rescues planned?", "email": "q@example.org"}
    response = lead_client.post(url, data=data, headers=HX)
    assert response.status_code == 422
    assert "did not agree" in response.get_data(as_text=True)


def test_correcting_an_email_to_another_signup_of_the_event_is_refused(app, lead_client, people):
    with app.app_context():
        signups.record_signup(first_name="Bo", email="bo@example.org", consent=True)
    url = f"/lead/records/signup/{people['signup']}"
    data = {"first_name": "Ana", "email": "BO@example.org"}
    response = lead_client.post(url, data=data, headers=HX)
    assert response.status_code == 422
    assert "Another sign-up" in response.get_data(as_text=True)
    assert count(app, Signup, with_email(Signup, "bo@example.org")) == 1


def test_erasing_a_record_needs_the_box_then_deletes_it_and_audits_without_names(
    app, lead_client, people
):
    url = f"/lead/records/signup/{people['signup']}/erase"
    refused = lead_client.post(url, data={}, headers=HX)
    assert refused.status_code == 422
    assert count(app, Signup, Signup.id == people["signup"]) == 1
    done = lead_client.post(url, data={"confirm": "yes"})
    assert done.status_code == 303
    assert count(app, Signup, Signup.id == people["signup"]) == 0
    [detail] = audit_details(app, "record.erase")
    assert "ana" not in detail.lower()
    # A pledge keeps its amount: the event's total does not change.
    lead_client.post(f"/lead/records/pledge/{people['pledge']}/erase", data={"confirm": "yes"})
    with app.app_context():
        pledge = db.session.get(Pledge, people["pledge"])
        assert (pledge.amount_cents, pledge.name, pledge.email) == (5000, "", "")


@pytest.mark.parametrize(
    "path",
    [
        "/lead/records/signup/999999",
        "/lead/records/tally/1",
        "/lead/records/signup/abc",
        "/lead/records/signup/99999999999999999999999",
        "/lead/records/signup/999999/erase",
    ],
)
def test_a_record_that_is_not_there_is_a_404_never_a_500(lead_client, people, path):
    assert lead_client.get(path).status_code in (404, 405)
    assert lead_client.post(path, data={"confirm": "yes"}).status_code in (404, 405)


def test_the_records_page_needs_the_lead(client, people):
    assert client.get("/lead/records").status_code == 303
    assert client.post(f"/lead/records/signup/{people['signup']}/erase").status_code == 303


@pytest.fixture
def app_config(request) -> dict:
    return {"WTF_CSRF_ENABLED": getattr(request, "param", False)}


@pytest.mark.parametrize("app_config", [True], indirect=True)
def test_a_correction_without_a_csrf_token_is_refused_and_changes_nothing(app, client, people):
    set_passphrase(app)
    login_page = client.get("/lead/login").get_data(as_text=True)
    client.post(
        "/lead/login",
        data={
            "passphrase": "correct horse battery staple",
            "csrf_token": csrf_token_of(login_page),
        },
    )
    url = f"/lead/records/signup/{people['signup']}"
    assert "ana@gmial.com" in client.get(url).get_data(as_text=True)
    refused = client.post(url, data={"first_name": "Eve", "email": "eve@example.org"})
    assert refused.status_code == 400
    refused = client.post(url + "/erase", data={"confirm": "yes"})
    assert refused.status_code == 400
    with app.app_context():
        assert db.session.get(Signup, people["signup"]).email == "ana@gmial.com"


def test_event_ids_are_of_events_not_other_records(lead_client, people):
    # A record of another event is still found by its own page (ids are global).
    html = lead_client.get(f"/lead/records?event={people['other']}").get_data(as_text=True)
    assert "zed@example.org" in html and "ana@gmial.com" not in html
    assert lead_client.get("/lead/records?event=424242").status_code == 404


def test_a_correction_keeps_the_uuid_so_merges_still_match(app, lead_client, people):
    with app.app_context():
        before = db.session.get(Signup, people["signup"]).uuid
    lead_client.post(
        f"/lead/records/signup/{people['signup']}", data={"first_name": "Anna", "email": "a@x.org"}
    )
    with app.app_context():
        assert db.session.get(Signup, people["signup"]).uuid == before
        assert str(uuid.UUID(before)) == before
        assert db.session.scalar(select(Event.id).where(Event.id == people["event"]))


def test_an_erased_record_is_not_brought_back_by_a_tablets_old_file(app, lead_client, people):
    from kiosk.services import exports, imports

    with app.app_context():
        old_file = exports.json_bundle(db.session.get(Event, people["event"]))
    lead_client.post(f"/lead/records/signup/{people['signup']}/erase", data={"confirm": "yes"})
    with app.app_context():
        report = imports.import_bundle(old_file)
        assert report.not_restored == 1
    assert count(app, Signup, with_email(Signup, "ana@gmial.com")) == 0


def test_a_correction_makes_the_record_due_in_the_next_export(app, lead_client, people):
    with app.app_context():
        before = db.session.get(Signup, people["signup"]).revision
    lead_client.post(
        f"/lead/records/signup/{people['signup']}", data={"first_name": "Anna", "email": "a@x.org"}
    )
    with app.app_context():
        assert db.session.get(Signup, people["signup"]).revision == before + 1
