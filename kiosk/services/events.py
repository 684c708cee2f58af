"""Events: which one is active, creating, checking and switching them.

At most one event is active: a partial unique index says so (models.Event). Everything that
makes an event active serialises on ACTIVATION (services/atomic.py), so two requests, in any
server processes, never both open a walk-up event or undo each other's activation.
"""

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import g
from flask_babel import gettext as _
from sqlalchemy import select, update

from kiosk import clock, i18n
from kiosk.content import current_content
from kiosk.extensions import db
from kiosk.models import Event, utcnow
from kiosk.parsing import amount_text, clean_text
from kiosk.services import sealing
from kiosk.services.atomic import insert_new, serialise
from kiosk.services.erasure import clock_problem, newest_record_time
from kiosk.services.records import Checker

ACTIVATION = "kiosk: make an event active"
DEMO_EVENT_NAME = "Demo event"
WALK_UP_NAME = "Walk-up table {day:%Y-%m-%d}"
NAME_MAX = 120
PLACE_MAX = 160
TRACKING_MAX = 80
# Ten million dollars: far above any table's goal, and within a 32-bit INTEGER of cents.
LARGEST_CENTS = 10_000_000_00
TRACKING_SOURCE = re.compile(r"[\w.-]*")


# The look-up of the active event, built once: building it (a select, a comparison, their
# cache key) cost about as much as running it, on every sign-up.
ACTIVE_EVENT = select(Event).where(Event.status == Event.ACTIVE)


def active_event() -> Event | None:
    """The event that new taps and sign-ups belong to, looked up once per request."""
    if "active_event" not in g:
        g.active_event = db.session.scalar(ACTIVE_EVENT)
    return g.active_event


def current_event() -> Event:
    """The active event, or a new one when none is active.

    The kiosk never drops a tap or a sign-up because the lead closed the last event:
    it opens a walk-up event for the day, which the lead can rename later.
    """
    event = active_event()
    if event is None:
        today = clock.today()
        event = open_event_unless_one_is_active(WALK_UP_NAME.format(day=today), on=today)
    return event


def open_event_unless_one_is_active(name: str, *, on: date, tracking_source: str = "") -> Event:
    """The active event; when there is none, a new event `name`, made active.

    Many requests may find no active event at once (the lead just closed the last one and
    eight visitors tap "Sign up"): the first to get the turn opens the event, the others
    find it and use it. Nobody is refused, and one event is opened, not eight.
    """
    for _attempt in range(3):
        g.pop("active_event", None)
        serialise(ACTIVATION)
        event = active_event()  # read after the turn: what an earlier turn opened is seen
        if event is not None:
            db.session.commit()
            return event
        # ON CONFLICT as well: the one-active index, not the turn alone, has the last word.
        values = {"name": name, "date": on, "tracking_source": tracking_source}
        new_id = insert_new(Event, with_pack_cost(values | {"status": Event.ACTIVE}))
        db.session.commit()
        g.pop("active_event", None)
        if new_id is not None:
            return db.session.get_one(Event, new_id)
    raise RuntimeError("no event could be made active three times over")


def event_taking_records(event: Event | None = None) -> Event:
    """`event` if it may take a new record now, else the event that does.

    A closed or erased event never takes one: a form that still names it (or a tap that
    arrives after the lead closed it) lands on the active event, or the walk-up one.
    """
    if event is not None and event.status == Event.ACTIVE and event.erased_at is None:
        return event
    return current_event()


def event_to_show() -> Event:
    """The active event, or an unsaved stand-in with nothing recorded yet.

    For pages that only read (a GET never changes anything): the walk-up event is created
    by the first tap or sign-up, not by someone looking at the screen.
    """
    return active_event() or new_event(
        name=WALK_UP_NAME.format(day=clock.today()), date=clock.today(), tracking_source=""
    )


def with_pack_cost(values: dict[str, Any]) -> dict[str, Any]:
    """A new event's `values`, its goal and rescue cost the content pack's cost of one rescue
    where they are not given (or None)."""
    cost = current_content().rescue_cost_cents
    return values | {
        key: cost for key in ("goal_cents", "rescue_cost_cents") if values.get(key) is None
    }


def new_event(**values: Any) -> Event:
    """An event not stored yet; see with_pack_cost for its goal and rescue cost."""
    return Event(**with_pack_cost(values))


def create_event(
    name: str,
    *,
    on: date | None = None,
    place: str = "",
    goal_cents: int | None = None,
    rescue_cost_cents: int | None = None,
    tracking_source: str = "",
    locale: str | None = None,
    activate: bool = False,
) -> Event:
    """A new event; its goal and rescue cost default to the content pack's cost of a rescue."""
    event = new_event(
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


def checked_details(form: Mapping[str, str]) -> dict[str, Any]:
    """The event form's fields as `create_event`/`update_event` take them.

    Raises InvalidInput with a message per field at fault.
    """
    check = Checker()
    name = check.text("name", form.get("name"), NAME_MAX, required=_("Give the event a name."))
    on = check.day("date", form.get("date"))
    place = check.text("place", form.get("place"), PLACE_MAX)
    goal_cents = check.money("goal", form.get("goal"), 0, LARGEST_CENTS)
    rescue_cost_cents = check.money("rescue_cost", form.get("rescue_cost"), 100, LARGEST_CENTS)
    tracking = check.text("tracking_source", form.get("tracking_source"), TRACKING_MAX)
    if not TRACKING_SOURCE.fullmatch(tracking):
        check.errors["tracking_source"] = _("Use letters, digits, - _ or . only (at most 80).")
    # The language new visitors meet: one the content packs speak, or none (the instance's).
    locale = clean_text(form.get("locale"))
    if locale and not i18n.speaks(locale):
        check.errors["locale"] = _("Choose one of the languages offered.")
    check.done()
    return {
        "name": name,
        "on": on,
        "place": place,
        "goal_cents": goal_cents,
        "rescue_cost_cents": rescue_cost_cents,
        "tracking_source": tracking,
        "locale": locale or None,
    }


def form_of(event: Event | None) -> dict[str, str]:
    """The event form's fields as typed: an event's details, or a new event's defaults."""
    if event is None:
        cost = amount_text(current_content().rescue_cost_cents)
        return {"date": clock.today().isoformat(), "goal": cost, "rescue_cost": cost}
    return {
        "name": event.name,
        "date": event.date.isoformat() if event.date else "",
        "place": event.place,
        "goal": amount_text(event.goal_cents),
        "rescue_cost": amount_text(event.rescue_cost_cents),
        "tracking_source": event.tracking_source,
        "locale": event.locale or "",
    }


def event_by_id(event_id: int) -> Event | None:
    return db.session.get(Event, event_id)


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


class EventErased(Exception):
    """An event whose personal data was erased is not opened again."""


def activate_event(event: Event) -> Event:
    """Make `event` the only active one; the one before goes back to planned.

    An erased event stays closed: records taken in it would sit beside an erasure the lead
    believes complete.
    """
    if event.erased_at is not None:
        raise EventErased(f"The personal data of {event.name!r} was erased; it stays closed.")
    serialise(ACTIVATION)
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
    """Close `event`. Retention counts from `closed_at`, so under a clock known to be wrong
    (a Pi back in 1970: erasure.clock_problem, what /healthz says) the close is stamped
    with the newest time the kiosk has seen instead, never with that clock's."""
    moment = utcnow()
    if clock_problem() is not None:
        moment = max(moment, newest_record_time() or moment)
    event.status = Event.CLOSED
    event.closed_at = moment
    db.session.commit()
    g.pop("active_event", None)
    return event


def list_events() -> list[Event]:
    return list(db.session.scalars(select(Event).order_by(Event.date.desc(), Event.id.desc())))


def ensure_demo_event() -> Event:
    """On a fresh kiosk, a demo event so the table works before the lead sets one up (and
    the team key, before any record: services/sealing.py)."""
    sealing.ensure_team_key()
    event = active_event()
    if event is not None:
        return event
    return open_event_unless_one_is_active(
        DEMO_EVENT_NAME, on=clock.today(), tracking_source="RescueTeamKiosk"
    )
