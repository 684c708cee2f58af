"""Erasure of a person and of an event's personal data, retention purges and backups."""

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import AuditEntry, Event, Pledge, PressRequest, Question, Signup, Tally, utcnow
from kiosk.services import erasure, events
from kiosk.services.settings import RETENTION_DAYS, set_setting
from tests.data_helpers import export_now

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


def fill_event(event: Event, email: str = "minji@example.org") -> None:
    """One of everything for `email` at `event`, plus someone else and a tally."""
    db.session.add_all(
        [
            Signup(event_id=event.id, first_name="Minji", email=email),
            Signup(event_id=event.id, first_name="Other", email="other@example.org"),
            Pledge(event_id=event.id, amount_cents=2500, name="Minji", email=email.upper()),
            Question(event_id=event.id, text="How can I help?", email=email),
            PressRequest(event_id=event.id, name="Minji", email=email, outlet="Campus"),
            Tally(event_id=event.id, kind=Tally.OPENER, key="people"),
        ]
    )
    db.session.commit()


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_erasing_a_person_removes_them_everywhere_and_keeps_the_money_and_tallies(app):
    with app.app_context():
        first = events.active_event()
        second = events.create_event("Second", activate=False)
        fill_event(first)
        fill_event(second)
        preview = erasure.person_records(" MinJi@Example.org ")
        assert (preview.signups, preview.pledges, preview.questions) == (2, 2, 2)
        erased = erasure.erase_person("MINJI@example.org", actor="test")
        assert erased.total == 8
        assert count(Signup, func.lower(Signup.email) == "minji@example.org") == 0
        assert count(Question, Question.email != "") == 0
        assert count(PressRequest) == 0
        assert count(Pledge, Pledge.email != "") == 0 and count(Pledge, Pledge.name != "") == 0
        assert db.session.scalar(select(func.sum(Pledge.amount_cents))) == 5000
        assert count(Signup) == 2 and count(Tally) == 2
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "erase.person"))
        assert "minji" not in entry.detail.lower()
        assert "2 sign-ups" in entry.detail


def test_event_erasure_is_refused_while_the_event_is_active(app):
    with app.app_context():
        event = events.active_event()
        fill_event(event)
        export_now(event, "json", keep=True)
        with pytest.raises(erasure.ErasureRefused, match="Close the event first"):
            erasure.erase_event(event)
        assert count(Signup) == 2 and event.erased_at is None


def test_event_erasure_is_refused_with_what_is_in_no_export_yet(app):
    with app.app_context():
        event = events.active_event()
        fill_event(event)
        events.close_event(event)
        with pytest.raises(erasure.ErasureRefused, match="2 sign-ups, 1 pledge") as refused:
            erasure.erase_event(event)
        assert refused.value.unexported == {Signup: 2, Pledge: 1, Question: 1, PressRequest: 1}
        assert count(Signup) == 2 and event.erased_at is None


def test_event_erasure_is_refused_when_records_arrived_after_the_export(app):
    with app.app_context():
        event = events.active_event()
        fill_event(event)
        events.close_event(event)
        export_now(event, "json", keep=True)
        db.session.add(Signup(event_id=event.id, first_name="Late", email="late@example.org"))
        db.session.commit()
        with pytest.raises(erasure.ErasureRefused, match="Not in any export yet: 1 sign-up"):
            erasure.erase_event(event)
        assert count(Signup) == 3


def test_event_erasure_after_export_keeps_tallies_and_other_events(app):
    with app.app_context():
        event = events.active_event()
        other = events.create_event("Other event")
        fill_event(event)
        fill_event(other)
        events.close_event(event)
        export_now(event, "json", keep=True)
        erased = erasure.erase_event(event, actor="test")
        assert (erased.signups, erased.pledges, erased.questions, erased.press_requests) == (
            2,
            1,
            1,
            1,
        )
        assert count(Signup, Signup.event_id == event.id) == 0
        assert count(Tally, Tally.event_id == event.id) == 1
        assert count(Pledge, Pledge.event_id == event.id) == 1
        assert count(Signup, Signup.event_id == other.id) == 2
        assert event.erased_at is not None
        assert "erase.event" in audit_actions()


def close_days_ago(event: Event, days: float, *, exported: bool = True) -> None:
    """Closed `days` ago, and (unless not `exported`) everything of it exported."""
    event.status = Event.CLOSED
    event.closed_at = utcnow() - timedelta(days=days)
    event.date = event.closed_at.date()  # it took place the day it closed
    db.session.commit()
    if exported:
        export_now(event, "json", keep=True)


def test_retention_purges_only_events_closed_longer_ago_than_the_retention_days(app):
    with app.app_context():
        set_setting(RETENTION_DAYS, "30")
        old = events.create_event("Old")
        recent = events.create_event("Recent")
        still_open = events.active_event()
        for event in (old, recent, still_open):
            fill_event(event)
        close_days_ago(old, 31)
        close_days_ago(recent, 29)
        purged = erasure.purge_expired()
        assert purged.events == ["Old"]
        assert count(Signup, Signup.event_id == old.id) == 0
        assert count(Tally, Tally.event_id == old.id) == 1
        assert count(Signup, Signup.event_id == recent.id) == 2
        assert count(Signup, Signup.event_id == still_open.id) == 2
        assert old.erased_at is not None
        assert erasure.purge_expired().events == []  # nothing twice
        assert audit_actions().count("purge") == 1


def test_kiosk_purge_reports_what_it_erased(app, runner):
    with app.app_context():
        old = events.create_event("Autumn fair")
        fill_event(old)
        close_days_ago(old, 200)
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "Autumn fair" in result.output and "2 sign-ups" in result.output
    again = runner.invoke(args=["purge"])
    assert "Nothing to purge" in again.output


def test_the_daily_purge_thread_runs_and_stops(app):
    with app.app_context():
        old = events.create_event("Old")
        fill_event(old)
        close_days_ago(old, 365)
        old_id = old.id
    stop = erasure.start_daily_purge(app, interval=timedelta(seconds=0.05))
    try:
        for _ in range(100):
            with app.app_context():
                if db.session.get(Event, old_id).erased_at is not None:
                    break
                db.session.remove()
            stop.wait(0.05)
    finally:
        stop.set()
    with app.app_context():
        assert db.session.get(Event, old_id).erased_at is not None
        assert count(Signup, Signup.event_id == old_id) == 0


@pytest.mark.sqlite_only
def test_kiosk_backup_writes_a_consistent_timestamped_copy(app, runner):
    with app.app_context():
        fill_event(events.active_event())
    result = runner.invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    copies = list((Path(app.instance_path) / "backups").glob("kiosk-*.db"))
    assert len(copies) == 1
    with sqlite3.connect(copies[0]) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT count(*) FROM signup").fetchone()[0] == 2
    copy.close()
    second = runner.invoke(args=["backup"])
    assert second.exit_code == 0
    assert len(list(copies[0].parent.glob("kiosk-*.db"))) == 2


@pytest.mark.postgresql_only
def test_kiosk_backup_on_postgresql_points_to_pg_dump_and_writes_nothing(app, runner):
    result = runner.invoke(args=["backup"])
    assert result.exit_code == 1
    assert "pg_dump" in result.output and "Traceback" not in result.output
    assert not (Path(app.instance_path) / "backups").exists()


def test_kiosk_serve_purges_at_start_up_prints_the_setup_link_and_starts_the_daily_purge(
    app, runner, monkeypatch
):
    import waitress

    started = []
    monkeypatch.setattr(waitress, "serve", lambda *args, **kwargs: started.append(kwargs))
    monkeypatch.setattr(erasure, "start_daily_purge", lambda app: started.append("daily"))
    with app.app_context():
        old = events.create_event("Last spring")
        fill_event(old)
        close_days_ago(old, 400)
        old_id = old.id
    with app.app_context():  # as FlaskGroup provides when run as `kiosk serve`
        result = runner.invoke(args=["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert "Retention: erased personal data of Last spring" in result.output
    assert "Team lead setup: open http://127.0.0.1:8123/lead/setup/" in result.output
    daily, served_with = started  # and kiosk/serving.py's own settings (tests/test_serving.py)
    assert daily == "daily"
    expected = {"host": "127.0.0.1", "port": 8123, "threads": 8, "ident": "kiosk"}
    assert served_with.items() >= expected.items()
    with app.app_context():
        assert count(Signup, Signup.event_id == old_id) == 0
