"""Mailchimp that just works: phones in E.164 from entry to export, only addresses Mailchimp
takes, consent columns it can map, and gentle suggestions for mistyped email domains."""

import csv
import io
import json
import re
import uuid

import pytest
from sqlalchemy import select

from kiosk import phones
from kiosk.extensions import db
from kiosk.models import Signup
from kiosk.services import email_typos, events, exports, imports, signups
from tests.helpers import HX, assert_fragment
from tests.test_imports import signup as bundle_signup
from tests.test_imports import tablet_bundle

E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def read_csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def sign_up(email: str, phone: str = "", consent: bool = True, **extra) -> Signup:
    return signups.record_signup(
        first_name=extra.pop("first_name", "Ana"),
        email=email,
        phone=phone,
        consent=consent,
        idempotency_key=uuid.uuid4().hex,
        **extra,
    )


def stored(app) -> list[Signup]:
    with app.app_context():
        rows = list(db.session.scalars(select(Signup).order_by(Signup.id)))
        db.session.expunge_all()
        return rows


# ---- Phones ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("(202) 555-0143", "+12025550143"),
        ("202.555.0143", "+12025550143"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+82 10-1234-5678", "+821012345678"),
        (
            "＋４４ ２０ ７９４６ ０９５８",
            "+442079460958",
        ),  # full-width, as a Korean keyboard types
    ],
)
def test_a_phone_is_stored_in_e164_read_in_the_packs_region(app, typed, e164):
    with app.app_context():
        assert phones.normalise_phone(typed, "US") == e164


@pytest.mark.parametrize(
    "typed", ["12", "555 0100", "+1 (555) 010-2030", "call me", "+" + "9" * 30]
)
def test_a_number_that_cannot_be_called_is_not_a_phone(typed):
    with pytest.raises(phones.NotAPhone):
        phones.normalise_phone(typed, "US")


def test_the_content_pack_names_the_default_phone_region(app):
    from kiosk.content import current_content

    with app.app_context():
        assert current_content().phone_region == "US"


def test_a_pack_with_an_unknown_phone_region_is_refused_naming_the_key(copy_pack):
    from kiosk.content import ContentError, load_pack

    pack = copy_pack(lambda text: text.replace('phone_region = "US"', 'phone_region = "XX"'))
    with pytest.raises(ContentError, match="org.phone_region"):
        load_pack(pack)


def test_the_visitor_signup_stores_the_phone_in_e164(app, client):
    data = {
        "first_name": "Ana",
        "email": "ana@example.org",
        "phone": "(202) 555-0143",
        "consent": "y",
        "idempotency_key": uuid.uuid4().hex,
    }
    assert client.post("/signup", data=data, headers=HX).status_code == 200
    assert [s.phone for s in stored(app)] == ["+12025550143"]


def test_the_visitor_signup_refuses_a_phone_that_cannot_be_called_beside_the_field(app, client):
    data = {"first_name": "Ana", "email": "ana@example.org", "phone": "555 0100", "consent": "y"}
    response = client.post("/signup", data=data, headers=HX)
    assert response.status_code == 422
    html = assert_fragment(response)
    assert 'id="phone-error"' in html and 'value="555 0100"' in html
    assert stored(app) == []


def test_the_volunteer_paper_signup_stores_the_phone_in_e164(app, client):
    from kiosk.services.volunteers import set_volunteer_pin

    with app.app_context():
        set_volunteer_pin("2580")
    client.post("/volunteer/unlock", data={"pin": "2580"})
    data = {"first_name": "Bo", "email": "bo@example.org", "phone": "+44 20 7946 0958"}
    response = client.post("/volunteer/signup", data=data | {"consent": "y"}, headers=HX)
    assert response.status_code == 200
    assert [s.phone for s in stored(app)] == ["+442079460958"]


def test_an_imported_phone_is_stored_in_e164_and_a_bad_one_is_reported(app):
    good = bundle_signup("a@example.org", "Ana", phone="(202) 555-0143")
    bad = bundle_signup("b@example.org", "Ben", phone="call me maybe")
    with app.app_context():
        report = imports.import_bundle(json.dumps(tablet_bundle([good, bad])))
        assert report.added == {"signups": 1}
        assert [(where, "phone" in why) for where, why in report.invalid] == [("signups[1]", True)]
    assert [s.phone for s in stored(app)] == ["+12025550143"]


# ---- The Mailchimp file ------------------------------------------------------------------------


@pytest.fixture
def people(app):
    with app.app_context():
        sign_up("eve@example.org", phone="+44 20 7946 0958", interests=["team"])
        sign_up("김@example.org", phone="(202) 555-0143")
        sign_up("min@exämple.org")
        event = events.active_event()
        db.session.add(Signup(event_id=event.id, first_name="No", email="quiet@example.org"))
        # A phone stored before phones were checked: a formula, never written as one.
        legacy = Signup(
            event_id=event.id,
            first_name="Old",
            email="old@example.org",
            phone="+1+2",
            consent_version="2026-11-v1",
            consent_at=event.created_at,
        )
        db.session.add(legacy)
        db.session.commit()
        yield event


def test_the_mailchimp_file_parsed_back_fits_mailchimp(people):
    text = "".join(exports.export_chunks(people, "mailchimp"))
    rows = read_csv(text)
    assert list(rows[0]) == [
        "Email Address",
        "First Name",
        "Last Name",
        "Phone Number",
        "Tags",
        "Language",
        "Consent Version",
        "Consent Date",
        "Consent Time",
    ]
    emails = [row["Email Address"] for row in rows]
    # One address per row, each with an ASCII local part; an IDN domain in its ASCII form.
    assert emails == ["eve@example.org", "min@xn--exmple-cua.org", "old@example.org"]
    assert all(e.split("@")[0].isascii() and e.count("@") == 1 for e in emails)
    assert rows[0]["Phone Number"] == "+442079460958"
    assert [row["Phone Number"] for row in rows[:2]] == ["+442079460958", ""]
    assert rows[2]["Phone Number"] == "'+1+2"  # not a phone: still neutralised
    for row in rows:
        assert row["Consent Version"] == "2026-11-v1"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["Consent Date"])
        assert row["Consent Time"].startswith(row["Consent Date"] + "T")
        assert row["Consent Time"].endswith("Z")


def test_the_signups_csv_keeps_every_address_and_writes_phones_without_an_apostrophe(people):
    rows = read_csv("".join(exports.export_chunks(people, "csv")))
    assert [row["Email"] for row in rows] == [
        "eve@example.org",
        "김@example.org",
        "min@exämple.org",
        "quiet@example.org",
        "old@example.org",
    ]
    assert rows[0]["Phone"] == "+442079460958" and rows[1]["Phone"] == "+12025550143"
    assert rows[4]["Phone"] == "'+1+2"


def test_the_data_page_counts_the_people_not_sent_to_mailchimp(app, people):
    from tests.lead_helpers import log_in, set_passphrase

    with app.app_context():
        assert exports.not_for_mailchimp(people) == 1
    set_passphrase(app)
    client = app.test_client()
    log_in(client)
    html = client.get("/lead/data").get_data(as_text=True)
    assert "not sent to Mailchimp" in html
    assert re.search(r"Demo event[^<]*</strong>:?\s*1\b", html)


# ---- Domain typos ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("name@gmial.com", "name@gmail.com"),
        ("name@gmail.con", "name@gmail.com"),
        ("name@hotmial.com", "name@hotmail.com"),
        ("name@yaho.com", "name@yahoo.com"),
        ("name@example.con", "name@example.com"),
        ("name@school.ogr", "name@school.org"),
        ("Name@GMAIL.CMO", "Name@gmail.com"),
    ],
)
def test_a_likely_domain_typo_gets_a_suggestion(typed, suggested):
    assert email_typos.suggest(typed) == suggested


@pytest.mark.parametrize(
    "typed",
    ["name@gmail.com", "name@mail.com", "name@example.co", "name@uni.ac.kr", "name@", "@", ""],
)
def test_a_likely_good_address_gets_no_suggestion(typed):
    assert email_typos.suggest(typed) is None


def test_the_signup_form_suggests_a_domain_fix_without_refusing(app, client):
    page = client.get("/signup").get_data(as_text=True)
    hint_url = re.search(r'id="email_field"[^>]*hx-post="([^"]+)"', page).group(1)
    hint = client.post(hint_url, data={"email": "ana@gmial.com"}, headers=HX)
    assert hint.status_code == 200
    assert hint.headers["Cache-Control"] == "no-store"
    html = assert_fragment(hint)
    assert "Did you mean" in html and "ana@gmail.com" in html
    # Taking the suggestion gives back the field holding it.
    used = client.post(hint_url, data={"email": "ana@gmail.com", "use": "1"}, headers=HX)
    assert 'id="email_field"' in used.get_data(as_text=True)
    assert 'value="ana@gmail.com"' in used.get_data(as_text=True)
    # Sent as typed, the sign-up is stored all the same.
    data = {"first_name": "Ana", "email": "ana@gmial.com", "consent": "y"}
    assert client.post("/signup", data=data, headers=HX).status_code == 200
    assert [s.email for s in stored(app)] == ["ana@gmial.com"]


def test_a_good_address_gets_an_empty_hint(client):
    html = client.post("/signup/email", data={"email": "ana@gmail.com"}, headers=HX)
    assert html.status_code == 200
    assert "Did you mean" not in html.get_data(as_text=True)


@pytest.mark.parametrize(
    "hostile", ["\x00@gmial.com", "a" * 5000 + "@gmial.com", "\u202egmial.com@x.com"]
)
def test_the_hint_takes_hostile_input_calmly(client, hostile):
    response = client.post("/signup/email", data={"email": hostile}, headers=HX)
    assert response.status_code in (200, 422)


def test_the_volunteers_paper_signup_gets_the_same_hint_and_stays_unlocked(app, client):
    from kiosk.services.volunteers import set_volunteer_pin

    with app.app_context():
        set_volunteer_pin("2580")
    client.post("/volunteer/unlock", data={"pin": "2580"})
    page = client.get("/volunteer/").get_data(as_text=True)
    hint_url = re.search(r'id="email_field"[^>]*hx-post="([^"]+)"', page).group(1)
    assert hint_url == "/volunteer/signup/email"
    html = client.post(hint_url, data={"email": "bo@hotmial.com"}, headers=HX)
    assert "bo@hotmail.com" in html.get_data(as_text=True)
    assert "+1 conversation" in client.get("/volunteer/").get_data(as_text=True)


# ---- Only what no earlier export held ----------------------------------------------------------


def _lead_exports(lead, event_id: int, format_name: str, only_new: bool = False):
    form = {"format": format_name, "event": str(event_id)}
    if only_new:
        form["only_new"] = "yes"
    response = lead.post("/lead/export", data=form)
    assert response.status_code == 200
    return response


def test_only_new_exports_hold_what_no_earlier_file_of_their_kind_held(app, lead):
    """The lead uploads to Mailchimp after each day of a two-day fair: the second file holds
    the new people and the one who changed, not everyone again. Marks, not clocks."""
    with app.app_context():
        sign_up("eve@example.org", first_name="Eve")
        sign_up("bo@example.org", first_name="Bo")
        event_id = events.active_event().id
    first = _lead_exports(lead, event_id, "mailchimp", only_new=True)
    assert [r["Email Address"] for r in read_csv(first.get_data(as_text=True))] == [
        "eve@example.org",
        "bo@example.org",
    ]
    assert "mailchimp-new.csv" in first.headers["Content-Disposition"]

    with app.app_context():  # day two: one new person, Bo signs up again with a phone
        sign_up("cy@example.org", first_name="Cy")
        sign_up("bo@example.org", first_name="Bo", phone="+44 20 7946 0958")
        # Someone on the paper sheet who did not tick "email me" (the forms always ask).
        db.session.add(Signup(event_id=event_id, first_name="No", email="no@example.org"))
        db.session.commit()
    second = _lead_exports(lead, event_id, "mailchimp", only_new=True)
    rows = read_csv(second.get_data(as_text=True))
    assert sorted(r["Email Address"] for r in rows) == ["bo@example.org", "cy@example.org"]
    assert [r["Phone Number"] for r in rows if r["Email Address"] == "bo@example.org"] == [
        "+442079460958"
    ]
    third = _lead_exports(lead, event_id, "mailchimp", only_new=True)
    assert read_csv(third.get_data(as_text=True)) == []  # the header, nothing else

    # The sign-ups CSV keeps its own marks: the person who did not agree to emails is in no
    # Mailchimp file, so they are what the sign-ups CSV has not written yet.
    sheet = _lead_exports(lead, event_id, "csv", only_new=True)
    assert [r["Email"] for r in read_csv(sheet.get_data(as_text=True))] == ["no@example.org"]
    # Without the box, every sign-up as before.
    everyone = _lead_exports(lead, event_id, "mailchimp")
    assert len(read_csv(everyone.get_data(as_text=True))) == 3
    assert "rescue-team_demo-event" in everyone.headers["Content-Disposition"]
    assert "-new" not in everyone.headers["Content-Disposition"]
    audit = lead.get("/lead/audit").get_data(as_text=True)
    assert "only what no earlier export held" in audit


def test_only_new_is_offered_on_the_data_page_and_ignored_by_formats_without_it(app, lead):
    html = lead.get("/lead/data").get_data(as_text=True)
    assert 'name="only_new" value="yes"' in html
    with app.app_context():
        sign_up("eve@example.org")
        event_id = events.active_event().id
    _lead_exports(lead, event_id, "questions", only_new=True)
    tallies = _lead_exports(lead, event_id, "tallies", only_new=True)
    assert "-new" not in tallies.headers["Content-Disposition"]


def test_a_format_without_only_new_does_not_claim_it_in_the_audit_log(app, runner, tmp_path):
    """`kiosk export --format pledges --only-new` writes every pledge: its audit entry must
    not say it holds only new ones."""
    result = runner.invoke(
        args=["export", "--format", "pledges", "--only-new", "--out", str(tmp_path / "p.csv")]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        from kiosk.models import AuditEntry

        details = db.session.scalars(select(AuditEntry.detail)).all()
    assert any("as pledges" in d for d in details)
    assert not any("only what no earlier export held" in d for d in details)
