"""Property-based tests of the sign-up, pledge and ask forms and the exports: arbitrary text
never causes a 500, an invalid form stores nothing, nothing renders unescaped, and every
export cell is neutralised while the CSV still parses to the same rows and columns."""

import csv
import io
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import Pledge, Question, Signup, utcnow
from kiosk.services import exports
from kiosk.services.events import current_event
from tests.helpers import HX, database_snapshot, routes
from tests.hostile import assert_nothing_unescaped, hostile_text, storable
from tests.lead_helpers import log_in, set_passphrase

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines

HOSTILE = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# What a spreadsheet runs as a formula, in ASCII and full width.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")

maybe_hostile = st.one_of(st.just(""), hostile_text())
consent = st.sampled_from(["y", "", "yes", "<script>alert(1)</script>"])


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def post_and_check(app, client, url, model, data, htmx) -> None:
    """The shared property: 303/200 stores at most one record, 422/413 nothing, never a 500."""
    before = database_snapshot(app)
    stored_before = count(app, model)
    response = client.post(url, data=data, headers=HX if htmx else {})
    assert response.status_code in (200, 303, 413, 422), response.status_code
    assert_nothing_unescaped(response.get_data(as_text=True))
    if response.status_code in (413, 422):
        assert database_snapshot(app) == before
    else:
        # One new record; or none when the same person (email) signed up again: merged.
        assert count(app, model) in (stored_before, stored_before + 1)


@HOSTILE
@given(
    first=maybe_hostile,
    last=maybe_hostile,
    email=st.one_of(hostile_text(), st.emails().map(str)),
    phone=maybe_hostile,
    organisation=maybe_hostile,
    interests=st.lists(st.one_of(st.sampled_from(["events", "fundraising"]), hostile_text())),
    consent=consent,
    htmx=st.booleans(),
)
def test_the_sign_up_form_takes_any_text_calmly(
    app, client, first, last, email, phone, organisation, interests, consent, htmx
):
    data = {
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": phone,
        "organisation": organisation,
        "interests": interests,
        "consent": consent,
    }
    post_and_check(app, client, "/signup", Signup, data, htmx)


@HOSTILE
@given(
    kind=st.one_of(st.sampled_from(["once", "monthly"]), hostile_text()),
    amount=st.one_of(st.sampled_from(["25", "50", "other"]), hostile_text()),
    other=st.one_of(st.integers(-(10**12), 10**12).map(str), maybe_hostile),
    name=maybe_hostile,
    email=st.one_of(st.just(""), hostile_text(), st.emails().map(str)),
    consent=consent,
    htmx=st.booleans(),
)
def test_the_pledge_form_takes_any_text_calmly(
    app, client, kind, amount, other, name, email, consent, htmx
):
    data = {
        "kind": kind,
        "amount": amount,
        "amount_other": other,
        "name": name,
        "email": email,
        "consent": consent,
    }
    post_and_check(app, client, "/pledge", Pledge, data, htmx)


@HOSTILE
@given(
    question=hostile_text(),
    email=st.one_of(st.just(""), hostile_text(), st.emails().map(str)),
    consent=consent,
    htmx=st.booleans(),
)
def test_the_ask_form_takes_any_text_calmly(app, client, question, email, consent, htmx):
    data = {"question": question, "email": email, "consent": consent}
    post_and_check(app, client, "/ask", Question, data, htmx)


def parse(lines) -> list[list[str]]:
    text = "".join(lines)
    assert text.startswith(exports.BOM)
    return list(csv.reader(io.StringIO(text[len(exports.BOM) :], newline="")))


def assert_neutralised(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_TRIGGERS), repr(cell)


@HOSTILE
@given(names=st.lists(st.tuples(hostile_text(), hostile_text()), min_size=1, max_size=4))
def test_every_export_cell_is_neutralised_and_the_csv_keeps_its_shape(app, dialect, names):
    names = [(storable(first, dialect), storable(org, dialect)) for first, org in names]
    with app.app_context():
        event = current_event()
        # Hypothesis runs many examples on one database: each stores people of its own.
        run = uuid.uuid4().hex[:8]
        for number, (first, organisation) in enumerate(names):
            db.session.add(
                Signup(
                    event=event,
                    first_name=first[:80],
                    last_name="＝1+1",
                    email=f"v{number}.{run}@example.org",
                    organisation=organisation[:120],
                    interests="",
                    consent_version="test",
                    consent_text="You may email me.",
                    consent_at=utcnow(),
                )
            )
            db.session.add(Question(event=event, text=first, email=f"v{number}.{run}@example.org"))
        db.session.commit()
        exported = {
            "csv": (exports.signups_csv(event), exports.SIGNUP_COLUMNS, Signup),
            "mailchimp": (exports.mailchimp_csv(event), exports.MAILCHIMP_COLUMNS, Signup),
            "questions": (exports.questions_csv(event), exports.QUESTION_COLUMNS, Question),
        }
        for name, (lines, columns, model) in exported.items():
            rows = parse(lines)
            stored = db.session.scalar(
                select(func.count()).select_from(model).where(model.event_id == event.id)
            )
            assert rows[0] == columns, name
            assert len(rows) == stored + 1, name
            assert all(len(row) == len(columns) for row in rows), name
            assert_neutralised(rows)
        first_names = [row[0] for row in parse(exports.signups_csv(event))[1:]]
        without_marks = {name.replace("'", "") for name in first_names}
        for first, _ in names:
            # The same text comes back, only a ' added where it looked like a formula (at the
            # start, or after a separator a spreadsheet may split on).
            assert first[:80].replace("'", "") in without_marks
        db.session.rollback()


# Escaping happens in the templates, the same whatever stored the text: one engine is enough
# (what PostgreSQL refuses to store is tests/test_unstorable_values.py's).
@pytest.mark.sqlite_only
@HOSTILE
@given(text=hostile_text(), name=hostile_text())
def test_hostile_records_render_escaped_on_every_lead_page(app, client, text, name):
    set_passphrase(app)
    assert log_in(client).status_code == 303
    client.post("/ask", data={"question": text[:1000] or "?", "consent": ""})
    client.post("/signup", data={"first_name": name[:80] or "x", "email": "h@example.org"})
    client.post("/lead/events/new", data={"name": name[:120], "goal": "3000"})
    for endpoint, url in routes(app, "GET"):
        if endpoint.startswith(("lead.", "volunteer.")):
            response = client.get(url)
            assert response.status_code != 500, url
            assert_nothing_unescaped(response.get_data(as_text=True))
