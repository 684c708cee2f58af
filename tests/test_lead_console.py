"""The team lead's console: the live dashboard, events, settings and the audit log."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Event, Pledge, Question, Signup, Tally
from kiosk.services import dashboard, events
from kiosk.services.hashing import verify_secret
from kiosk.services.settings import (
    VOLUNTEER_PIN_HASH,
    get_setting,
    idle_seconds,
    retention_days,
)
from tests.helpers import HX, assert_fragment, assert_full_page
from tests.lead_helpers import PASSPHRASE, log_in, set_passphrase


@pytest.fixture
def lead_client(app, client):
    set_passphrase(app)
    assert log_in(client).status_code == 303
    return client


def active_id(app) -> int:
    with app.app_context():
        return events.active_event().id


def add(app, *records) -> None:
    with app.app_context():
        db.session.add_all(records)
        db.session.commit()


def bar_count(html: str, label: str) -> int:
    label_span = f'<span class="bar-label">{re.escape(label)}</span>'
    match = re.search(rf'{label_span}.*?<span class="bar-count">(\d+)</span>', html, re.S)
    assert match, label
    return int(match.group(1))


def stat(html: str, label: str) -> str:
    match = re.search(
        rf'<span class="stat-number">([^<]+)</span><span class="stat-label">{label}', html
    )
    assert match, label
    return match.group(1)


def test_the_dashboard_is_a_page_and_its_block_a_polling_fragment(lead_client):
    page = assert_full_page(lead_client.get("/lead/"))
    assert 'id="dashboard"' in page and 'hx-trigger="every 5s"' in page
    fragment = assert_fragment(lead_client.get("/lead/", headers=HX))
    assert fragment.lstrip().startswith('<section id="dashboard"')
    assert 'hx-get="/lead/"' in fragment


def test_the_dashboard_fragment_updates_as_tallies_arrive(app, lead_client, client):
    before = lead_client.get("/lead/", headers=HX).get_data(as_text=True)
    assert bar_count(before, "Famine") == 0
    visitor = app.test_client()
    for _ in range(3):
        visitor.post("/opener", data={"choice": "famine"})
    visitor.post("/opener", data={"choice": "people"})
    visitor.post("/faq/what-we-do", data={"depth": "short"})
    after = lead_client.get("/lead/", headers=HX).get_data(as_text=True)
    assert bar_count(after, "Famine") == 3
    assert bar_count(after, "The people") == 1
    assert bar_count(after, "What do you actually do?") == 1
    # The biggest bar is full width, the others in proportion.
    assert re.search(r"Famine</span>\s*<svg[^>]*><rect width=\"100\"", after)
    assert re.search(r"The people</span>\s*<svg[^>]*><rect width=\"33\"", after)


def test_the_dashboard_counts_signups_pledges_conversations_and_questions(app, lead_client):
    event_id = active_id(app)
    add(
        app,
        *[Signup(event_id=event_id, first_name="A", email=f"a{n}@example.org") for n in range(4)],
        Pledge(event_id=event_id, amount_cents=150_000),
        Pledge(event_id=event_id, amount_cents=15_000, kind=Pledge.MONTHLY),
        Tally(event_id=event_id, kind=Tally.CONVERSATION, key="talk"),
        Tally(event_id=event_id, kind=Tally.CONVERSATION, key="talk"),
        Question(event_id=event_id, text="Where does the money go <b>exactly</b>?"),
        Question(event_id=event_id, text="Already answered", answered=True),
    )
    html = lead_client.get("/lead/", headers=HX).get_data(as_text=True)
    assert stat(html, "sign-ups") == "4"
    assert stat(html, "pledged") == "$1,650"
    assert stat(html, "conversations") == "2"
    assert stat(html, "questions left") == "1"
    assert "55% of the $3,000 goal" in html
    assert '<rect class="progress-fill" width="55"' in html
    assert "Where does the money go &lt;b&gt;exactly&lt;/b&gt;?" in html
    assert "Already answered" not in html


def test_a_first_small_pledge_reads_less_than_1_percent_on_the_dashboard_not_0(app, lead_client):
    add(app, Pledge(event_id=active_id(app), amount_cents=1_500))
    html = lead_client.get("/lead/", headers=HX).get_data(as_text=True)
    assert "&lt;1% of the $3,000 goal · &lt;1% of one rescue ($3,000)" in html
    assert '<rect class="progress-fill" width="1"' in html


def test_a_goal_passed_says_by_how_much_and_the_bar_stays_full(app, lead_client):
    add(app, Pledge(event_id=active_id(app), amount_cents=750_000))
    html = lead_client.get("/lead/", headers=HX).get_data(as_text=True)
    assert "250% of the $3,000 goal" in html
    assert '<rect class="progress-fill" width="100"' in html


def test_marking_a_question_answered_takes_it_off_the_dashboard(app, lead_client):
    add(app, Question(event_id=active_id(app), text="Can I volunteer abroad?"))
    with app.app_context():
        question_id = db.session.scalar(select(Question.id))
    html = lead_client.post(f"/lead/questions/{question_id}/answered", headers=HX)
    assert "Can I volunteer abroad?" not in assert_fragment(html)
    with app.app_context():
        assert db.session.get(Question, question_id).answered


def test_signups_per_hour_fill_every_hour_and_scale_to_the_busiest(app):
    with app.app_context():
        event = events.active_event()
        start = datetime(2026, 11, 23, 9, 5, tzinfo=UTC)
        for minutes in (0, 10, 20, 130):
            db.session.add(
                Signup(
                    event_id=event.id,
                    first_name="A",
                    email=f"a{minutes}@example.org",  # one sign-up per person per event
                    created_at=start + timedelta(minutes=minutes),
                )
            )
        db.session.commit()
        hours = dashboard.signups_per_hour(event)
    assert [h.count for h in hours] == [3, 0, 1]
    assert [h.height for h in hours] == [100, 0, 33]


def test_the_hourly_chart_is_svg_without_inline_styles(app, lead_client):
    add(app, Signup(event_id=active_id(app), first_name="A", email="a@example.org"))
    html = lead_client.get("/lead/").get_data(as_text=True)
    assert '<svg class="hour-chart"' in html
    assert 'height="100"' in html
    assert "style=" not in html


def test_a_one_hour_chart_is_a_bar_of_bounded_width_not_a_full_width_block(app, lead_client):
    add(app, Signup(event_id=active_id(app), first_name="A", email="a@example.org"))
    html = lead_client.get("/lead/").get_data(as_text=True)
    chart = re.search(r'<svg class="hour-chart" viewBox="0 0 (\d+) 100".*?</svg>', html, re.S)
    assert chart
    [width] = re.findall(r'<rect x="\d+" y="\d+" width="(\d+)"', chart.group(0))
    assert int(width) / int(chart.group(1)) <= 0.2  # at most a fifth of the chart's width
    labels = re.search(r'<ol class="hour-labels">(.*?)</ol>', html, re.S).group(1)
    # one label per slot of the chart, so the hour's label stays under its bar
    assert labels.count("<li") == int(chart.group(1)) // 10


def test_the_dashboard_without_an_active_event_points_to_events(app, lead_client):
    with app.app_context():
        events.close_event(events.active_event())
    html = lead_client.get("/lead/").get_data(as_text=True)
    assert "No active event" in html


def test_the_printable_summary_shows_the_numbers_but_no_personal_data(app, lead_client):
    event_id = active_id(app)
    add(
        app,
        Signup(event_id=event_id, first_name="Jisoo", email="jisoo@example.org"),
        Question(event_id=event_id, text="Private question", email="q@example.org"),
    )
    html = assert_full_page(lead_client.get(f"/lead/events/{event_id}/summary"))
    assert "data-print" in html
    assert "jisoo@example.org" not in html and "q@example.org" not in html
    assert stat(html, "sign-ups") == "1"
    assert lead_client.get("/lead/events/999/summary").status_code == 404


def test_the_lead_creates_edits_activates_and_closes_an_event(app, lead_client):
    form = {
        "name": "Spring fair",
        "date": "2027-04-02",
        "place": "Quad",
        "goal": "4,500",
        "rescue_cost": "3000",
        "tracking_source": "spring-fair",
    }
    assert lead_client.post("/lead/events/new", data=form).status_code == 303
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.name == "Spring fair"))
        assert (event.goal_cents, event.status, str(event.date)) == (
            450_000,
            "planned",
            "2027-04-02",
        )
        event_id = event.id
    edited = form | {"name": "Spring fair 2027", "goal": "5000"}
    assert lead_client.post(f"/lead/events/{event_id}/edit", data=edited).status_code == 303
    assert lead_client.post(f"/lead/events/{event_id}/activate").status_code == 303
    with app.app_context():
        event = db.session.get(Event, event_id)
        assert (event.name, event.goal_cents, event.status) == (
            "Spring fair 2027",
            500_000,
            "active",
        )
        assert len(list(db.session.scalars(select(Event).where(Event.status == "active")))) == 1
    assert "Spring fair 2027" in lead_client.get("/lead/events").get_data(as_text=True)
    assert lead_client.post(f"/lead/events/{event_id}/close").status_code == 303
    with app.app_context():
        assert db.session.get(Event, event_id).status == "closed"
        assert db.session.get(Event, event_id).closed_at is not None


def test_a_new_event_can_become_active_at_once(app, lead_client):
    form = {"name": "Club night", "goal": "3000", "rescue_cost": "3000", "activate": "1"}
    assert lead_client.post("/lead/events/new", data=form).status_code == 303
    with app.app_context():
        assert events.active_event().name == "Club night"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Give the event a name."),
        ("date", "02/04/2027", "YYYY-MM-DD"),
        ("goal", "lots", "Enter an amount in dollars"),
        ("rescue_cost", "0", "at least 1 dollars"),
        ("tracking_source", "a b<script>", "letters, digits"),
    ],
)
def test_an_invalid_event_form_is_refused_field_by_field_and_keeps_the_input(
    app, lead_client, field, value, message
):
    form = {"name": "Fair", "goal": "3000", "rescue_cost": "3000", "place": "Quad"} | {field: value}
    response = lead_client.post("/lead/events/new", data=form, headers=HX)
    html = assert_fragment(response)
    assert response.status_code == 422
    assert message in html
    assert 'value="Quad"' in html
    with app.app_context():
        assert db.session.scalar(select(Event).where(Event.name == "Fair")) is None


def test_settings_store_the_pin_hashed_and_the_timeouts(app, lead_client):
    form = {"pin": "2580", "idle_seconds": "90", "retention_days": "30", "session_minutes": "15"}
    response = lead_client.post("/lead/settings", data=form)
    assert response.status_code == 200
    assert "Settings saved." in response.get_data(as_text=True)
    with app.app_context():
        pin_hash = get_setting(VOLUNTEER_PIN_HASH)
        assert pin_hash.startswith("$argon2id$") and verify_secret(pin_hash, "2580")
        assert (idle_seconds(), retention_days()) == (90, 30)
    assert 'data-idle-seconds="90"' in app.test_client().get("/").get_data(as_text=True)
    assert "volunteer PIN set" in lead_client.get("/lead/audit").get_data(as_text=True)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pin", "12"),
        ("pin", "abcd"),
        ("idle_seconds", "5"),
        ("retention_days", "x"),
        ("session_minutes", "0"),
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(app, lead_client, field, value):
    form = {"pin": "", "idle_seconds": "75", "retention_days": "40", "session_minutes": "20"}
    response = lead_client.post("/lead/settings", data=form | {field: value}, headers=HX)
    assert response.status_code == 422
    with app.app_context():
        assert get_setting(VOLUNTEER_PIN_HASH) is None
        assert idle_seconds() == 60


def test_the_volunteer_pin_cannot_be_the_lead_passphrase(app, lead_client):
    form = {
        "pin": PASSPHRASE,
        "idle_seconds": "60",
        "retention_days": "90",
        "session_minutes": "30",
    }
    assert lead_client.post("/lead/settings", data=form).status_code == 422


def test_the_audit_log_lists_entries_newest_first_escaped(app, lead_client):
    from kiosk.services.audit import record_audit

    with app.app_context():
        record_audit("export.csv", "first <b>")
        record_audit("erase.person", "second")
    html = lead_client.get("/lead/audit").get_data(as_text=True)
    assert html.index("erase.person") < html.index("export.csv")
    assert "first &lt;b&gt;" in html
