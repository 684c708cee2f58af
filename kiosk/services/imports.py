"""Merging tablets: import another kiosk's JSON bundle of an event (see exports.bundle).

Records are matched by UUID, so importing a file twice changes nothing. A sign-up with
the same email at the same event merges into the one already here, by the same rule as
two sign-ups on one kiosk. The whole file is checked before anything is written: a
malformed, foreign or tampered file is refused with a message saying where, and the
database is left as it was.

Each record is cleaned and checked as the visitor's form would (kiosk.services.records'
Checker, phones in E.164): a record that fails is reported by its place in the file
(`signups[3]`) and reason, and not stored; the rest merge.

Erased people stay erased (services/tombstones.py): the file's tombstones are applied
first, so whoever the other kiosk erased is erased here too; then no record of anyone
erased here or there is restored (a pledge comes in without name or email, for its
amount). Imported and merged records are in no export yet (models.ExportMarks).

The team's own page the file carries is stored as a version by its UUID and shown only if
its revision is the highest here (services/team.py): a newer edit here is never replaced.

Merging never stops the table: the records are written in short transactions, each ended
by the clock (CHUNK_BUDGET_S), not by a count of records, so the visitors' sign-ups go
between them as quickly on a loaded Raspberry Pi as on a fast machine; between its commits
a large import rests a little (REST_SHARE) and queues behind the writers already waiting (a
small one, such as a table's chunk at the hub, is one transaction and no rest). An
import cut short (a crash, a pulled plug) completes when the file is imported again: every
write is idempotent by UUID. Imports are safe when several run at once, in any server
processes, and beside visitors signing up: an import takes the IMPORTS turn for its whole
length (across processes on PostgreSQL, in the one kiosk process on SQLite), so one
import's records are all in before the next looks (a table's chunk at the hub does not wait
for the turn: it is told ImportBusy at once, kiosk/hub.py, and after it the turn rests so
that chunks use a bounded share of the hub's time: paced_turn); and every row is written
conflict-safe all the same (sign-ups through signups.insert_or_merge, everything else INSERT ... ON
CONFLICT (uuid) DO NOTHING), so a visitor who signs up mid-import can never be stored twice
or make the import fail on a duplicate.
"""

import functools
import json
import os
import re
import secrets
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from kiosk.emails import canonical_email
from kiosk.extensions import db
from kiosk.models import (
    Event,
    PersonalRecord,
    Pledge,
    PressRequest,
    Question,
    Setting,
    Signup,
    Tally,
    email_fields,
    new_erasure_key,
)
from kiosk.parsing import without_unstorable
from kiosk.services import erasure, pledges, questions, sealing, signups, team, tombstones
from kiosk.services.atomic import (
    dialect_name,
    held_lock,
    insert_new_many,
    lock_key,
    serialise,
)
from kiosk.services.audit import record_audit
from kiosk.services.exports import BUNDLE_FORMAT, BUNDLE_VERSION
from kiosk.services.records import Checker, mark_changed
from kiosk.services.signups import (
    INSERTED,
    MERGED,
    insert_or_merge,
    known_interests,
    merge_interests,
)

MAX_RECORDS = 200_000
# The largest number the database's integer columns hold (PostgreSQL's integer; SQLite
# would take more, and another kiosk's PostgreSQL could not import it back).
LARGEST_INTEGER = 2**31 - 1
# How long one transaction of an import writes before it commits: on SQLite a visitor's
# sign-up waits for the rest of it (the write lock is the database's), so it is a time, not a
# number of records. 200 records took about 70 ms on the bench machine and many times that
# on a loaded CPU, where visitors timed out (issue 25); 30 ms keeps a visitor's wait short
# on any CPU while the commits (one fsync each, under the same lock) stay a small share.
CHUNK_BUDGET_S = 0.03
# Records per statement; the clock is read after each batch, so a transaction overruns its
# budget by one batch at most (a few ms; tens on a loaded CPU).
BATCH = 20
# The import works in stretches of CHUNK_BUDGET_S (checking the file, then each
# transaction), and rests after each for this share of its length. Python runs one thread of
# the process at a time: a visitor's thread that waits for the database or the network waits
# again for its turn to run after each wait, up to Python's switch interval, while the import
# computes; on a loaded CPU that cost a visitor's sign-up hundreds of ms. While the import
# rests, the visitors' requests run alone. (Their writes need no rest to go first: the next
# transaction takes the write turn behind every writer already waiting, write_queue.py.) A
# command on SQLite shares the database with a server whose writers wait in SQLite's busy
# handler, which looks again every few tens of ms: the rests let them in.
REST_SHARE = 0.5
# A file of at most this many records (a table's chunk at the hub holds at most 40,
# services/sync.CHUNK_RECORDS) is checked and written in one stretch, without rests: it
# takes a few ms, and a rest would only hold the import turn longer (the next table's chunk
# waits for it, or is told the hub is busy).
SMALL_IMPORT = 50
IMPORTS = "kiosk: imports"
# Version 1 files (before erasure keys and tombstones) still import: they carry none.
READABLE_VERSIONS = (1, BUNDLE_VERSION)
HEX_64 = re.compile(r"^[0-9a-f]{64}$")


class ImportRefused(Exception):
    """A file that can't be imported, with the reason for the lead."""


class ImportBusy(Exception):
    """Another import holds the turn (a table's chunk was told so at once): nothing was
    stored; send it again in a moment."""


@dataclass
class ImportReport:
    event_name: str = ""
    event_created: bool = False
    added: dict[str, int] = field(default_factory=dict)
    merged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    # (place in the file, reason) of each record not stored because it failed a check.
    invalid: list[tuple[str, str]] = field(default_factory=list)
    # People erased here or on the other kiosk whose records in the file were not restored.
    not_restored: int = 0
    # People the other kiosk erased who were still here: erased here too.
    forgotten: int = 0
    # What became of the file's team page (services/team.TAKEN, STORED, KNOWN), or None.
    team: str | None = None

    def add(self, kind: str) -> None:
        self.added[kind] = self.added.get(kind, 0) + 1

    def skip(self, kind: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1

    @staticmethod
    def shown(counts: dict[str, int]) -> str:
        """Counts by section for the lead's page, in its language ("가입 2건, 탭 3번"); the
        audit log keeps describe()'s English."""
        words: dict[str, Callable[[int], str]] = {
            "signups": lambda n: ngettext("%(num)d sign-up", "%(num)d sign-ups", n),
            "pledges": lambda n: ngettext("%(num)d pledge", "%(num)d pledges", n),
            "questions": lambda n: ngettext("%(num)d question", "%(num)d questions", n),
            "press_requests": lambda n: ngettext(
                "%(num)d press request", "%(num)d press requests", n
            ),
            "tallies": lambda n: ngettext("%(num)d tap", "%(num)d taps", n),
        }
        parts = [words[section](n) for section in SECTIONS if (n := counts.get(section))]
        return ", ".join(parts) or _("nothing")

    def describe(self) -> str:
        def part(counts: dict[str, int]) -> str:
            return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "nothing"

        text = (
            f"{self.event_name}: added {part(self.added)}; merged {self.merged} sign-ups; "
            f"skipped {part(self.skipped)} (already here); {len(self.invalid)} invalid"
        )
        if self.not_restored:
            people = "person was" if self.not_restored == 1 else "people were"
            text += f"; {self.not_restored} erased {people} not restored"
        if self.forgotten:
            people = "person" if self.forgotten == 1 else "people"
            text += f"; {self.forgotten} {people} erased on the other kiosk erased here too"
        if self.team:
            text += f"; team page {self.team}"
        return text


# ---- Reading and checking ---------------------------------------------------------------


# No number a kiosk writes has more digits: an amount in cents, an id, a count. Python's
# json refuses integers past 4,300 digits with a bare ValueError; the kiosk refuses far
# sooner, with a reason.
MAX_INTEGER_DIGITS = 30


def bounded_json_integer(digits: str) -> int:
    """json's parse_int for every file the kiosk reads: a clear refusal, not a ValueError."""
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ImportRefused(
            f"This file holds a number of {len(digits.lstrip('-')):,} digits; no kiosk export "
            f"has one longer than {MAX_INTEGER_DIGITS}. Export the event again on the other kiosk."
        )
    return int(digits)


def parse_bundle(raw: bytes | str) -> dict[str, Any]:
    """The bundle as a dict, or ImportRefused when the file isn't one."""
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw.lstrip("\ufeff")
        data = json.loads(text, parse_int=bounded_json_integer)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ImportRefused(
            f"This file is not a kiosk export: it is not valid JSON ({error})."
        ) from error
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        raise ImportRefused(
            "This file is not a Rescue Team Kiosk event export (its format is not "
            f"{BUNDLE_FORMAT!r}). Export the event as JSON on the other kiosk."
        )
    if data.get("version") not in READABLE_VERSIONS:
        raise ImportRefused(
            f"This export is version {data.get('version')!r}; this kiosk reads version "
            f"{BUNDLE_VERSION}. Update the kiosk that should import it."
        )
    return data


class _Fields:
    """Reads one JSON object's fields with types and limits, naming the place of any fault."""

    def __init__(self, where: str, data: object) -> None:
        if not isinstance(data, dict):
            raise ImportRefused(f"{where}: expected an object.")
        self.where, self.data = where, data

    def fail(self, key: str, problem: str) -> ImportRefused:
        return ImportRefused(f"{self.where}.{key}: {problem}")

    def text(self, key: str, limit: int, *, required: bool = False, default: str = "") -> str:
        value = self.data.get(key, default)
        if value is None and not required:
            value = default
        if not isinstance(value, str):
            raise self.fail(key, "expected text.")
        value = without_unstorable(value)
        if required and not value.strip():
            raise self.fail(key, "must not be empty.")
        # A sealed value (services/sealing.py) is longer than what it holds: 4 bytes a
        # character at most, the box's 48 bytes, base64's third.
        if len(value) > (limit * 6 + 100 if sealing.is_sealed(value) else limit):
            raise self.fail(key, f"longer than {limit} characters.")
        return value

    def optional_text(self, key: str, limit: int) -> str | None:
        return None if self.data.get(key) is None else self.text(key, limit)

    def uuid(self) -> str:
        value = self.text("uuid", 36, required=True)
        try:
            return str(uuid_module.UUID(value))
        except ValueError as error:
            raise self.fail("uuid", "not a UUID.") from error

    def kiosk_id(self) -> str | None:
        """The kiosk that made the record (a UUID); None in files from before kiosk ids."""
        if self.data.get("kiosk_id") is None:
            return None
        value = self.text("kiosk_id", 36)
        try:
            return str(uuid_module.UUID(value))
        except ValueError as error:
            raise self.fail("kiosk_id", "not a kiosk id.") from error

    def integer(self, key: str, low: int, high: int = LARGEST_INTEGER) -> int:
        value = self.data.get(key)
        high = min(high, LARGEST_INTEGER)
        if type(value) is not int or not low <= value <= high:
            raise self.fail(key, f"expected a whole number from {low} to {high}.")
        return value

    def boolean(self, key: str) -> bool:
        value = self.data.get(key, False)
        if type(value) is not bool:
            raise self.fail(key, "expected true or false.")
        return value

    def choice(self, key: str, allowed: Iterable[str], default: str) -> str:
        value = self.data.get(key, default)
        if value not in allowed:
            raise self.fail(key, f"expected one of {', '.join(sorted(allowed))}.")
        return value

    def time(self, key: str, *, required: bool = True) -> datetime | None:
        value = self.data.get(key)
        if value in (None, "") and not required:
            return None
        try:
            moment = datetime.fromisoformat(value)  # type: ignore[arg-type]  # not text: TypeError, below
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            # At the edge of the range, the conversion to UTC for storage overflows.
            moment.astimezone(UTC)
        except (TypeError, ValueError, OverflowError) as error:
            raise self.fail(key, "expected an ISO 8601 time.") from error
        return moment

    def day(self, key: str) -> date | None:
        value = self.data.get(key)
        if value in (None, ""):
            return None
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError) as error:
            raise self.fail(key, "expected a date YYYY-MM-DD.") from error

    def hex_key(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not HEX_64.match(value):
            raise self.fail(key, "expected 64 hexadecimal digits.")
        return value

    def email(self, key: str, *, required: bool = False) -> str:
        value = self.text(key, 1000, required=required)
        if not sealing.is_sealed(value) and len(value) > 254:
            raise self.fail(key, "too long (at most 254 characters).")
        return canonical_email(value)

    def email_digest(self) -> str:
        """The digest the file gives its record's sealed email (kiosk/emails.py), or ""."""
        value = self.text("email_digest", 64)
        if value and not HEX_64.match(value):
            raise self.fail("email_digest", "expected 64 hexadecimal digits.")
        return value

    def consent(self) -> dict[str, Any]:
        return {
            "consent_version": self.optional_text("consent_version", 40),
            "consent_text": self.optional_text("consent_text", 20_000),
            "consent_at": self.time("consent_at", required=False),
        }


def _event(data: object) -> dict[str, Any]:
    f = _Fields("event", data)
    return {
        "uuid": f.uuid(),
        "name": f.text("name", 120, required=True),
        "date": f.day("date"),
        "place": f.text("place", 160),
        "goal_cents": f.integer("goal_cents", 0),
        "rescue_cost_cents": f.integer("rescue_cost_cents", 1),
        "tracking_source": f.text("tracking_source", 80),
        "status": f.choice("status", (Event.PLANNED, Event.ACTIVE, Event.CLOSED), Event.PLANNED),
        "created_at": f.time("created_at"),
        "closed_at": f.time("closed_at", required=False),
        "erasure_key": f.hex_key("erasure_key"),
    }


def _as_forms_would(f: _Fields, check: Callable[[Checker], dict[str, Any]]) -> dict[str, Any]:
    """Values cleaned and checked by the visitor form's own rules; the first fault refuses."""
    checker = Checker(sealed_emails=True)
    cleaned = check(checker)
    for name, problem in checker.errors.items():
        raise f.fail(name, str(problem))
    return cleaned


def _signup(f: _Fields) -> dict[str, Any]:
    interests = f.data.get("interests", [])
    if not isinstance(interests, list) or not all(isinstance(k, str) for k in interests):
        raise f.fail("interests", "expected a list of interest keys.")
    typed = {
        name: f.text(name, 1000)
        for name in ("first_name", "last_name", "email", "phone", "organisation")
    }
    cleaned = _as_forms_would(f, lambda check: signups.check_fields(check, **typed))
    return {
        "uuid": f.uuid(),
        "email_digest": f.email_digest(),
        # Known where the address was typed: a sealed one cannot be read here.
        "mailchimp_refuses": f.boolean("mailchimp_refuses"),
        **cleaned,
        "interests": ",".join(known_interests(interests)),
        "source": f.choice("source", (Signup.KIOSK, Signup.VOLUNTEER), Signup.KIOSK),
        "locale": f.text("locale", 12),  # absent from bundles made before languages
        **f.consent(),
        "created_at": f.time("created_at"),
        "kiosk_id": f.kiosk_id(),
        "updated_at": f.time("updated_at", required=False) or f.time("created_at"),
    }


def _pledge(f: _Fields) -> dict[str, Any]:
    typed = {name: f.text(name, 1000) for name in ("name", "email")}
    cleaned = _as_forms_would(
        f,
        lambda check: {
            "name": check.text("name", typed["name"], pledges.NAME_MAX),
            "email": check.email("email", typed["email"], required=False),
        },
    )
    return {
        "uuid": f.uuid(),
        "email_digest": f.email_digest(),
        "kind": f.choice("kind", (Pledge.ONCE, Pledge.MONTHLY), Pledge.ONCE),
        "amount_cents": f.integer("amount_cents", 1, pledges.MAXIMUM_DOLLARS * 100),
        **cleaned,
        **f.consent(),
        "created_at": f.time("created_at"),
        "kiosk_id": f.kiosk_id(),
    }


def _question(f: _Fields) -> dict[str, Any]:
    typed = {"text": f.text("text", 20_000, required=True), "email": f.text("email", 1000)}
    cleaned = _as_forms_would(
        f,
        lambda check: {
            "text": check.text(
                "text", typed["text"], questions.QUESTION_MAX, required="is empty.", multiline=True
            ),
            "email": check.email("email", typed["email"], required=False),
        },
    )
    return {
        "uuid": f.uuid(),
        "email_digest": f.email_digest(),
        **cleaned,
        "answered": f.boolean("answered"),
        **f.consent(),
        "created_at": f.time("created_at"),
        "kiosk_id": f.kiosk_id(),
    }


def _press_request(f: _Fields) -> dict[str, Any]:
    email = f.email("email", required=True)
    if "@" not in email and not sealing.is_sealed(email):
        raise f.fail("email", "not an email address.")
    return {
        "uuid": f.uuid(),
        "email_digest": f.email_digest(),
        "name": f.text("name", 120, required=True),
        "email": email,
        "outlet": f.text("outlet", 160),
        "website": f.text("website", 300),
        "past_work": f.text("past_work", 5000),
        "commissioned": f.boolean("commissioned"),
        "outline": f.text("outline", 5000),
        "deadline": f.day("deadline"),
        "message": f.text("message", 5000),
        "recipient": f.text("recipient", 160),
        "locale": f.text("locale", 12),
        "handled": f.boolean("handled"),
        **f.consent(),
        "created_at": f.time("created_at"),
        "kiosk_id": f.kiosk_id(),
    }


def _tally(f: _Fields) -> dict[str, Any]:
    kinds = (Tally.OPENER, Tally.FAQ_OPEN, Tally.FAQ_MORE, Tally.CONVERSATION)
    return {
        "uuid": f.uuid(),
        "kind": f.choice("kind", kinds, ""),
        "key": f.text("key", 80, required=True),
        "created_at": f.time("created_at"),
        "kiosk_id": f.kiosk_id(),
    }


SECTIONS: dict[str, tuple[type, Callable[[_Fields], dict[str, Any]]]] = {
    "signups": (Signup, _signup),
    "pledges": (Pledge, _pledge),
    "questions": (Question, _question),
    "press_requests": (PressRequest, _press_request),
    "tallies": (Tally, _tally),
}


@dataclass
class CheckedBundle:
    event: dict[str, Any]
    records: dict[str, list[dict[str, Any]]]
    tombstones: set[str] = field(default_factory=set)
    # (place in the file, reason) of each record that failed its checks: not written.
    invalid: list[tuple[str, str]] = field(default_factory=list)
    # (digest, request) of each erasure request the file carries (services/tombstones.py).
    erasures: set[tuple[str, str]] = field(default_factory=set)
    # The team's own page the file carries (services/team.read), or None.
    team: dict[str, Any] | None = None


REQUEST_NAME = re.compile(r"^[0-9a-f-]{1,36}$")


def _erasures(data: dict[str, Any], digests: set[str]) -> set[tuple[str, str]]:
    """The file's erasure requests; a digest it names none for is one request (older files)."""
    items = data.get("erasures", [])
    if not isinstance(items, list) or not all(
        isinstance(pair, list)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and HEX_64.match(pair[0])
        and isinstance(pair[1], str)
        and REQUEST_NAME.match(pair[1])
        for pair in items
    ):
        raise ImportRefused("erasures: expected a list of [digest, request] pairs.")
    if len(items) > MAX_RECORDS:
        raise ImportRefused(f"The file holds more than {MAX_RECORDS} erasures.")
    pairs = {(d, request) for d, request in items}
    named = {d for d, _request in pairs}
    return pairs | {(d, tombstones.legacy_request(d)) for d in digests - named}


def _tombstones(data: dict[str, Any], key: str | None) -> set[str]:
    items = data.get("tombstones", [])
    if not isinstance(items, list) or not all(
        isinstance(d, str) and HEX_64.match(d) for d in items
    ):
        raise ImportRefused("tombstones: expected a list of 64 hexadecimal digits each.")
    if len(items) > MAX_RECORDS:
        raise ImportRefused(f"The file holds more than {MAX_RECORDS} tombstones.")
    if items and key is None:
        raise ImportRefused("event.erasure_key: the file has tombstones but no key for them.")
    return set(items)


class _Pace:
    """Work in stretches of CHUNK_BUDGET_S, each followed by a rest (see REST_SHARE)."""

    def __init__(self) -> None:
        self.began = time.monotonic()

    def spent(self) -> bool:
        return time.monotonic() - self.began >= CHUNK_BUDGET_S

    def rest(self) -> None:
        time.sleep((time.monotonic() - self.began) * REST_SHARE)
        self.began = time.monotonic()


def _record_count(data: dict[str, Any]) -> int:
    return sum(len(items) for s in SECTIONS if isinstance(items := data.get(s), list))


def check_bundle(data: dict[str, Any]) -> CheckedBundle:
    """Every field of every record checked; nothing is written here.

    A fault in the file's frame (format, event, a section that is no list) refuses the
    file; a fault in one record sets that record aside as invalid, by place and reason.
    """
    event = _event(data.get("event"))
    stones = _tombstones(data, event["erasure_key"])
    erasures = _erasures(data, stones)
    if erasures and event["erasure_key"] is None:
        raise ImportRefused("event.erasure_key: the file has erasures but no key for them.")
    try:
        team_page = team.read(data.get("team"))
    except team.TeamRefused as refused:
        raise ImportRefused(str(refused)) from refused
    checked = CheckedBundle(event, {}, stones, erasures=erasures, team=team_page)
    seen: set[str] = {event["uuid"]}
    paced = _record_count(data) > SMALL_IMPORT
    total = 0
    for section, (_model, read) in SECTIONS.items():
        items = data.get(section, [])
        if not isinstance(items, list):
            raise ImportRefused(f"{section}: expected a list.")
        total += len(items)
        if total > MAX_RECORDS:
            raise ImportRefused(f"The file holds more than {MAX_RECORDS} records.")
        kept = checked.records[section] = []
        pace = _Pace()  # a large file takes seconds to check on a slow CPU
        for n, item in enumerate(items):
            if paced and pace.spent():
                pace.rest()
            where = f"{section}[{n}]"
            try:
                record = read(_Fields(where, item))
                if record["uuid"] in seen:
                    raise ImportRefused(f"{where}.uuid: appears twice in the file.")
            except ImportRefused as refused:
                reason = str(refused).removeprefix(where).lstrip(".")
                checked.invalid.append((where, reason))
                continue
            seen.add(record["uuid"])
            kept.append(record)
    return checked


# ---- Writing ---------------------------------------------------------------------------------


def _existing(model: type[PersonalRecord] | type[Tally], uuids: list[str]) -> dict[str, int]:
    """uuid -> event_id of the records of `model` already here, in chunks the driver accepts."""
    found: dict[str, int] = {}
    for start in range(0, len(uuids), 500):
        chunk = uuids[start : start + 500]
        rows = db.session.execute(select(model.uuid, model.event_id).where(model.uuid.in_(chunk)))
        found.update({uuid: event_id for uuid, event_id in rows})
    return found


ALIAS_PREFIX = "event_alias:"


def alias_key(foreign_uuid: str) -> str:
    """The Setting that remembers onto which local event another kiosk's event was mapped."""
    return ALIAS_PREFIX + foreign_uuid


def known_event(foreign_uuid: str) -> Event | None:
    """The local event that a file's event is: the same UUID, or the one it was mapped onto."""
    event = db.session.scalar(select(Event).where(Event.uuid == foreign_uuid))
    if event is None:
        alias = db.session.get(Setting, alias_key(foreign_uuid))
        if alias is not None:
            event = db.session.scalar(select(Event).where(Event.uuid == alias.value))
    return event


def _local_event(checked: dict[str, Any], report: ImportReport, into: Event | None) -> Event:
    """The event the file's records go to: its own (by UUID, or as mapped before), `into`
    (remembered, so the same tablet's next file goes there too), or a new one."""
    event = known_event(checked["uuid"])
    if event is None and into is not None:
        event = into
        # A mapping may be left from an event since deleted: replace it.
        alias = db.session.get(Setting, alias_key(checked["uuid"]))
        if alias is None:
            db.session.add(Setting(key=alias_key(checked["uuid"]), value=into.uuid))
        else:
            alias.value = into.uuid
    if event is not None:
        if event.erased_at is not None:
            raise ImportRefused(
                f"The personal data of {event.name!r} was erased on this kiosk; importing "
                "it would bring it back."
            )
        return event
    values = dict(checked)
    # An imported event never becomes the active one: the lead decides that here.
    if values["status"] == Event.ACTIVE:
        values["status"] = Event.PLANNED
    # The event's erasure key comes with it, so both kiosks make the same tombstones.
    values["erasure_key"] = values["erasure_key"] or new_erasure_key()
    event = Event(**values)
    db.session.add(event)
    db.session.flush()
    report.event_created = True
    return event


def _merged_fields(signup: Signup) -> tuple[object, ...]:
    return (
        signup.first_name,
        signup.last_name,
        signup.phone,
        signup.organisation,
        signup.interests,
        signup.locale,
        signup.consent_at,
    )


def merge_signup(signup: Signup, incoming: dict[str, Any]) -> bool:
    """Merge another tablet's sign-up of the same person into `signup`; True if it changed.

    The same rule as a second sign-up on one kiosk: the later one fills in and updates
    fields, never blanks one out, and interests add up.
    """
    before = _merged_fields(signup)
    newer = incoming["updated_at"] > signup.updated_at
    for name in ("first_name", "last_name", "phone", "organisation", "locale"):
        if incoming[name] and (newer or not getattr(signup, name)):
            setattr(signup, name, incoming[name])
    signup.interests = merge_interests(signup.interests, incoming["interests"].split(","))
    if signup.consent_at is None and incoming["consent_at"] is not None:
        for name in ("consent_version", "consent_text", "consent_at"):
            setattr(signup, name, incoming[name])
    after = _merged_fields(signup)
    if after != before:
        signup.updated_at = max(signup.updated_at, incoming["updated_at"])
        mark_changed(signup)  # what was exported is not this any more
        return True
    return False


def _forget_what_the_file_erased(
    bundle: CheckedBundle, event: Event, report: ImportReport
) -> erasure.Erased:
    """Erase here everyone the other kiosk erased (its tombstones in the file); keep its
    tombstones, when they are under this event's key, for later imports and exports."""
    key = bundle.event["erasure_key"]
    if key is None or not bundle.erasures:
        return erasure.Erased()
    # Each request once: one applied before (here, or by the kiosk that sent it) erased
    # what it had to; a person who came back since then stays until they ask again.
    new = tombstones.unseen(bundle.erasures)
    forgotten = erasure.forget_tombstoned(key, new)
    report.forgotten = len(forgotten.forget.emails)
    if key == event.erasure_key:
        tombstones.store({"scope": event.uuid, "digest": d, "request": r} for d, r in new)
    return forgotten


def _refuse_records_of_other_events(bundle: CheckedBundle, event: Event) -> None:
    """Refuse the whole file, before anything is written, when a record of it is stored
    here under another event: the file was changed by hand or mixes events."""
    for section, (model, _read) in SECTIONS.items():
        existing = _existing(model, [r["uuid"] for r in bundle.records[section]])
        for uuid, event_id in existing.items():
            if event_id != event.id:
                raise ImportRefused(
                    f"{section}: record {uuid} belongs to another event here; "
                    "the file was changed by hand or mixes events."
                )


def _prepare(
    bundle: CheckedBundle, report: ImportReport, into: Event | None
) -> tuple[Event, erasure.Erased]:
    """The import's first transaction: the event (found, mapped or made) and the file's
    tombstones applied; the records are checked against the event before any is written."""
    event = _local_event(bundle.event, report, into)
    report.event_name = event.name
    # The team's page: stored by its UUID, shown if its revision is the highest here.
    report.team = team.take(bundle.team)
    _refuse_records_of_other_events(bundle, event)
    forgotten = _forget_what_the_file_erased(bundle, event, report)
    return event, forgotten


Batch = list[tuple[str, dict[str, Any]]]


def _batches(bundle: CheckedBundle) -> list[Batch]:
    """The file's records, section by section, BATCH at a time: (section, record)."""
    records = [(section, record) for section in SECTIONS for record in bundle.records[section]]
    return [records[start : start + BATCH] for start in range(0, len(records), BATCH)]


def _erased_checker(bundle: CheckedBundle, event: Event) -> tombstones.Checker:
    """Asked again for each transaction: a person erased here while the import runs stays
    erased."""
    key = bundle.event["erasure_key"]
    return tombstones.Checker(event, (key, bundle.tombstones) if key else None)


def _write_batch(
    erased: tombstones.Checker,
    event: Event,
    batch: Batch,
    report: ImportReport,
    not_restored: set[str],
) -> None:
    """Write some of the file's records, each conflict-safe and idempotent by UUID.

    Each section's records go in one INSERT ... ON CONFLICT DO NOTHING; only those a row
    already holds (the same record, or the same person) are then looked at one by one.
    """
    by_section: dict[str, list[dict[str, Any]]] = {}
    for section, record in batch:
        model = SECTIONS[section][0]
        ours = _with_email_fields(model, event, erased.file_key, record)
        if erased.erased(record.get("email", ""), record.get("email_digest", "")) or (
            ours.get("email_digest") and erased.erased("", ours["email_digest"])
        ):
            not_restored.add(record.get("email_digest") or record["email"])
            if model is not Pledge:
                continue
            # The money stays (an event's total does not change), the person does not.
            ours = ours | {
                "name": "",
                "email": "",
                "email_digest": "",
                "consent_version": None,
                "consent_text": None,
                "consent_at": None,
            }
        by_section.setdefault(section, []).append(ours)
    for section, records in by_section.items():
        model = SECTIONS[section][0]
        stored = insert_new_many(model, [{"event_id": event.id, **r} for r in records])
        for record in records:
            if record["uuid"] in stored:
                report.add(section)
            elif model is not Signup:
                report.skip(section)  # here already (by UUID), perhaps from a run cut short
            else:
                _merge_signup_of_file(event, record, report)


def _with_email_fields(
    model: type[PersonalRecord] | type[Tally], event: Event, file_key: str | None, record: dict
) -> dict[str, Any]:
    """The record with its email's digest under `event`'s key, and a sign-up's Mailchimp
    flag (models.email_fields; Core inserts set them here).

    A clear email (a file made before emails were sealed) is digested here. A sealed one
    keeps the file's digest when the file's event key is this event's; else it is opened if
    the lead's key is in use and digested, and without it the record keeps no digest (it is
    not recognised as the same person, and says so in no count)."""
    if not issubclass(model, PersonalRecord):
        return record  # a tally holds no one
    email = record.get("email") or ""
    if not sealing.is_sealed(email):
        return record | email_fields(model, event.erasure_key, email)
    if file_key == event.erasure_key and record.get("email_digest"):
        return record
    opened = sealing.clear(email)
    if opened and not isinstance(opened, sealing.Sealed):
        digest = email_fields(model, event.erasure_key, opened)["email_digest"]
        return record | {"email_digest": digest}
    return record | {"email_digest": ""}


def _merge_signup_of_file(event: Event, record: dict[str, Any], report: ImportReport) -> None:
    """A sign-up of the file that a row here already holds: the same record (by UUID),
    perhaps updated on the other tablet since, or the same person who signed up here too.
    Merged, never a second row."""
    incoming = Signup(event_id=event.id, **record)
    merge = functools.partial(merge_signup, incoming=record)
    _stored, outcome = insert_or_merge(incoming, merge)
    if outcome == INSERTED:  # the row it met was erased a moment ago
        report.add("signups")
    elif outcome == MERGED:
        report.merged += 1
    else:
        report.skip("signups")


# SQLite's kiosk is one process: its imports wait for each other here, holding no database
# lock meanwhile (an import can take longer than SQLite's busy timeout would let the next one
# wait for its write lock). On PostgreSQL the IMPORTS lock does this, across processes, on a
# connection of its own, and has no timeout.
_SQLITE_IMPORT_TURN = threading.Lock()


@contextmanager
def _import_turn() -> Iterator[None]:
    """The IMPORTS turn for the import's whole length, waited for (a table's chunk at the
    hub is told busy instead: paced_turn)."""
    db.session.commit()  # what this request read ends: no lock held while waiting
    if db.engine.dialect.name != "sqlite":
        with held_lock(IMPORTS):
            yield
        return
    _SQLITE_IMPORT_TURN.acquire()
    try:
        yield
    finally:
        _SQLITE_IMPORT_TURN.release()


# ---- The hub's intake of tables' chunks, paced by time ------------------------------------

# A table's chunk at the hub takes the IMPORTS turn at once or is told ImportBusy; after its
# import (t seconds, monotonic) the turn is held on, by a timer and not by a server thread,
# for a rest of t × (1 - share) / share: chunks use at most `share` of the hub's wall time
# whatever the number of tables (twenty tables at once write no faster than one), and the
# visitors' requests run between them on a CPU the import leaves alone. The rest is the
# turn itself (an advisory lock on a connection of its own on PostgreSQL), so every hub
# process answers busy during it; no clock is compared, only this process's monotonic time.
# A rest is never longer than LONGEST_REST_S (a chunk slowed by a stalled database).
LONGEST_REST_S = 5.0
# This process rests the turn until then (time.monotonic); 0 when it does not.
_resting_until = 0.0
# The length of the last chunk's import and rest in this process (0 before the first).
_last_period_s = 0.0


@dataclass
class PacedTurn:
    """What a paced chunk's turn did: the rest that follows it, in seconds."""

    share: float
    rest_s: float = 0.0


def last_period_s() -> float:
    """How long the last chunk this process took held the turn, with its rest: about how
    often the hub takes a chunk while tables wait."""
    return _last_period_s


def resting_s() -> float:
    """Seconds left of the rest this process holds the turn for (0 when it holds none): a
    chunk arriving meanwhile is told busy before anything of it is read."""
    return max(0.0, _resting_until - time.monotonic())


def _turn_at_once() -> Callable[[], None]:
    """Take the IMPORTS turn now (ImportBusy when another import holds it); the function
    that gives it back, callable from any thread."""
    if db.engine.dialect.name == "sqlite":
        if not _SQLITE_IMPORT_TURN.acquire(blocking=False):
            raise ImportBusy("Another import is being written.")
        return _SQLITE_IMPORT_TURN.release
    key = lock_key(IMPORTS)
    connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = bool(connection.execute(select(func.pg_try_advisory_lock(key))).scalar())
    except Exception:
        connection.close()
        raise
    if not got:
        connection.close()
        raise ImportBusy("Another import is being written.")

    def give_back() -> None:
        try:
            connection.execute(select(func.pg_advisory_unlock(key)))
        except Exception:  # the session's end frees its lock: never back in the pool holding it
            connection.invalidate()
        finally:
            connection.close()

    return give_back


@contextmanager
def paced_turn(share: float) -> Iterator[PacedTurn]:
    """The IMPORTS turn for one table's chunk at the hub, taken at once or ImportBusy; held
    on after the block for its rest (see LONGEST_REST_S's comment), the rest's length in
    the yielded PacedTurn once the block ends. `share` 1 (or more): no rest."""
    global _resting_until, _last_period_s
    db.session.commit()  # what this request read ends: no lock held in a transaction
    give_back = _turn_at_once()
    turn = PacedTurn(share)
    began = time.monotonic()
    try:
        yield turn
    finally:
        spent = time.monotonic() - began
        turn.rest_s = min(spent * (1 - share) / share, LONGEST_REST_S) if 0 < share < 1 else 0
        _last_period_s = spent + turn.rest_s
        if turn.rest_s <= 0:
            give_back()
        else:
            _resting_until = time.monotonic() + turn.rest_s
            timer = threading.Timer(turn.rest_s, give_back)
            timer.daemon = True
            timer.start()


def import_chunk(data: dict[str, Any], counted: Callable[[], object]) -> ImportReport:
    """Import a table's chunk at the hub, parsed (parse_bundle), in the turn the caller
    holds (paced_turn): checked and written at once; not audited: `counted` notes it (on its
    table's row, services/hub.py) in the transaction that writes its records.

    A chunk without erasure requests or a team page (nearly every one) is one transaction,
    one commit: its event looked up and its records checked against it, written, counted.
    """
    bundle = check_bundle(data)
    if bundle.erasures or bundle.team is not None or _record_count(data) > SMALL_IMPORT:
        report = _write_bundle(bundle, None)  # the erasures committed before the records
        with _transaction():
            counted()
        return report
    report = ImportReport(invalid=bundle.invalid)
    tombstones.instance_key()  # made (and committed) before anything is written
    sealing.ensure_team_key()
    not_restored: set[str] = set()
    with _transaction():
        event, _nothing_forgotten = _prepare(bundle, report, None)  # the file erases no one
        erased = _erased_checker(bundle, event)
        for batch in _batches(bundle):
            _write_batch(erased, event, batch, report, not_restored)
        counted()
    report.not_restored = len(not_restored)
    return report


def _begin_write() -> None:
    """Begin a transaction of the import: on SQLite outside a request (a command, a test),
    with the write lock taken at once, so nothing read in it is stale when it writes (in a
    request the write policy does this; kiosk/write_queue.py)."""
    if dialect_name() == "sqlite":
        serialise(IMPORTS)


@contextmanager
def _transaction() -> Iterator[None]:
    """One short transaction of an import: committed at the end, rolled back on error."""
    try:
        _begin_write()
        yield
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def _write_for_a_while(
    bundle: CheckedBundle,
    event: Event,
    batches: list[Batch],
    report: ImportReport,
    not_restored: set[str],
    pace: _Pace | None,
) -> int:
    """One transaction: batches written until CHUNK_BUDGET_S has passed since it began
    writing (time.monotonic, which no clock change moves), or all of them without a `pace`
    (a small file); how many batches it wrote."""
    written = 0
    with _transaction():
        erased = _erased_checker(bundle, event)  # its first read waits for the write lock
        if pace is not None:
            pace.began = time.monotonic()  # the stretch is the writing, not that wait
        while written < len(batches):
            _write_batch(erased, event, batches[written], report, not_restored)
            written += 1
            if pace is not None and pace.spent():
                break
    return written


def import_bundle(
    raw: bytes | str,
    actor: str = "",
    into: Event | None = None,
) -> ImportReport:
    """Check the whole file, then write it in short transactions (CHUNK_BUDGET_S); audit it.

    `into`: the local event to merge a file of an unknown event into (else a new event).
    (A table's chunk at the hub goes through paced_turn and import_chunk instead.)
    A file refused while checking, or for a record of another event, changes nothing; an
    import cut short keeps the transactions it committed, and importing the file again
    completes it.
    """
    # What the caller read ends first: in a request its transaction holds SQLite's write
    # lock, and checking a large file takes seconds on a slow CPU.
    db.session.commit()
    bundle = check_bundle(parse_bundle(raw))
    with _import_turn():
        report = _write_bundle(bundle, into)
    record_audit("import", report.describe(), actor)
    return report


def _write_bundle(bundle: CheckedBundle, into: Event | None) -> ImportReport:
    """Write a checked file in short transactions, in the import turn; a large one rests
    between them (REST_SHARE), a small one is one transaction without a rest."""
    report = ImportReport(invalid=bundle.invalid)
    tombstones.instance_key()  # made (and committed) before anything is written
    sealing.ensure_team_key()  # and the key every personal field is sealed with
    not_restored: set[str] = set()
    with _transaction():
        event, forgotten = _prepare(bundle, report, into)
    erasure.after_erasure(forgotten.forget)
    batches = _batches(bundle)
    pace = _Pace() if sum(map(len, batches)) > SMALL_IMPORT else None
    while batches:
        written = _write_for_a_while(bundle, event, batches, report, not_restored, pace)
        del batches[:written]
        if batches and pace is not None:
            pace.rest()  # between transactions only: after the last, nothing is left to yield to
    report.not_restored = len(not_restored)
    return report


def preview_bundle(raw: bytes | str, into: Event | None = None) -> ImportReport:
    """What import_bundle would do, counted by doing it and rolling it back: nothing stays."""
    db.session.commit()  # as in import_bundle: the file is checked holding no lock
    bundle = check_bundle(parse_bundle(raw))
    report = ImportReport(invalid=bundle.invalid)
    tombstones.instance_key()  # it commits when it makes the key: before, not amid, the work
    not_restored: set[str] = set()
    try:
        _begin_write()
        event, _forgotten = _prepare(bundle, report, into)
        erased = _erased_checker(bundle, event)
        for batch in _batches(bundle):
            _write_batch(erased, event, batch, report, not_restored)
    finally:
        db.session.rollback()
    report.not_restored = len(not_restored)
    return report


def file_event(raw: bytes | str) -> dict[str, Any]:
    """The checked event of a bundle (its name, date, UUID), without reading its records."""
    return _event(parse_bundle(raw).get("event"))


# ---- A file held between its preview and the lead's choice ---------------------------------

PENDING_FOLDER = "pending-import"
TOKEN = re.compile(r"[0-9a-f]{32}")


def _pending_folder() -> Path:
    return Path(current_app.instance_path) / PENDING_FOLDER


def hold(raw: bytes) -> str:
    """Keep an uploaded file until the lead chooses where it goes; a token names it.

    One file at a time: holding a new one forgets any other (never by age: the kiosk's
    clock may be wrong). The file is readable by the kiosk's user only.
    """
    folder = _pending_folder()
    folder.mkdir(mode=0o700, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink(missing_ok=True)
    token = secrets.token_hex(16)
    descriptor = os.open(folder / f"{token}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(descriptor, "wb") as handle:
        handle.write(raw)
    return token


def held(token: str | None) -> bytes:
    """The file held under `token`; ImportRefused when there is none (used, or replaced)."""
    token = (token or "").strip()
    path = _pending_folder() / f"{token}.json"
    if not TOKEN.fullmatch(token) or not path.is_file():
        raise ImportRefused(
            "This preview is no longer open (the file was imported, or another was chosen). "
            "Choose the file again."
        )
    return path.read_bytes()


def release(token: str) -> None:
    """Forget a held file (after its import)."""
    if TOKEN.fullmatch(token):
        (_pending_folder() / f"{token}.json").unlink(missing_ok=True)
