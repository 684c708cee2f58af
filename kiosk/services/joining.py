"""Joining an event: another kiosk takes on an event of this one, so that all its records
carry the event's identity (its UUID) and its exports merge here as the same event.

The join file is small and holds nothing personal: the event's UUID, name, date, place,
goal, rescue cost, tracking source, language and erasure key (so that a person erased on
one kiosk is recognised, by a keyed hash, on the other), and the team's own page
(services/team.py: taken by its UUID, shown unless this kiosk's is newer).
`kiosk event join FILE` or the Data page read it; an event export (JSON bundle) is read
too, by its event alone.
"""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kiosk.content import current_content
from kiosk.extensions import db
from kiosk.models import Event, new_erasure_key
from kiosk.services import events, sealing, team
from kiosk.services.audit import record_audit
from kiosk.services.exports import BUNDLE_FORMAT, export_file_name
from kiosk.services.imports import ImportRefused, _Fields, bounded_json_integer

JOIN_FORMAT = "rescue-team-kiosk/event-join"
JOIN_VERSION = 1


@dataclass
class Joined:
    event: Event
    created: bool
    language: str  # the language the other kiosk shows this event in


def join_file(event: Event) -> str:
    """The file another kiosk imports to take on `event`."""
    day = event.date.isoformat() if event.date else None
    data = {
        "format": JOIN_FORMAT,
        "version": JOIN_VERSION,
        "event": {
            "uuid": event.uuid,
            "name": event.name,
            "date": day,
            "place": event.place,
            "goal_cents": event.goal_cents,
            "rescue_cost_cents": event.rescue_cost_cents,
            "tracking_source": event.tracking_source,
            "language": current_content().locale,
            # Both kiosks make the same tombstones for the event (services/tombstones.py).
            "erasure_key": event.erasure_key,
        },
        # The team's own page (services/team.py): the joined kiosk shows it too.
        "team": team.as_dict(),
        # What the joined kiosk seals personal data to: the team lead's key opens it.
        "team_public_key": sealing.public_key_text(),
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def join_file_name(event: Event) -> str:
    return export_file_name(event, "json").replace("_json.json", "_join.json")


def _read(raw: bytes | str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw.lstrip("\ufeff")
        data = json.loads(text, parse_int=bounded_json_integer)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ImportRefused(f"This is not a join file: it is not valid JSON ({error}).") from error
    if not isinstance(data, dict) or data.get("format") not in (JOIN_FORMAT, BUNDLE_FORMAT):
        raise ImportRefused(
            "This is not a join file. On the first kiosk, open Events and choose "
            "“Set up another kiosk for this event”."
        )
    if data.get("version") != JOIN_VERSION:
        raise ImportRefused(
            f"This join file is version {data.get('version')!r}; this kiosk "
            f"reads version {JOIN_VERSION}."
        )
    try:
        team_page = team.read(data.get("team"))
    except team.TeamRefused as refused:
        raise ImportRefused(str(refused)) from refused
    public_key = data.get("team_public_key")
    if public_key is not None:
        try:
            sealing.read_public_key_text(public_key)
        except ValueError as error:
            raise ImportRefused(
                "This join file's team key is damaged: make the file again on the first kiosk."
            ) from error
    f = _Fields("event", data.get("event"))
    return {
        "team": team_page,
        "team_public_key": public_key,
        "uuid": f.uuid(),
        "name": f.text("name", 120, required=True).strip(),
        "date": f.day("date"),
        "place": f.text("place", 160),
        "goal_cents": f.integer("goal_cents", 0, events.LARGEST_CENTS),
        "rescue_cost_cents": f.integer("rescue_cost_cents", 100, events.LARGEST_CENTS),
        "tracking_source": f.text("tracking_source", 80),
        "language": f.text("language", 10, default=current_content().locale),
        "erasure_key": f.hex_key("erasure_key") or new_erasure_key(),
    }


def join_event(raw: bytes | str, *, activate: bool = False, actor: str = "") -> Joined:
    """Take on the event of a join file (or of an event export); the same one twice is a no-op.

    ImportRefused when the file is not one, or the event's data was erased here.
    """
    values = _read(raw)
    language = values.pop("language")
    team_page = values.pop("team")
    team_public_key = values.pop("team_public_key")
    event = db.session.scalar(select(Event).where(Event.uuid == values["uuid"]))
    created = event is None
    if event is not None and event.erased_at is not None:
        raise ImportRefused(f"The personal data of {event.name!r} was erased on this kiosk.")
    if event is None:
        event = Event(status=Event.PLANNED, **values)
        db.session.add(event)
        try:
            db.session.commit()
        except IntegrityError:  # joined at the same moment by another request: that one
            db.session.rollback()
            return join_event(raw, activate=activate, actor=actor)
        record_audit("event.join", f"Event {event.id} ({event.name}) joined from a file", actor)
    outcome = team.take(team_page)
    if team_public_key is not None:
        sealing.ensure_team_key()  # this kiosk's own pair first (its lead's setup needs one)
        if sealing.adopt_team_public_key(team_public_key):
            record_audit("team.key_joined", "Personal data is now sealed to the team's key", actor)
    db.session.commit()
    if outcome == team.TAKEN:
        record_audit("team.joined", "Our team: the page of the join file is shown", actor)
    if activate and event.status != Event.ACTIVE:
        events.activate_event(event)
    return Joined(event, created, language)
