"""Events take the cost of one rescue from the content pack: nothing hard-codes $3,000."""

import pytest
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Event
from kiosk.services import events
from tests.lead_helpers import log_in, set_passphrase

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines

PACK_COST_CENTS = 250_000


@pytest.fixture
def app_config(copy_pack):
    pack = copy_pack(lambda text: text.replace("rescue_cost = 3000", "rescue_cost = 2500"))
    return {"KIOSK_CONTENT": str(pack)}


def test_a_new_event_takes_the_packs_rescue_cost_as_its_goal_and_cost(app):
    with app.app_context():
        demo = events.active_event()
        made = events.create_event("Fair")
        for event in (demo, made):
            assert (event.goal_cents, event.rescue_cost_cents) == (PACK_COST_CENTS,) * 2


def test_a_record_made_without_amounts_takes_the_packs_rescue_cost(app):
    with app.app_context():
        db.session.add(events.new_event(name="Imported elsewhere"))
        db.session.commit()
        event = db.session.scalar(select(Event).where(Event.name == "Imported elsewhere"))
        assert (event.goal_cents, event.rescue_cost_cents) == (PACK_COST_CENTS,) * 2


def test_the_stand_in_before_any_tap_shows_the_packs_rescue_cost(app, client):
    with app.app_context():
        events.close_event(events.active_event())
    with app.test_request_context("/"):
        assert events.event_to_show().rescue_cost_cents == PACK_COST_CENTS
    html = client.get("/pledge").get_data(as_text=True)
    assert 'name="amount" value="2500"' in html
    assert "of one rescue ($2,500)" in html
    assert "$3,000" not in html


def test_the_new_event_form_and_the_command_start_from_the_packs_rescue_cost(app, client, runner):
    set_passphrase(app)
    log_in(client)
    html = client.get("/lead/events/new").get_data(as_text=True)
    assert 'name="goal" value="2500"' in html and 'name="rescue_cost" value="2500"' in html
    assert runner.invoke(args=["event", "create", "--name", "From the shell"]).exit_code == 0
    with app.app_context():
        made = db.session.scalar(select(Event).where(Event.name == "From the shell"))
        assert (made.goal_cents, made.rescue_cost_cents) == (PACK_COST_CENTS,) * 2


def test_the_active_events_look_up_is_built_once_and_finds_each_new_active_event(app, monkeypatch):
    from flask import g

    built: list[object] = []
    real_select = events.select
    monkeypatch.setattr(events, "select", lambda *a, **k: built.append(a) or real_select(*a, **k))
    with app.test_request_context("/"):
        first = events.active_event()
        assert first is not None
        first_id = first.id
        db.session.commit()
    with app.test_request_context("/"):
        events.create_event("Spring fair", activate=True)
        g.pop("active_event", None)
        second = events.active_event()
        assert second is not None and second.id != first_id and second.name == "Spring fair"
    # Each request's look-up ran the statement built once at import, none built anew.
    assert built == []
