"""Events: which one is active, creating and switching them."""

from datetime import date

from flask import g
from sqlalchemy import select, update

from kiosk import clock
from kiosk.extensions import db
from kiosk.models import Event, utcnow

DEMO_EVENT_NAME = "Demo event"
WALK_UP_NAME = "Walk-up table {day:%Y-%m-%d}"


def active_event() -> Event | None:
    """The event that new taps and sign-ups belong to, looked up once per request."""
    if "active_event" not in g:
        g.active_event = db.session.scalar(select(Event).where(Event.status == Event.ACTIVE))
    return g.active_event


def current_event() -> Event:
    """The active event, or a new one when none is active.

    The kiosk never drops a tap or a sign-up because the lead closed the last event:
    it opens a walk-up event for the day, which the lead can rename later.
    """
    event = active_event()
    if event is None:
        today = clock.today()
        event = create_event(WALK_UP_NAME.format(day=today), on=today, activate=True)
    return event


def event_to_show() -> Event:
    """The active event, or an unsaved stand-in with nothing recorded yet.

    For pages that only read (a GET never changes anything): the walk-up event is created
    by the first tap or sign-up, not by someone looking at the screen.
    """
    return active_event() or Event(
        name=WALK_UP_NAME.format(day=clock.today()),
        date=clock.today(),
        goal_cents=300_000,
        rescue_cost_cents=300_000,
        tracking_source="",
    )


def create_event(
    name: str,
    *,
    on: date | None = None,
    place: str = "",
    goal_cents: int = 300_000,
    rescue_cost_cents: int = 300_000,
    tracking_source: str = "",
    locale: str | None = None,
    activate: bool = False,
) -> Event:
    event = Event(
        name=name,
        date=on,
        place=place,
        goal_cents=goal_cents,
        rescue_cost_cents=rescue_cost_cents,
        tracking_source=tracking_source,
        locale=locale,
    )
    db.session.add(event)
    db.session.flush()
    if activate:
        activate_event(event)
    else:
        db.session.commit()
    return event


def update_event(
    event: Event,
    *,
    name: str,
    on: date | None,
    place: str,
    goal_cents: int,
    rescue_cost_cents: int,
    tracking_source: str,
    locale: str | None = None,
) -> Event:
    """Change an event's details; its status and records stay as they are."""
    event.name = name
    event.date = on
    event.place = place
    event.goal_cents = goal_cents
    event.rescue_cost_cents = rescue_cost_cents
    event.tracking_source = tracking_source
    event.locale = locale
    db.session.commit()
    return event


def activate_event(event: Event) -> Event:
    """Make `event` the only active one; the one before goes back to planned."""
    db.session.execute(
        update(Event)
        .where(Event.status == Event.ACTIVE, Event.id != event.id)
        .values(status=Event.PLANNED)
    )
    event.status = Event.ACTIVE
    event.closed_at = None
    db.session.commit()
    g.pop("active_event", None)
    return event


def close_event(event: Event) -> Event:
    event.status = Event.CLOSED
    event.closed_at = utcnow()
    db.session.commit()
    g.pop("active_event", None)
    return event


def list_events() -> list[Event]:
    return list(db.session.scalars(select(Event).order_by(Event.date.desc(), Event.id.desc())))


def ensure_demo_event() -> Event:
    """On a fresh kiosk, a demo event so the table works before the lead sets one up."""
    event = active_event()
    if event is not None:
        return event
    return create_event(
        DEMO_EVENT_NAME, on=clock.today(), tracking_source="RescueTeamKiosk", activate=True
    )
