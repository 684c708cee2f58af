"""The team's own page ("Our team", /lead/team): its name, fundraising page and goal, contact
for press and questions, public sign-up link and next events.

Nothing set means the content pack speaks: the team's name, contact and links come from it,
and it stays the place for a new language (an event's line of text is asked for in every
language the kiosk's packs speak).

Versions, not edits: every save adds a TeamPage version (models.TeamPage) and the page shown
is the one with the highest revision (ties: the highest UUID). A save's revision is one more
than the highest this kiosk holds, its own or imported. The current version travels in the
event's JSON bundle and join file (`team`); importing it inserts it by UUID (ON CONFLICT DO
NOTHING), so a file imported twice changes nothing, and it is shown only if its revision is
higher. So:

- an edit made here after another kiosk's version arrived has a higher revision: a file with
  that older version never replaces it;
- two kiosks that each saved without seeing the other's version have equal revisions: both
  pick the same one (the higher UUID) and so agree; the other stays stored as a version, and
  the import's report and the audit log say which one is shown. Nothing is compared by clock.

`team_contact()` is the address for press and questions that other screens use.
"""

import ipaddress
import uuid as uuid_module
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from flask import g
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError

from kiosk import clock, i18n, page_cache
from kiosk.content import Link, current_content
from kiosk.extensions import db
from kiosk.models import TeamEvent, TeamPage
from kiosk.parsing import amount_text
from kiosk.services.atomic import insert_new, serialise
from kiosk.services.audit import record_audit
from kiosk.services.records import Checker, clean_text

SAVING = "kiosk: save the team page"
NAME_MAX = 120
URL_MAX = 300
EMAIL_MAX = 254
PLACE_MAX = 160
TEXT_MAX = 200
# Rows of next events on the form (and at most in a file): a table's next few meetings.
EVENT_ROWS = 3
# Versions kept here; older ones are let go at a save (the page shown is never among them).
KEEP_VERSIONS = 50
# Ten million dollars, as an event's goal (services/events.LARGEST_CENTS).
LARGEST_CENTS = 10_000_000_00
# Host names that only a local network knows: never behind a public sign-up link.
LOCAL_SUFFIXES = (".local", ".lan", ".home", ".internal", ".localdomain", ".home.arpa")

# The links a team page may stand in for: its fundraising page for donate and fundraise.
FUNDRAISING_LINKS = ("donate", "fundraise")
SIGNUP_LINK = "signup"


@dataclass(frozen=True)
class NextEvent:
    day: date
    place: str
    texts: dict[str, str]

    @property
    def text(self) -> str:
        """The line in the visitor's language, else the pack's default, else any."""
        locale = str(get_locale())
        for code in (locale, i18n.instance_locale()):
            if self.texts.get(code):
                return self.texts[code]
        return next((t for t in self.texts.values() if t), "")


@dataclass(frozen=True)
class Team:
    """The team as visitors see it: the saved page over the content pack's defaults."""

    name: str
    contact_email: str
    fundraising_url: str = ""
    goal_cents: int | None = None
    signup_url: str = ""
    events: tuple[NextEvent, ...] = ()
    # The version shown (0: none saved yet), and the kiosk that saved it.
    revision: int = 0
    kiosk_id: str | None = None

    @property
    def next_events(self) -> list[NextEvent]:
        """The events from today on, soonest first (the past ones are shown no more)."""
        today = clock.today()
        return sorted((e for e in self.events if e.day >= today), key=lambda e: e.day)


def current_version() -> TeamPage | None:
    """The version shown: the highest revision, ties broken by the highest UUID."""
    return db.session.scalar(
        select(TeamPage).order_by(TeamPage.revision.desc(), TeamPage.uuid.desc()).limit(1)
    )


def _pack_name() -> str:
    org = current_content().org
    return f"{org['short_name']} {org['team_name']}"


def team() -> Team:
    """The team now: kept per process until the page (or any setup) changes, like the
    event's language (kiosk/page_cache.py). Every screen's brand line shows its name, the
    calm error page too: a database that cannot say gives the pack's defaults."""
    if "kiosk_team" not in g:
        try:
            g.kiosk_team = page_cache.remembered(
                "team", (page_cache.SETUP,), lambda: _team_of(current_version())
            )
        except SQLAlchemyError:
            db.session.rollback()
            return _team_of(None)
    return g.kiosk_team


def forget() -> None:
    """After a save or an import: this request reads the team afresh."""
    g.pop("kiosk_team", None)


def _team_of(version: TeamPage | None) -> Team:
    # The pack's address for press and questions (its org's contact unless it names another).
    pack_contact = current_content().press.team_contact
    if version is None:
        return Team(name=_pack_name(), contact_email=pack_contact)
    return Team(
        name=version.name or _pack_name(),
        contact_email=version.contact_email or pack_contact,
        fundraising_url=version.fundraising_url,
        goal_cents=version.goal_cents,
        signup_url=version.signup_url,
        events=tuple(NextEvent(e.day, e.place, dict(e.texts)) for e in version.events),
        revision=version.revision or 0,
        kiosk_id=version.kiosk_id,
    )


def team_name() -> str:
    """The team's name: the saved one, else the pack's ("LiNK Rescue Team")."""
    return team().name


def team_contact() -> str:
    """The address for press and questions: the team's own (Our team), else the pack's
    `press.team_contact` (by default rescueteams@libertyinnorthkorea.org)."""
    return team().contact_email


def links() -> dict[str, Link]:
    """The content pack's links, with the team's pages standing in where it has them: its
    fundraising page for donate and fundraise (tracked as the pack's links are, so they
    still carry the event's trackingSource), its public sign-up link for `signup`."""
    pack_links = current_content().links
    current = team()
    found = dict(pack_links)
    if current.fundraising_url:
        for key in FUNDRAISING_LINKS:
            if key in found:
                found[key] = Link(
                    key, found[key].label, current.fundraising_url, found[key].tracked
                )
    if current.signup_url:
        label = pack_links[SIGNUP_LINK].label if SIGNUP_LINK in pack_links else _("Sign up")
        found[SIGNUP_LINK] = Link(SIGNUP_LINK, str(label), current.signup_url, False)
    return found


def public_signup_url() -> str | None:
    """A sign-up address a phone on mobile data can open: the team page's, else the pack's
    `links.signup` when it is a public https address; never the table's own network."""
    link = links().get(SIGNUP_LINK)
    if link is None or public_https_problem(link.url) is not None:
        return None
    return link.url


# ---- The lead's form ---------------------------------------------------------------------


def public_https_problem(address: str) -> str | None:
    """Why `address` is no public https link, or None when it is one."""
    try:
        parts = urlsplit(address)
        host = (parts.hostname or "").lower()
    except ValueError:
        return _("Please enter a web address, e.g. https://example.com.")
    if parts.scheme != "https":
        return _("Use an https:// address: phones and browsers warn about others.")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if (
        ip is not None
        or "." not in host
        or host == "localhost"
        or host.endswith(LOCAL_SUFFIXES)
        or parts.username
        or parts.password
    ):
        return _("Use a public address with a name, not a local or numeric one.")
    return None


def _https(check: Checker, name: str, value: str | None) -> str:
    typed = clean_text(value)
    if typed and "://" in typed and not typed.lower().startswith("https://"):
        check.errors[name] = _("Use an https:// address: phones and browsers warn about others.")
        return typed
    address = check.link(name, value, URL_MAX)
    if address and name not in check.errors:
        problem = public_https_problem(address)
        if problem:
            check.errors[name] = problem
    return address


def event_field(row: int, part: str) -> str:
    """A field's name of the form's event row `row` (1..EVENT_ROWS): "event1_date"."""
    return f"event{row}_{part}"


def text_locales() -> list[str]:
    """The languages an event's line of text is written in: every pack the kiosk has."""
    return [code for code, _name in i18n.languages()]


def checked(form: Mapping[str, str]) -> dict[str, Any]:
    """The form's fields as `save` takes them; InvalidInput names each field at fault."""
    check = Checker()
    values: dict[str, Any] = {
        "name": check.text("name", form.get("name"), NAME_MAX),
        "fundraising_url": _https(check, "fundraising_url", form.get("fundraising_url")),
        "goal_cents": None,
        "contact_email": check.email("contact_email", form.get("contact_email"), required=False),
        "signup_url": _https(check, "signup_url", form.get("signup_url")),
    }
    if clean_text(form.get("goal")):
        values["goal_cents"] = check.money("goal", form.get("goal"), 100, LARGEST_CENTS)
    rows = []
    for row in range(1, EVENT_ROWS + 1):
        name = event_field(row, "date")
        typed_day = clean_text(form.get(name))
        place = check.text(
            event_field(row, "place"), form.get(event_field(row, "place")), PLACE_MAX
        )
        texts = {
            code: check.text(
                event_field(row, f"text_{code}"),
                form.get(event_field(row, f"text_{code}")),
                TEXT_MAX,
            )
            for code in text_locales()
        }
        if not typed_day and not place and not any(texts.values()):
            continue  # an empty row
        day = check.day(name, typed_day)
        if not typed_day:
            check.errors[name] = _("Give the event a date.")
        if not any(texts.values()):
            first = event_field(row, f"text_{text_locales()[0]}")
            check.errors.setdefault(first, _("Say in a line what happens."))
        if day is not None:
            rows.append({"day": day, "place": place, "texts": texts})
    check.done()
    values["events"] = rows
    return values


def form_of(version: TeamPage | None = None) -> dict[str, str]:
    """The form as the page stands; empty fields stay empty (their hints name the pack's
    defaults), so a pack changed later still speaks for them."""
    version = version if version is not None else current_version()
    if version is None:
        return {}
    form = {
        "name": version.name,
        "fundraising_url": version.fundraising_url,
        "goal": amount_text(version.goal_cents) if version.goal_cents is not None else "",
        "contact_email": version.contact_email,
        "signup_url": version.signup_url,
    }
    for row, event in enumerate(version.events, start=1):
        form[event_field(row, "date")] = event.day.isoformat()
        form[event_field(row, "place")] = event.place
        for code, text in event.texts.items():
            form[event_field(row, f"text_{code}")] = text
    return form


def preview(values: dict[str, Any]) -> Team:
    """How visitors will see `values` once saved (nothing is stored)."""
    page = TeamPage(**{k: v for k, v in values.items() if k != "events"})
    page.events = [
        TeamEvent(position=n, day=e["day"], place=e["place"], texts=e["texts"])
        for n, e in enumerate(values["events"])
    ]
    return _team_of(page)


def save(values: dict[str, Any], actor: str) -> TeamPage:
    """Store `values` as the page's new version and audit it."""
    serialise(SAVING)  # two saves at once: one after the other, each with its own revision
    highest = db.session.scalar(select(func.max(TeamPage.revision))) or 0
    page = TeamPage(revision=highest + 1, **{k: v for k, v in values.items() if k != "events"})
    page.events = [
        TeamEvent(position=n, day=e["day"], place=e["place"], texts=e["texts"])
        for n, e in enumerate(values["events"])
    ]
    db.session.add(page)
    db.session.flush()
    _let_old_versions_go()
    db.session.commit()
    forget()
    record_audit("team.saved", f"Our team, revision {page.revision}: {describe(page)}", actor)
    return page


def _let_old_versions_go() -> None:
    keep = select(TeamPage.id).order_by(TeamPage.revision.desc(), TeamPage.uuid.desc())
    kept = list(db.session.scalars(keep.limit(KEEP_VERSIONS)))
    if len(kept) == KEEP_VERSIONS:
        db.session.execute(delete(TeamPage).where(TeamPage.id.not_in(kept)))


def describe(page: TeamPage) -> str:
    """A version in a line for the audit log (no personal data: the team's public page)."""
    goal = f"goal {amount_text(page.goal_cents)} dollars" if page.goal_cents else "no goal"
    return (
        f"{page.name or '(pack name)'}; {goal}; page {page.fundraising_url or '-'}; "
        f"sign-up {page.signup_url or '-'}; contact {page.contact_email or '-'}; "
        f"{len(page.events)} events"
    )


# ---- Travelling with the event ------------------------------------------------------------


def as_dict(page: TeamPage | None = None) -> dict[str, Any] | None:
    """The current version as the bundle and the join file carry it (None: nothing set)."""
    page = page if page is not None else current_version()
    if page is None:
        return None
    return {
        "uuid": page.uuid,
        "revision": page.revision,
        "name": page.name,
        "fundraising_url": page.fundraising_url,
        "goal_cents": page.goal_cents,
        "contact_email": page.contact_email,
        "signup_url": page.signup_url,
        "kiosk_id": page.kiosk_id,
        "events": [
            {"date": e.day.isoformat(), "place": e.place, "texts": dict(e.texts)}
            for e in page.events
        ],
    }


class TeamRefused(ValueError):
    """A file's team page that is not one; its text says where."""


def read(data: object) -> dict[str, Any] | None:
    """A file's `team`, checked as the lead's form would check it (None when absent).

    TeamRefused names the field at fault.
    """
    if data is None:
        return None
    if not isinstance(data, dict):
        raise TeamRefused("team: expected an object.")
    try:
        version_uuid = str(uuid_module.UUID(str(data.get("uuid"))))
    except ValueError as error:
        raise TeamRefused("team.uuid: not a UUID.") from error
    revision = data.get("revision")
    if type(revision) is not int or not 1 <= revision <= 2**31 - 1:
        raise TeamRefused("team.revision: expected a whole number from 1.")
    goal = data.get("goal_cents")
    if goal is not None and (type(goal) is not int or not 100 <= goal <= LARGEST_CENTS):
        raise TeamRefused("team.goal_cents: expected cents from 100 or null.")
    events = data.get("events", [])
    if not isinstance(events, list) or len(events) > EVENT_ROWS:
        raise TeamRefused(f"team.events: expected a list of at most {EVENT_ROWS}.")
    form: dict[str, str] = {}
    for key in ("name", "fundraising_url", "contact_email", "signup_url"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise TeamRefused(f"team.{key}: expected text.")
        form[key] = value
    for row, event in enumerate(events, start=1):
        if not isinstance(event, dict) or not isinstance(event.get("texts", {}), dict):
            raise TeamRefused(f"team.events[{row - 1}]: expected an object with texts.")
        for key, name in (("date", "date"), ("place", "place")):
            value = event.get(key, "")
            if not isinstance(value, str):
                raise TeamRefused(f"team.events[{row - 1}].{key}: expected text.")
            form[event_field(row, name)] = value
        texts = event.get("texts", {})
        for code, text in texts.items():
            if not isinstance(text, str) or code not in text_locales():
                continue  # a language this kiosk has no pack for: not shown here
            form[event_field(row, f"text_{code}")] = text
    try:
        values = checked(form)
    except Exception as invalid:  # InvalidInput: the file says what no form would take
        errors = getattr(invalid, "errors", {})
        where = ", ".join(f"team.{k}: {v}" for k, v in errors.items())
        raise TeamRefused(where or "team: not a team page.") from invalid
    if len(values["events"]) != len(events):
        raise TeamRefused("team.events: an event without a date or text.")
    if values["contact_email"] == "" and form["contact_email"]:
        raise TeamRefused("team.contact_email: not an email address.")
    # Languages this kiosk does not speak travel on: kept as they came.
    for stored, event in zip(values["events"], events, strict=True):
        for code, text in event.get("texts", {}).items():
            if isinstance(text, str) and code not in stored["texts"]:
                stored["texts"][code] = clean_text(text)[:TEXT_MAX]
    kiosk_id = data.get("kiosk_id")
    if kiosk_id is not None:
        try:
            kiosk_id = str(uuid_module.UUID(str(kiosk_id)))
        except ValueError as error:
            raise TeamRefused("team.kiosk_id: not a kiosk id.") from error
    # The kiosk that saved it stays named (None in a file from before kiosk ids).
    values |= {"uuid": version_uuid, "revision": revision, "goal_cents": goal, "kiosk_id": kiosk_id}
    return values


TAKEN = "taken"  # stored, and shown from now on
STORED = "stored"  # stored, not shown: this kiosk's is newer (or wins the tie)
KNOWN = "known"  # here already


def take(values: dict[str, Any] | None, actor: str = "") -> str | None:
    """Store a file's version (checked by `read`) unless it is here; say what became of it.

    Commits nothing: the import's transaction holds it.
    """
    if values is None:
        return None
    row = {k: v for k, v in values.items() if k != "events"}
    new_id = insert_new(TeamPage, row)
    if new_id is None:
        return KNOWN
    for n, event in enumerate(values["events"]):
        db.session.add(
            TeamEvent(
                team_page_id=new_id,
                position=n,
                day=event["day"],
                place=event["place"],
                texts=event["texts"],
            )
        )
    db.session.flush()
    forget()
    shown = current_version()
    return TAKEN if shown is not None and shown.id == new_id else STORED


def outcome_text(outcome: str | None) -> str:
    """What an import did with the file's team page, in the lead's language."""
    return {
        TAKEN: _("Our team: the file's page is shown from now on."),
        STORED: _(
            "Our team: this kiosk's page is newer and stays; the file's was kept as a version."
        ),
        KNOWN: _("Our team: the file's page was here already."),
    }.get(outcome or "", "")
