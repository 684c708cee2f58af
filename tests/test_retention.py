"""Retention that survives a wrong clock: only exported records are purged, and never while the
clock looks wrong; the log and /healthz say why (issue 10, point 5)."""

import logging
from datetime import UTC, datetime, timedelta

import pytest

from kiosk.extensions import db
from kiosk.models import Event, Question, Signup
from kiosk.services import erasure
from tests.data_helpers import (
    active_event_id,
    count,
    lead_closes,
    lead_exports,
    visitor_asks,
    visitor_signs_up,
)

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


def serve_once(runner, monkeypatch) -> str:
    """`kiosk serve` up to the point it would start waitress; its output."""
    import waitress

    monkeypatch.setattr(waitress, "serve", lambda *args, **kwargs: None)
    monkeypatch.setattr(erasure, "start_daily_purge", lambda app: None)
    result = runner.invoke(args=["serve", "--port", "8124"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_clock_100_days_ahead_at_start_up_does_not_purge_unexported_signups(
    app, client, lead, runner, clock, monkeypatch
):
    visitor_signs_up(client, "minji@example.org")
    event_id = active_event_id(app)
    lead_closes(lead, event_id)
    clock.move(days=100)  # one start with a wrong clock

    serve_once(runner, monkeypatch)

    assert count(app, Signup, Signup.event_id == event_id) == 1


def test_retention_purges_the_exported_records_and_keeps_the_rest(app, client, lead, runner, clock):
    visitor_signs_up(client, "minji@example.org")
    visitor_asks(client, "Where do the rescues start?")
    event_id = active_event_id(app)
    lead_closes(lead, event_id)
    lead_exports(lead, event_id, "csv")
    clock.move(days=91)

    result = runner.invoke(args=["purge"])

    assert result.exit_code == 0, result.output
    assert "1 sign-up" in result.output and "kept 1 question" in result.output
    assert count(app, Signup) == 0 and count(app, Question) == 1


class Logged(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_retention_pauses_when_the_clock_is_earlier_than_the_newest_record(
    app, client, lead, runner, clock
):
    visitor_signs_up(client, "minji@example.org")
    event_id = active_event_id(app)
    lead_closes(lead, event_id)
    lead_exports(lead, event_id, "csv")
    clock.move(days=200)
    visitor_signs_up(client, "later@example.org")  # taken at the right time
    clock.move(days=-150)  # then the clock went back

    logged = Logged()
    app.logger.addHandler(logged)  # on the app's logger: `kiosk purge` reconfigures the root's
    try:
        result = runner.invoke(args=["purge"])
    finally:
        app.logger.removeHandler(logged)

    assert "paused" in result.output and "earlier than the newest record" in result.output
    assert any("earlier than the newest record" in line for line in logged.lines)
    assert count(app, Signup, Signup.event_id == event_id) == 1
    health = client.get("/healthz").get_json()
    assert health["retention"]["purging"] is False
    assert "earlier than the newest record" in health["retention"]["reason"]


def test_retention_pauses_when_the_clock_is_far_beyond_the_newest_record(
    app, client, lead, runner, clock
):
    visitor_signs_up(client, "minji@example.org")
    event_id = active_event_id(app)
    lead_closes(lead, event_id)
    lead_exports(lead, event_id, "csv")
    clock.move(days=2 * 365)  # a real-time clock gone wrong, or a kiosk left for years

    paused = runner.invoke(args=["purge"])

    assert "paused" in paused.output and "more than a year" in paused.output
    assert count(app, Signup) == 1
    assert client.get("/healthz").get_json()["retention"]["purging"] is False

    trusted = runner.invoke(args=["purge", "--trust-clock"])

    assert trusted.exit_code == 0, trusted.output
    assert count(app, Signup) == 0


def test_healthz_says_retention_is_purging_when_the_clock_is_sane(app, client, clock):
    visitor_signs_up(client, "minji@example.org")
    body = client.get("/healthz").get_json()
    assert body["retention"] == {"purging": True, "reason": None}


def test_an_event_that_waits_for_its_export_is_said_once_a_run_not_audited_every_day(
    app, client, lead, runner, clock
):
    from sqlalchemy import func, select

    from kiosk.extensions import db
    from kiosk.models import AuditEntry

    visitor_signs_up(client, "minji@example.org")
    lead_closes(lead, active_event_id(app))
    clock.move(days=91)
    for _day in range(3):
        result = runner.invoke(args=["purge"])
        assert "kept 1 sign-up not yet exported" in result.output, result.output
        clock.move(days=1)
    with app.app_context():
        purges = select(func.count()).where(AuditEntry.action == "purge")
        assert db.session.scalar(purges) == 0
    assert count(app, Signup) == 1


def test_an_event_closed_under_a_clock_back_in_1970_keeps_its_days_and_its_consent_is_marked(
    app, client, lead, runner, clock
):
    visitor_signs_up(client, "minji@example.org")  # the clock is right
    event_id = active_event_id(app)
    right = clock.moment
    clock.moment = datetime(1970, 1, 2, 9, 0, tzinfo=UTC)  # a Pi that lost the time
    visitor_signs_up(client, "ana@example.org", first_name="Ana")
    assert client.get("/healthz").get_json()["retention"]["purging"] is False
    lead_closes(lead, event_id)
    mailchimp = lead_exports(lead, event_id, "mailchimp").decode("utf-8-sig").splitlines()
    signups_csv = lead_exports(lead, event_id, "csv").decode("utf-8-sig")
    [ana] = [line for line in mailchimp if line.startswith("ana@")]
    [minji] = [line for line in mailchimp if line.startswith("minji@")]
    assert ana.endswith(",,1970-01-02T09:00:00Z (recorded while the kiosk's clock was wrong)")
    assert f",{right:%Y-%m-%d},{right:%Y-%m-%dT%H:%M:%S}Z" in minji
    assert "1970-01-02T09:00:00+00:00 (recorded while the kiosk's clock was wrong)" in signups_csv

    clock.moment = right + timedelta(days=1)  # the clock is right again: nothing is due
    assert runner.invoke(args=["purge"]).exit_code == 0
    assert count(app, Signup, Signup.event_id == event_id) == 2

    clock.moment = right + timedelta(days=92)  # its retention days, from a trusted time
    assert runner.invoke(args=["purge"]).exit_code == 0
    assert count(app, Signup, Signup.event_id == event_id) == 0


def test_an_event_stamped_closed_in_1970_is_kept_its_days_from_the_day_it_took_place(
    app, client, lead, runner, clock
):
    visitor_signs_up(client, "minji@example.org")
    event_id = active_event_id(app)
    lead_closes(lead, event_id)
    lead_exports(lead, event_id, "csv")
    with app.app_context():  # closed by a kiosk before this fix, under a clock in 1970
        event = db.session.get(Event, event_id)
        event.closed_at = datetime(1970, 1, 2, tzinfo=UTC)
        db.session.commit()
    clock.move(days=2)
    assert runner.invoke(args=["purge"]).exit_code == 0
    assert count(app, Signup, Signup.event_id == event_id) == 1
    clock.move(days=90)
    assert runner.invoke(args=["purge"]).exit_code == 0
    assert count(app, Signup, Signup.event_id == event_id) == 0
