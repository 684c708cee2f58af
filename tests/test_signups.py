"""Request-level tests of the sign-up: validation, consent, one record per person, privacy."""

import re
import uuid

import pytest
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Signup
from tests.helpers import HX, assert_fragment, assert_full_page

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines

VALID = {
    "first_name": "Min-ji",
    "last_name": "Park",
    "email": "minji@example.org",
    "phone": "+1 (202) 555-0143",
    "organisation": "State University",
    "interests": ["team", "events"],
    "consent": "y",
}


def form(**changes) -> dict:
    data = VALID | {"idempotency_key": uuid.uuid4().hex}
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def signups(app) -> list[Signup]:
    with app.app_context():
        rows = list(db.session.scalars(select(Signup).order_by(Signup.id)))
        db.session.expunge_all()
        return rows


def test_the_signup_page_is_a_full_page_and_an_htmx_fragment(client):
    page = assert_full_page(client.get("/signup"))
    assert 'id="signup_form"' in page
    fragment = assert_fragment(client.get("/signup", headers=HX))
    assert fragment.lstrip().startswith('<section id="signup_form"')


def test_the_signup_form_has_every_field_labelled_and_the_consent_unticked(client):
    html = client.get("/signup").get_data(as_text=True)
    for name in ("first_name", "last_name", "email", "phone", "organisation"):
        assert f'<label for="{name}">' in html
        assert f'name="{name}"' in html
    for key in ("team", "events", "fundraising", "monthly", "jobs"):
        assert f'name="interests" value="{key}"' in html
    assert 'name="consent" value="y" ' in html
    assert 'name="consent" value="y" checked' not in html
    assert 'name="idempotency_key" value="' in html


def test_every_rendered_form_gets_a_fresh_idempotency_key(client):
    first = client.get("/signup").get_data(as_text=True)
    second = client.get("/signup").get_data(as_text=True)
    key = 'name="idempotency_key" value="'
    assert first.split(key)[1][:32] != second.split(key)[1][:32]


def test_a_valid_signup_is_stored_with_its_consent_and_redirects_to_the_thank_you(app, client):
    response = client.post("/signup", data=form())
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/signup/thanks")
    [signup] = signups(app)
    assert (signup.first_name, signup.last_name, signup.email) == (
        "Min-ji",
        "Park",
        "minji@example.org",
    )
    assert signup.phone == "+12025550143"
    assert signup.organisation == "State University"
    assert signup.interests == "team,events"
    assert signup.source == Signup.KIOSK
    assert signup.consent_version == "2026-11-v1"
    assert signup.consent_text.startswith("I agree")
    assert signup.consent_at is not None


def test_a_valid_htmx_signup_answers_the_thank_you_block_that_returns_by_itself(app, client):
    response = client.post("/signup", data=form(), headers=HX)
    html = assert_fragment(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="signup_thanks"')
    assert 'data-return-after="8"' in html
    # the thank-you never repeats what the visitor typed
    assert "Min-ji" not in html and "minji@example.org" not in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("first_name", "", "Please enter your first name."),
        ("first_name", "   \t ", "Please enter your first name."),
        ("first_name", "A" * 81, "under 80 characters"),
        ("last_name", "B" * 81, "under 80 characters"),
        ("email", "", "Please enter your email address."),
        ("email", "not-an-email", "look like an email address"),
        ("email", "two@@example.org", "look like an email address"),
        ("email", "name@localhost", "look like an email address"),
        ("phone", "call me maybe", "digits, spaces"),
        ("phone", "12", "digits, spaces"),
        ("phone", "1" * 41, "under 40 characters"),
        ("organisation", "O" * 121, "under 120 characters"),
        ("consent", None, "Please tick the box"),
    ],
)
def test_each_invalid_field_is_refused_with_its_message_beside_it_and_nothing_is_stored(
    app, client, field, value, message
):
    response = client.post("/signup", data=form(**{field: value}), headers=HX)
    assert response.status_code == 422
    html = assert_fragment(response)
    assert html.lstrip().startswith('<section id="signup_form"')
    error = html.split(f'id="{field}-error">')[1].split("</p>")[0]
    assert message in error.replace("&#39;", "'")
    assert 'aria-invalid="true"' in html
    assert signups(app) == []


def test_an_invalid_form_keeps_every_typed_value_and_its_idempotency_key(client):
    data = form(email="oops", consent=None, interests=["jobs"])
    html = client.post("/signup", data=data, headers=HX).get_data(as_text=True)
    assert 'value="Min-ji"' in html and 'value="Park"' in html and 'value="oops"' in html
    assert 'value="+1 (202) 555-0143"' in html and 'value="State University"' in html
    assert 'value="jobs" checked' in html
    assert 'value="team" checked' not in html
    assert f'name="idempotency_key" value="{data["idempotency_key"]}"' in html


def test_an_invalid_form_without_javascript_answers_the_whole_page_with_status_422(client):
    response = client.post("/signup", data=form(first_name=""))
    assert response.status_code == 422
    assert "Please enter your first name." in assert_full_page(response)


def test_the_same_email_twice_at_one_event_updates_the_first_record_and_merges_interests(
    app, client
):
    client.post("/signup", data=form(interests=["team"], phone=""))
    second = form(
        email="MinJi@Example.org", interests=["jobs", "team"], phone="(202) 555-0100", last_name=""
    )
    response = client.post("/signup", data=second, headers=HX)
    # thanked exactly like a first sign-up: the kiosk never reveals who signed up before
    assert response.status_code == 200
    assert 'id="signup_thanks"' in response.get_data(as_text=True)
    [signup] = signups(app)
    assert signup.interests == "team,jobs"
    assert signup.phone == "+12025550100"
    assert signup.last_name == "Park"  # an empty field never blanks what was given before


def test_the_same_email_at_another_event_is_a_new_record(app, client):
    from kiosk.services import events

    client.post("/signup", data=form())
    with app.app_context():
        events.create_event("Spring fair", activate=True)
    client.post("/signup", data=form())
    assert len({s.event_id for s in signups(app)}) == 2


def test_resending_a_form_with_the_same_idempotency_key_stores_nothing_new(app, client):
    data = form()
    first = client.post("/signup", data=data, headers=HX)
    again = client.post("/signup", data=data, headers=HX)
    assert first.status_code == again.status_code == 200
    assert 'id="signup_thanks"' in again.get_data(as_text=True)
    [signup] = signups(app)
    assert signup.first_name == "Min-ji" and signup.revision == 1


def test_a_full_width_address_is_folded_and_is_the_same_person(app, client):
    from kiosk.services.exports import mailchimp_address

    client.post("/signup", data=form(email="ana@bücher.de"))
    client.post("/signup", data=form(email="\uff41\uff4e\uff41\uff20bücher.de"))
    [signup] = signups(app)
    assert signup.email == "ana@bücher.de"
    with app.app_context():
        assert mailchimp_address(signup.email) == "ana@xn--bcher-kva.de"


def test_a_resend_changed_before_it_was_sent_again_is_merged_never_dropped(app, client):
    data = form()
    client.post("/signup", data=data, headers=HX)
    again = client.post("/signup", data=data | {"first_name": "Changed"}, headers=HX)
    assert 'id="signup_thanks"' in again.get_data(as_text=True)
    [signup] = signups(app)  # the same person at this event: one sign-up, what they fixed
    assert signup.first_name == "Changed"


def test_a_form_sent_again_is_found_by_the_inserts_conflict_and_returned_as_stored(app):
    from kiosk.services import signups as service

    key = uuid.uuid4().hex
    fields = {"first_name": "First", "email": "first@example.org", "consent": True}
    with app.app_context():
        # Stored by another thread a moment ago: no look-up before the insert could have
        # seen it; the insert's ON CONFLICT does, and the stored record is the answer.
        winner = service.record_signup(**fields, idempotency_key=key)
        winner_id = winner.id
        db.session.expire_all()
        again = service.record_signup(**fields, idempotency_key=key)
        assert again.id == winner_id
        assert again.first_name == "First" and again.email == "first@example.org"
        assert db.session.scalar(select(db.func.count()).select_from(Signup)) == 1


def test_a_new_signup_is_one_insert_returning_the_row_with_no_read_before_or_after(app):
    from sqlalchemy import event as sa_event

    from kiosk.services import signups as service

    with app.app_context():
        service.record_signup(first_name="Warm", email="warm@example.org", consent=True)
        statements: list[str] = []

        def note(_conn, _cursor, statement, *_args):
            statements.append(" ".join(statement.split()).lower())

        sa_event.listen(db.engine, "before_cursor_execute", note)
        try:
            stored = service.record_signup(
                first_name="Ana",
                email="ana@example.org",
                consent=True,
                idempotency_key=uuid.uuid4().hex,
            )
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", note)
        on_signups = [s for s in statements if " signup" in s]
        assert len(on_signups) == 1 and on_signups[0].startswith("insert into signup")
        assert "returning" in on_signups[0]
        # The event's key comes from the event in hand, not a look-up of its own.
        assert not [s for s in statements if s.startswith("select event.erasure_key")]
        # What the insert returned is the stored row, in the session.
        assert stored.id is not None and stored.uuid and stored.created_at is not None
        assert stored.first_name == "Ana" and stored.email_digest
        assert stored in db.session


def test_korean_emoji_and_combining_characters_are_stored_nfc_without_control_characters(
    app, client
):
    decomposed_e = "Rene\u0301e"  # e + combining acute: NFC makes it one character
    data = form(
        first_name="  민지\u0000\u202e 🙂 ",
        last_name=decomposed_e,
        organisation="서울대학교\t👩‍🎓 club\n",
    )
    assert client.post("/signup", data=data).status_code == 303
    [signup] = signups(app)
    assert signup.first_name == "민지 🙂"
    assert signup.last_name == "Renée" and len(signup.last_name) == 5
    assert signup.organisation == "서울대학교 👩‍🎓 club"  # the zero-width joiner of the emoji stays


def test_very_long_input_is_refused_with_a_message_and_kept_for_editing(app, client):
    long_name = "가" * 5000
    response = client.post("/signup", data=form(first_name=long_name), headers=HX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "under 80 characters" in html
    assert long_name in html
    assert signups(app) == []


def test_unknown_interest_values_are_ignored(app, client):
    client.post("/signup", data=form(interests=["team", "<script>", "admin"]))
    assert signups(app)[0].interests == "team"


def test_signup_pages_and_fragments_are_never_cached(client):
    responses = [
        client.get("/signup"),
        client.get("/signup", headers=HX),
        client.get("/signup/thanks"),
        client.post("/signup", data=form(first_name=""), headers=HX),
        client.post("/signup", data=form(), headers=HX),
        client.post("/signup", data=form()),
    ]
    for response in responses:
        assert response.headers["Cache-Control"] == "no-store"


def test_every_personal_field_and_the_form_have_autocomplete_off(client):
    html = client.get("/signup").get_data(as_text=True)
    assert '<form class="form card" method="post" action="/signup" autocomplete="off"' in html
    for name in ("first_name", "last_name", "email", "phone", "organisation"):
        tag = html.split(f'id="{name}" name="{name}"')[1].split(">")[0]
        assert 'autocomplete="off"' in tag


def test_the_opener_reframe_and_get_involved_lead_to_the_signup(client):
    assert 'href="/signup"' in client.get("/opener/people").get_data(as_text=True)
    involved = client.get("/involved").get_data(as_text=True)
    assert 'href="/signup"' in involved and 'href="/pledge"' in involved
    nav = client.get("/").get_data(as_text=True).split('class="mainnav"')[1].split("</nav>")[0]
    assert "Sign up" in nav and "Pledge" in nav


def test_no_visitor_screen_lists_signups(app, client):
    client.post("/signup", data=form(first_name="Zebulon", email="zeb@example.org"))
    for url in ("/", "/faq", "/involved", "/signup", "/signup/thanks", "/pledge", "/ask"):
        html = client.get(url).get_data(as_text=True)
        assert "Zebulon" not in html and "zeb@example.org" not in html


@pytest.fixture
def csrf_on() -> dict:
    return {"WTF_CSRF_ENABLED": True}


class TestWithCsrf:
    @pytest.fixture
    def app_config(self, csrf_on):
        return csrf_on

    def test_a_signup_without_a_csrf_token_is_refused_and_nothing_is_stored(self, app, client):
        response = client.post("/signup", data=form())
        assert response.status_code == 400
        assert signups(app) == []

    def test_a_signup_with_the_forms_token_is_stored(self, app, client):
        html = client.get("/signup").get_data(as_text=True)
        token = html.split('name="csrf_token" value="')[1].split('"')[0]
        assert client.post("/signup", data=form(csrf_token=token)).status_code == 303
        assert len(signups(app)) == 1


def test_the_email_typo_suggestion_stays_on_a_refused_form(client):
    response = client.post("/signup", data=form(first_name="", email="ana@gmial.com"), headers=HX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Did you mean ana@gmail.com?" in html
    assert 'hx-vals=\'{"email": "ana@gmail.com", "use": "1"}\'' in html
    # an address that looks right gets no suggestion
    again = client.post("/signup", data=form(first_name=""), headers=HX).get_data(as_text=True)
    assert "Did you mean" not in again


@pytest.mark.sqlite_only
def test_the_email_digest_is_worked_out_before_the_write_turn_is_taken(app, client, monkeypatch):
    import nacl.pwhash

    turn = app.extensions["kiosk_write_turn"]
    real_kdf = nacl.pwhash.argon2id.kdf
    turn_held: list[bool] = []

    def noting_kdf(*args, **kwargs):
        turn_held.append(turn.locked())
        return real_kdf(*args, **kwargs)

    monkeypatch.setattr(nacl.pwhash.argon2id, "kdf", noting_kdf)
    client.post("/signup", data=form(email="first@example.org"), headers=HX)
    turn_held.clear()  # the process's first sign-up learns the event's key inside
    for n in range(3):
        answer = client.post("/signup", data=form(email=f"n{n}@example.org"), headers=HX)
        assert answer.status_code == 200
    # Each digest was worked out once, with the write turn (SQLite's lock) free: the
    # insert's own digest came from argon2_digest's memory.
    assert turn_held == [False, False, False]


def test_a_signup_after_the_event_changed_keeps_the_digest_under_the_new_events_key(app, client):
    from kiosk.emails import digest_of_record
    from kiosk.models import Event
    from kiosk.services.events import open_event_unless_one_is_active

    client.post("/signup", data=form(email="ana@example.org"), headers=HX)
    with app.app_context():
        db.session.execute(db.update(Event).values(status=Event.CLOSED))
        db.session.commit()
        import datetime

        open_event_unless_one_is_active("Second", on=datetime.date(2026, 12, 8))
    # Worked out early under the first event's key, stored under the second's.
    client.post("/signup", data=form(email="ana@example.org"), headers=HX)
    with app.app_context():
        rows = db.session.execute(
            select(Signup.email_digest, Event.erasure_key).join(Event).order_by(Signup.id)
        ).all()
        assert len(rows) == 2 and rows[0].email_digest != rows[1].email_digest
        for digest, key in rows:
            assert digest == digest_of_record(key, "ana@example.org")


def test_the_thank_you_block_is_rendered_once_per_language_and_holds_nothing_of_the_visitor(
    app, monkeypatch
):
    from kiosk import visitor
    from kiosk.i18n import LANG_COOKIE

    renders: list[list[str]] = []
    real = visitor.render_blocks

    def counting(template, blocks, **context):
        renders.append(list(blocks))
        return real(template, blocks, **context)

    monkeypatch.setattr(visitor, "render_blocks", counting)
    answers = []
    for n, name in enumerate(["Minji", "Ana", "Joon"]):
        client = app.test_client()
        data = form(first_name=name, email=f"{name.lower()}@example.org", phone=f"+8210123456{n}")
        answers.append(client.post("/signup", data=data, headers=HX))
    assert [a.status_code for a in answers] == [200, 200, 200]
    bodies = {a.get_data(as_text=True) for a in answers}
    assert len(bodies) == 1  # the same block for each visitor
    [body] = bodies
    assert 'id="signup_thanks"' in body and "<html" not in body
    for name in ("Minji", "Ana", "Joon", "minji@example.org", "State University", "+8210"):
        assert name not in body
    assert not re.search(r"[0-9a-f]{32}", body)  # no form key, no token
    assert all("HX-Request" in a.headers["Vary"] for a in answers)
    assert renders.count(["signup_thanks"]) == 1

    korean = app.test_client()
    korean.set_cookie(LANG_COOKIE, "ko")
    answer = korean.post("/signup", data=form(email="ko@example.org"), headers=HX)
    assert answer.status_code == 200 and answer.get_data(as_text=True) != body
    assert renders.count(["signup_thanks"]) == 2
    # Without htmx the thank-you is its own page, after a 303.
    assert app.test_client().post("/signup", data=form(email="p@example.org")).status_code == 303
