"""Erasing an event: never while it is active, and an erased event takes no new records, stays
on the erase list while it holds any, and is not skipped by retention (issue 10, point 2)."""

import pytest

from kiosk.extensions import db
from kiosk.models import Event, Signup, Tally
from kiosk.services import events
from tests.data_helpers import (
    active_event_id,
    count,
    event_of,
    lead_closes,
    lead_erases_event,
    lead_exports,
    visitor_signs_up,
)

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


def export_everything(lead, event_id: int) -> None:
    for name in ("csv", "pledges", "questions"):
        lead_exports(lead, event_id, name)


def test_an_active_event_is_not_erased_even_after_its_export(app, client, lead, clock):
    visitor_signs_up(client, "minji@example.org")
    event_id = active_event_id(app)
    export_everything(lead, event_id)

    refused = lead_erases_event(lead, event_id)

    assert refused.status_code == 409
    assert "Close" in refused.get_data(as_text=True)
    assert count(app, Signup) == 1
    assert event_of(app, event_id).erased_at is None


def test_an_erased_event_is_not_activated_again_and_takes_no_new_records(app, client, lead, clock):
    visitor_signs_up(client, "minji@example.org")
    event_id = active_event_id(app)
    lead_closes(lead, event_id)
    export_everything(lead, event_id)
    assert lead_erases_event(lead, event_id).status_code == 200

    again = lead.post(f"/lead/events/{event_id}/activate")

    assert again.status_code == 409
    assert event_of(app, event_id).status == Event.CLOSED
    visitor_signs_up(client, "late@example.org", first_name="Late")
    assert client.post("/opener", data={"choice": "people"}).status_code == 303
    assert count(app, Signup, Signup.event_id == event_id) == 0
    assert count(app, Tally, Tally.event_id == event_id) == 0
    with app.app_context():
        walk_up = events.active_event()
        assert walk_up.id != event_id
    assert count(app, Signup, Signup.event_id == walk_up.id) == 1


def test_a_record_that_reached_an_erased_event_keeps_it_on_the_erase_list_and_in_retention(
    app, client, lead, clock
):
    """A sign-up racing the erasure can still land in the event (another server process had
    already picked it): the event then is not 'erased' for the lead or for retention."""
    visitor_signs_up(client, "minji@example.org")
    event_id = active_event_id(app)
    lead_closes(lead, event_id)
    export_everything(lead, event_id)
    assert lead_erases_event(lead, event_id).status_code == 200
    with app.app_context():  # the racing sign-up
        db.session.add(Signup(event_id=event_id, first_name="Racer", email="racer@example.org"))
        db.session.commit()

    page = lead.get("/lead/data").get_data(as_text=True)
    assert f'action="/lead/events/{event_id}/erase"' in page

    lead_exports(lead, event_id, "csv")
    clock.move(days=100)
    with app.app_context():
        from kiosk.services import erasure

        purged = erasure.purge_expired()
    assert purged.signups == 1
    assert count(app, Signup, Signup.event_id == event_id) == 0


def test_a_closed_event_given_to_a_form_hands_the_record_to_the_active_event(app, clock):
    from kiosk.services import signups

    with app.app_context():
        closed = events.create_event("Yesterday")
        events.close_event(closed)
        record = signups.record_signup(
            first_name="Ana", email="ana@example.org", consent=True, event=closed
        )
        assert record.event_id == events.active_event().id != closed.id


def test_closing_then_merging_a_tablets_file_is_allowed(app, lead, clock):
    """The natural order after a fair: close the event, then merge the tablets into it."""
    import json

    from tests.data_helpers import lead_imports
    from tests.test_imports import signup, tablet_bundle

    lead_imports(lead, json.dumps(tablet_bundle([signup("a@example.org", "Ana")])).encode())
    with app.app_context():
        event = db.session.scalars(db.select(Event).order_by(Event.id.desc())).first()
        event_id = event.id
    lead_closes(lead, event_id)
    later = tablet_bundle([signup("b@example.org", "Ben")])
    response = lead_imports(lead, json.dumps(later).encode())
    assert response.status_code == 200
    assert count(app, Signup, Signup.event_id == event_id) == 2
