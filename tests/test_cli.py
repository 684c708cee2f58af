"""The `kiosk` command: events, and the serve command's preparation."""

from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Event
from kiosk.services import events


def test_event_create_and_activate_switch_the_active_event(app, runner):
    result = runner.invoke(
        args=[
            "event",
            "create",
            "--name",
            "Fall fair",
            "--date",
            "2026-11-28",
            "--goal",
            "6000",
            "--tracking",
            "fallfair26",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Created event" in result.output
    with app.app_context():
        fair = db.session.scalar(select(Event).where(Event.name == "Fall fair"))
        assert fair.goal_cents == 600_000 and fair.tracking_source == "fallfair26"
        assert fair.status == Event.PLANNED
        fair_id = fair.id
    result = runner.invoke(args=["event", "activate", str(fair_id)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert events.active_event().id == fair_id
        actives = db.session.scalars(select(Event).where(Event.status == Event.ACTIVE)).all()
        assert len(actives) == 1


def test_event_list_marks_the_active_event(runner):
    runner.invoke(args=["event", "create", "--name", "Club night", "--activate"])
    output = runner.invoke(args=["event", "list"]).output
    active_lines = [line for line in output.splitlines() if line.startswith("*")]
    assert len(active_lines) == 1 and "Club night" in active_lines[0]
    assert "Demo event" in output


def test_activating_an_unknown_event_is_a_clear_error(runner):
    result = runner.invoke(args=["event", "activate", "999"])
    assert result.exit_code != 0
    assert "There is no event 999" in result.output


def test_tallies_open_a_walk_up_event_when_the_lead_closed_the_last_one(app, client):
    with app.app_context():
        events.close_event(events.active_event())
    assert client.post("/opener", data={"choice": "people"}).status_code == 303
    with app.app_context():
        assert events.active_event().name.startswith("Walk-up table")


def test_kiosk_pin_says_which_instance_it_set_the_pin_in(app, runner):
    result = runner.invoke(args=["pin", "--stdin"], input="4821\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=True)
    assert f"Instance {app.instance_path}, database {url}" in result.output
    assert "Volunteer PIN set" in result.output


def test_kiosk_pin_on_an_instance_without_a_database_says_so_loudly(tmp_path, monkeypatch):
    from kiosk import create_app

    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "elsewhere"))
    other = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "k" * 40,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/new.db",
        }
    )
    result = other.test_cli_runner().invoke(args=["pin", "--stdin"], input="4821\n")
    assert result.exit_code == 0, result.output
    assert "had no database until now" in result.output and "KIOSK_INSTANCE" in result.output


def test_cli_messages_name_the_command_as_the_readme_does(runner):
    result = runner.invoke(args=["event", "activate", "999"])
    assert "`KIOSK_INSTANCE=" in result.output and ".venv/bin/kiosk event list`" in result.output


def test_the_first_run_setup_note_names_the_passphrase_command_as_the_readme_does(app):
    from kiosk.services import lead_auth

    with app.app_context():
        note = lead_auth.setup_note()
    assert "/lead/setup/" in note and ".venv/bin/kiosk passphrase`" in note
