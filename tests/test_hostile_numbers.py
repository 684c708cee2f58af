"""Numbers a person, a paste or an attacker can type: every money, whole-number and id field
of the visitor's, the lead's and the command's input answers 422 (or 404 for an id in a URL)
with a message next to the field, stores nothing, and never answers 5xx."""

import re

import pytest
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import AuditEntry, Event, Pledge
from kiosk.services import events
from kiosk.services.settings import idle_seconds, retention_days
from tests.helpers import HX, assert_fragment, database_snapshot
from tests.lead_helpers import log_in, set_passphrase

# Not a number a form may take: superscripts, numbers too long for int(), floats that
# overflow or are not numbers at all, signs, separators Python's int() would accept.
HOSTILE_NUMBERS = [
    "²",
    "٣",
    "9" * 5000,
    "1" * 23,
    "inf",
    "-inf",
    "Infinity",
    "1e308",
    "1e400",
    "NaN",
    "-5",
    "-0",
    "",
    "   ",
    "1_000",
    "0x10",
    "3.14.15",
    "1,00",
    "\u0663\u0660\u0660\u0660",
    "30\x00",
]
HUGE_IDS = ["1" * 23, "9" * 5000, "9223372036854775808", "2147483648"]


def field_error(html: str, field: str) -> str:
    """The message shown next to `field` (empty when none is)."""
    match = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', html)
    return match.group(1).strip() if match else ""


@pytest.fixture
def lead_client(app, client):
    set_passphrase(app)
    assert log_in(client).status_code == 303
    return client


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


# ---- The visitor's pledge -----------------------------------------------------------------


def test_a_hostile_other_amount_is_refused_next_to_its_field(app, client):
    for value in HOSTILE_NUMBERS:
        data = {"kind": "once", "amount": "other", "amount_other": value}
        response = client.post("/pledge", data=data, headers=HX)
        assert response.status_code == 422, value
        assert field_error(assert_fragment(response), "amount_other"), value
    assert count(app, Pledge) == 0


def test_a_hostile_preset_amount_is_refused_next_to_its_field(app, client):
    for value in HOSTILE_NUMBERS:
        response = client.post("/pledge", data={"kind": "once", "amount": value}, headers=HX)
        assert response.status_code == 422, value
        assert field_error(response.get_data(as_text=True), "amount"), value
    assert count(app, Pledge) == 0


def test_full_width_digits_are_read_as_the_amount_they_show(app, client):
    data = {"kind": "once", "amount": "other", "amount_other": "３０００"}
    assert client.post("/pledge", data=data).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Pledge.amount_cents)) == 300_000


def test_the_pledge_thank_you_ignores_a_hostile_amount_in_its_address(client):
    for cents in HOSTILE_NUMBERS:
        response = client.get("/pledge/thanks", query_string={"kind": "once", "cents": cents})
        assert response.status_code == 200, cents
        assert 'class="pledge-amount"' not in response.get_data(as_text=True), cents


# ---- The lead's event form --------------------------------------------------------------


def event_form(**changes: str) -> dict[str, str]:
    return {"name": "Fair", "goal": "3000", "rescue_cost": "3000", "place": "Quad"} | changes


@pytest.mark.parametrize("url", ["/lead/events/new", "/lead/events/1/edit"])
@pytest.mark.parametrize("field", ["goal", "rescue_cost"])
def test_a_hostile_dollar_amount_on_the_event_form_is_refused_next_to_its_field(
    app, lead_client, url, field
):
    before = database_snapshot(app)
    for value in HOSTILE_NUMBERS:
        response = lead_client.post(url, data=event_form(**{field: value}), headers=HX)
        assert response.status_code == 422, value
        html = assert_fragment(response)
        assert field_error(html, field), value
        assert 'value="Quad"' in html
    assert database_snapshot(app) == before


# PostgreSQL's integer columns have limits SQLite's do not.
@pytest.mark.both_engines
def test_an_amount_above_the_largest_goal_says_how_large_it_may_be(lead_client):
    response = lead_client.post("/lead/events/new", data=event_form(goal="100000001"), headers=HX)
    assert response.status_code == 422
    assert "at most 10,000,000 dollars" in field_error(response.get_data(as_text=True), "goal")


def test_an_event_form_takes_full_width_digits_and_cents(app, lead_client):
    form = event_form(name="Gala", goal="４,５００", rescue_cost="2999.50")
    assert lead_client.post("/lead/events/new", data=form).status_code == 303
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.name == "Gala"))
        assert (event.goal_cents, event.rescue_cost_cents) == (450_000, 299_950)


# PostgreSQL's integer columns have limits SQLite's do not.
@pytest.mark.both_engines
def test_editing_a_large_goal_shows_it_as_typed_and_saves_it_unchanged(app, lead_client):
    form = event_form(name="Big", goal="10000000", rescue_cost="2999.50")
    assert lead_client.post("/lead/events/new", data=form).status_code == 303
    with app.app_context():
        event_id = db.session.scalar(select(Event.id).where(Event.name == "Big"))
    page = lead_client.get(f"/lead/events/{event_id}/edit").get_data(as_text=True)
    assert 'value="10000000"' in page and 'value="2999.50"' in page
    assert lead_client.post(f"/lead/events/{event_id}/edit", data=form).status_code == 303


# ---- The lead's settings --------------------------------------------------------------------


SETTINGS = {"pin": "", "idle_seconds": "75", "retention_days": "40", "session_minutes": "20"}


@pytest.mark.parametrize("field", ["idle_seconds", "retention_days", "session_minutes"])
def test_a_hostile_whole_number_in_the_settings_is_refused_next_to_its_field(
    app, lead_client, field
):
    before = database_snapshot(app)
    for value in HOSTILE_NUMBERS:
        response = lead_client.post("/lead/settings", data=SETTINGS | {field: value}, headers=HX)
        assert response.status_code == 422, value
        message = field_error(response.get_data(as_text=True), field)
        assert "Enter a whole number from" in message, value
    assert database_snapshot(app) == before


def test_a_hostile_pin_in_the_settings_is_refused_next_to_its_field_and_never_shown(
    app, lead_client
):
    before = database_snapshot(app)
    for pin in ["²²²²", "9" * 5000, "12 34", "1234567890123"]:
        response = lead_client.post("/lead/settings", data=SETTINGS | {"pin": pin}, headers=HX)
        assert response.status_code == 422, pin
        html = response.get_data(as_text=True)
        assert field_error(html, "pin"), pin
        assert pin not in html
    assert database_snapshot(app) == before


def test_settings_take_full_width_digits(app, lead_client):
    form = SETTINGS | {"idle_seconds": "９０", "retention_days": "３０"}
    assert lead_client.post("/lead/settings", data=form).status_code == 200
    with app.app_context():
        assert (idle_seconds(), retention_days()) == (90, 30)


# ---- Ids: in every lead address, and in the export form ----------------------------------------


LEAD_ID_URLS = [
    ("GET", "/lead/events/{}/summary"),
    ("GET", "/lead/events/{}/edit"),
    ("POST", "/lead/events/{}/edit"),
    ("POST", "/lead/events/{}/activate"),
    ("POST", "/lead/events/{}/close"),
    ("POST", "/lead/events/{}/erase"),
    ("POST", "/lead/questions/{}/answered"),
]


# PostgreSQL's integer columns have limits SQLite's do not.
@pytest.mark.both_engines
def test_a_huge_id_in_any_lead_address_is_not_found(app, lead_client):
    before = database_snapshot(app)
    for method, url in LEAD_ID_URLS:
        for huge in HUGE_IDS:
            response = lead_client.open(url.format(huge), method=method, data={"confirm": "yes"})
            assert response.status_code == 404, (url, huge)
    assert database_snapshot(app) == before


# PostgreSQL's integer columns have limits SQLite's do not.
@pytest.mark.both_engines
def test_exporting_a_huge_event_id_finds_no_event(app, lead_client):
    audited = count(app, AuditEntry)
    for huge in HUGE_IDS:
        response = lead_client.post("/lead/export", data={"event": huge, "format": "csv"})
        assert response.status_code == 404, huge
    assert count(app, AuditEntry) == audited
    with app.app_context():
        assert events.active_event().exported_at is None


def test_exporting_an_event_that_is_not_an_id_is_refused(lead_client):
    for value in ["²", "x", "-1", "1.0", "1e3", "", "٣"]:
        response = lead_client.post("/lead/export", data={"event": value, "format": "csv"})
        assert response.status_code == 400, value


# ---- The command line ---------------------------------------------------------------------------


def test_the_export_command_refuses_a_hostile_event_id_without_a_traceback(runner):
    for huge in ["1" * 23, "9" * 5000, "²", "-1"]:
        result = runner.invoke(args=["export", "--event", huge])
        assert result.exit_code == 2, (huge, result.output)
        assert "'--event'" in result.output
        assert not isinstance(result.exception, (OverflowError, ValueError))


# PostgreSQL's integer columns have limits SQLite's do not.
@pytest.mark.both_engines
def test_the_activate_command_refuses_a_huge_event_id(runner):
    for huge in ["1" * 23, "9" * 5000]:
        result = runner.invoke(args=["event", "activate", huge])
        assert result.exit_code == 2, (huge, result.output)
        assert "EVENT_ID" in result.output
        assert not isinstance(result.exception, (OverflowError, ValueError))


def test_creating_an_event_refuses_a_hostile_goal(app, runner):
    for value in HOSTILE_NUMBERS:
        result = runner.invoke(args=["event", "create", "--name", "Fair", "--goal", value])
        assert result.exit_code == 2, (value, result.output)
        assert "'--goal'" in result.output
    with app.app_context():
        assert db.session.scalar(select(Event).where(Event.name == "Fair")) is None


def test_creating_an_event_takes_dollars_and_cents(app, runner):
    args = ["event", "create", "--name", "Fair", "--goal", "4,500", "--rescue-cost", "2999.50"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.name == "Fair"))
        assert (event.goal_cents, event.rescue_cost_cents) == (450_000, 299_950)


@pytest.mark.parametrize("value", ["9" * 5000, "²", "-5", "1e3", "0"])
def test_a_hostile_idle_time_in_the_environment_is_named_not_a_traceback(
    monkeypatch, tmp_path, value
):
    from kiosk import create_app
    from kiosk.config import ConfigError

    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path))
    monkeypatch.setenv("KIOSK_IDLE_SECONDS", value)
    with pytest.raises(ConfigError, match="KIOSK_IDLE_SECONDS: Enter a whole number"):
        create_app({"TESTING": True, "SECRET_KEY": "x"})


def test_the_environment_may_set_the_idle_time_in_full_width_digits(monkeypatch, tmp_path):
    from kiosk import create_app

    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path))
    monkeypatch.setenv("KIOSK_IDLE_SECONDS", "９０")
    assert create_app({"TESTING": True, "SECRET_KEY": "x"}).config["KIOSK_IDLE_SECONDS"] == 90
