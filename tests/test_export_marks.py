"""Export marks: a record counts as exported only once it was written into an export of its
own kind, whatever the clocks of this kiosk or another tablet said (issue 10, point 1)."""

import json

import pytest

from kiosk.models import Pledge, Question, Signup
from tests.data_helpers import (
    active_event_id,
    count,
    event_of,
    lead_closes,
    lead_erases_event,
    lead_exports,
    lead_imports,
    visitor_asks,
    visitor_pledges,
    visitor_signs_up,
)
from tests.lead_helpers import log_in
from tests.test_imports import signup, tablet_bundle

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


def test_exporting_only_the_pledges_and_questions_does_not_unlock_erasing_the_signups(
    app, client, lead, clock
):
    visitor_signs_up(client, "minji@example.org")
    visitor_pledges(client, email="sam@example.org", name="Sam")
    visitor_asks(client)
    event_id = active_event_id(app)
    clock.move(minutes=5)
    lead_exports(lead, event_id, "pledges")
    lead_exports(lead, event_id, "questions")
    lead_closes(lead, event_id)
    clock.move(minutes=5)

    refused = lead_erases_event(lead, event_id)

    assert refused.status_code == 409
    assert "1 sign-up" in refused.get_data(as_text=True)
    assert count(app, Signup) == 1
    assert event_of(app, event_id).erased_at is None


def test_signups_merged_from_another_tablet_arrive_unexported(app, client, lead, clock):
    """The other tablet's sign-up is older than this kiosk's export: it is still in no export."""
    bundle = tablet_bundle([signup("tablet-b@example.org", "Bora", minutes=0)])
    lead_imports(lead, json.dumps(bundle).encode())
    event_id = _event_of_bundle(app, bundle)
    clock.move(days=3)  # the export here happens long after the sign-up on the other tablet
    log_in(lead)  # days later: the lead logs in again
    lead_exports(lead, event_id, "pledges")
    lead_exports(lead, event_id, "questions")
    another = tablet_bundle([signup("tablet-c@example.org", "Chul", minutes=1)])
    lead_imports(lead, json.dumps(another).encode())
    lead_closes(lead, event_id)

    refused = lead_erases_event(lead, event_id)

    assert refused.status_code == 409
    assert "2 sign-ups" in refused.get_data(as_text=True)
    assert count(app, Signup) == 2


def test_a_signup_merged_after_the_signups_export_is_not_exported(app, lead, clock):
    bundle = tablet_bundle([signup("ana@example.org", "Ana", minutes=0)])
    lead_imports(lead, json.dumps(bundle).encode())
    event_id = _event_of_bundle(app, bundle)
    clock.move(days=3)
    log_in(lead)  # days later: the lead logs in again
    lead_exports(lead, event_id, "csv")
    lead_exports(lead, event_id, "pledges")
    lead_exports(lead, event_id, "questions")
    # Another tablet's sign-up, taken before the export above, merged after it.
    later = tablet_bundle([signup("ben@example.org", "Ben", minutes=1)])
    lead_imports(lead, json.dumps(later).encode())
    lead_closes(lead, event_id)

    refused = lead_erases_event(lead, event_id)

    assert refused.status_code == 409
    assert "1 sign-up" in refused.get_data(as_text=True)
    assert count(app, Signup) == 2


def test_signups_taken_while_the_clock_was_behind_are_not_counted_as_exported(
    app, client, lead, clock
):
    visitor_signs_up(client, "first@example.org")
    event_id = active_event_id(app)
    lead_exports(lead, event_id, "csv")
    clock.move(days=-1)  # the Pi lost its clock: a day behind
    visitor_signs_up(client, "second@example.org", first_name="Second")
    lead_closes(lead, event_id)

    refused = lead_erases_event(lead, event_id)

    assert refused.status_code == 409
    assert "1 sign-up" in refused.get_data(as_text=True)
    assert count(app, Signup) == 2


def test_after_every_kind_is_exported_the_event_is_erased(app, client, lead, clock):
    visitor_signs_up(client, "minji@example.org")
    visitor_pledges(client, email="sam@example.org", name="Sam")
    visitor_asks(client, email="q@example.org")
    event_id = active_event_id(app)
    lead_closes(lead, event_id)
    for name in ("mailchimp", "pledges", "questions"):
        lead_exports(lead, event_id, name)

    erased = lead_erases_event(lead, event_id)

    assert erased.status_code == 200, erased.get_data(as_text=True)
    assert count(app, Signup) == 0 and count(app, Question) == 0
    assert count(app, Pledge) == 1 and count(app, Pledge, Pledge.email != "") == 0


def test_a_second_signup_of_the_same_person_after_the_export_is_exported_again_first(
    app, client, lead, clock
):
    """What was exported is the record as it was; a later change (a new phone number, more
    interests) is in no export until the next one."""
    visitor_signs_up(client, "minji@example.org")
    event_id = active_event_id(app)
    lead_exports(lead, event_id, "csv")
    visitor_signs_up(client, "MINJI@example.org", phone="+12025550101")
    lead_closes(lead, event_id)

    refused = lead_erases_event(lead, event_id)
    assert refused.status_code == 409
    assert "1 sign-up" in refused.get_data(as_text=True)

    exported = lead_exports(lead, event_id, "csv").decode("utf-8-sig")
    assert "+12025550101" in exported
    assert lead_erases_event(lead, event_id).status_code == 200
    assert count(app, Signup) == 0


def _event_of_bundle(app, bundle: dict) -> int:
    from sqlalchemy import select

    from kiosk.extensions import db
    from kiosk.models import Event

    with app.app_context():
        return db.session.scalar(select(Event.id).where(Event.uuid == bundle["event"]["uuid"]))


# ---- The marks themselves ---------------------------------------------------------------


def _signup_marks(app) -> list[tuple]:
    from sqlalchemy import select

    from kiosk.extensions import db

    with app.app_context():
        return list(
            db.session.execute(
                select(
                    Signup.email,
                    Signup.revision,
                    Signup.exported_revision,
                    Signup.mailchimp_revision,
                ).order_by(Signup.id)
            )
        )


def test_a_json_made_to_merge_tablets_marks_nothing_and_a_kept_one_marks_everything(
    app, client, lead
):
    visitor_signs_up(client, "minji@example.org")
    visitor_asks(client, email="q@example.org")
    event_id = active_event_id(app)
    lead_exports(lead, event_id, "json")
    assert _signup_marks(app) == [("minji@example.org", 1, None, None)]
    assert event_of(app, event_id).exported_at is None

    lead_exports(lead, event_id, "json", keep="yes")

    assert _signup_marks(app) == [("minji@example.org", 1, 1, None)]
    assert event_of(app, event_id).exported_at is not None
    assert "kept as the event" in lead.get("/lead/audit").get_data(as_text=True)


def test_the_mailchimp_file_marks_its_own_revision_too_and_only_the_consenting(app, client, lead):
    from kiosk.extensions import db

    visitor_signs_up(client, "minji@example.org")
    with app.app_context():  # typed in without consent (no form allows it; an old record)
        db.session.add(Signup(event_id=active_event_id(app), first_name="N", email="n@x.org"))
        db.session.commit()
    event_id = active_event_id(app)
    lead_exports(lead, event_id, "mailchimp")
    assert _signup_marks(app) == [("minji@example.org", 1, 1, 1), ("n@x.org", 1, None, None)]
    lead_exports(lead, event_id, "csv")
    visitor_signs_up(client, "minji@example.org", phone="+12025550101")
    lead_exports(lead, event_id, "csv")
    assert _signup_marks(app) == [("minji@example.org", 2, 2, 1), ("n@x.org", 1, 1, None)]


def test_a_record_that_changes_while_the_export_is_written_stays_unexported(app, clock):
    from kiosk.services import events, exports, signups

    with app.app_context():
        signups.record_signup(first_name="Minji", email="minji@example.org", consent=True)
        event = events.active_event()
        marks = exports.Marks()
        text = "".join(exports.export_chunks(event, "csv", marks))
        assert "+12025550101" not in text
        # Meanwhile, on another tablet thread, the same person signs up again.
        signups.record_signup(
            first_name="Minji", email="minji@example.org", phone="+12025550101", consent=True
        )
        exports.mark_exported(event, "csv", marks=marks)
    assert _signup_marks(app) == [("minji@example.org", 2, None, None)]


def test_being_exported_does_not_change_a_signups_updated_time(app, client, lead, clock):
    from sqlalchemy import select

    from kiosk.extensions import db

    visitor_signs_up(client, "minji@example.org")
    with app.app_context():
        before = db.session.scalar(select(Signup.updated_at))
    clock.move(minutes=20)
    lead_exports(lead, active_event_id(app), "csv")
    with app.app_context():
        assert db.session.scalar(select(Signup.updated_at)) == before


def test_kiosk_export_keep_marks_a_json_file_as_the_record(app, client, runner, tmp_path):
    visitor_signs_up(client, "minji@example.org")
    event_id = active_event_id(app)
    plain = runner.invoke(args=["export", "--format", "json", "--out", str(tmp_path / "a.json")])
    assert plain.exit_code == 0, plain.output
    assert _signup_marks(app)[0][2] is None
    kept = runner.invoke(
        args=["export", "--format", "json", "--keep", "--out", str(tmp_path / "b.json")]
    )
    assert kept.exit_code == 0, kept.output
    assert _signup_marks(app)[0][2] == 1
    assert event_of(app, event_id).exported_at is not None
