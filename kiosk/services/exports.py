"""Getting an event's data out: one function per format, each naming its columns.

CSV formats (csv, mailchimp, pledges, questions, press, tallies) are generators of lines,
UTF-8 text whose first line starts with a byte order mark so Excel reads Korean
names correctly. Every cell that a spreadsheet would take for a formula (starting
with = + - @ tab or carriage return, or the full-width ＝ ＋ － ＠) is prefixed with ' so it
stays text; so is such a character after a ; , or tab inside a cell ("Ana;=1+1"), which a
spreadsheet splitting on that separator would make a cell of its own.

The JSON bundle carries the whole event, every record with its UUID, so another kiosk
can import it and merge tablets of one event without duplicates:

    {
      "format": "rescue-team-kiosk/event",
      "version": 2,
      "exported_at": "2026-11-23T12:00:00+00:00",
      "event":     {"uuid", "name", "date", "place", "goal_cents", "rescue_cost_cents",
                    "tracking_source", "status", "created_at", "closed_at",
                    "erasure_key"},
      "tombstones": [hex digests of the people erased, under the event's erasure_key],
      "erasures":  [[digest, request]: each erasure request of a tombstone's person],
      "signups":   [{"uuid", "first_name", "last_name", "email", "email_digest",
                     "mailchimp_refuses", "phone", "organisation", "interests": [keys],
                     "source", "locale", "consent_version", "consent_text", "consent_at",
                     "created_at", "updated_at"}],
      "pledges":   [{"uuid", "kind", "amount_cents", "name", "email", "email_digest",
                     "consent_version", "consent_text", "consent_at", "created_at"}],
      "questions": [{"uuid", "text", "email", "email_digest", "answered", "consent_version",
                     "consent_text", "consent_at", "created_at"}],
      "press_requests": [{"uuid", "name", "email", "email_digest", "outlet", "website",
                     "past_work", "commissioned", "outline", "deadline", "message",
                     "recipient", "locale", "handled", "consent_version", "consent_text",
                     "consent_at", "created_at"}],
      "tallies":   [{"uuid", "kind", "key", "created_at"}],
      "team":      {"uuid", "revision", "name", "fundraising_url", "goal_cents",
                    "contact_email", "signup_url", "kiosk_id",
                    "events": [{"date", "place", "texts": {locale: text}}]} or null
    }

Times are ISO 8601 in UTC; dates are YYYY-MM-DD; money is in cents. Version 2 added the
event's erasure key, the tombstones (services/tombstones.py) and the press requests;
"erasures" came later within version 2 (a file without it counts one request per digest),
and so did "team", the team's own page (services/team.py; older kiosks ignore it), each
record's "email_digest" (its sealed email's digest, kiosk/emails.py) and a sign-up's
"mailchimp_refuses" (a file without them holds clear emails, digested on import);
version 1 files still import.

Export marks: an export notes, for every record it wrote, the revision it wrote
(models.ExportMarks), once the file is written: the sign-ups CSV and the Mailchimp file mark
sign-ups, the pledges, questions and press CSVs their own kind, and a JSON bundle marks its records
only when the lead keeps it as the event's record (`keep`); a bundle made just to merge
tablets marks nothing. A record changed after its export (a second sign-up of the same
person, a merge) has a new revision, so it is in no export until the next one.
"""

import csv
import io
import json
import re
import zipfile
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import IO, Any, cast

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from sqlalchemy import ColumnElement, DateTime, func, or_, select, type_coerce, update
from sqlalchemy.orm import InstrumentedAttribute

from kiosk import clock, phones
from kiosk.content import default_content
from kiosk.emails import mailchimp_address
from kiosk.extensions import db
from kiosk.models import (
    Event,
    PersonalRecord,
    Pledge,
    PressRequest,
    Question,
    Signup,
    Tally,
    utcnow,
)
from kiosk.parsing import amount_text
from kiosk.services import sealing, team
from kiosk.services.audit import record_audit
from kiosk.services.events import list_events
from kiosk.services.tombstones import digests_of, requests_of

BUNDLE_FORMAT = "rescue-team-kiosk/event"
BUNDLE_VERSION = 2
BOM = "\ufeff"
# Full-width forms too: spreadsheets in East Asian locales read "＝1+1" as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
FORMULA_FIRST = frozenset(FORMULA_STARTS)  # each one character
# A separator a spreadsheet may split on (Excel in many locales splits on ";"), then spaces,
# then a formula's first character: the ' goes before that character.
SEPARATORS = (";", ",", "\t")
FORMULA_AFTER_SEPARATOR = re.compile(r"([;,\t][ \t]*)(?=[=+\-@\r\uff1d\uff0b\uff0d\uff20])")
# Sign-up exports stream rows and write CSV a batch at a time: 100,000 sign-ups loaded as
# ORM objects into a list took 9 s and 230 MB (bench/results.md).
EXPORT_BATCH = 1000
# Records marked exported per UPDATE (under SQLite's oldest limit of 999 parameters).
MARK_BATCH = 900

SIGNUP_COLUMNS = [
    "First Name",
    "Last Name",
    "Email",
    "Phone",
    "Organisation",
    "Interests",
    "Source",
    "Language",
    "Consent Version",
    "Consent Time",
    "Created",
    "Updated",
    "UUID",
]
# Consent goes to Mailchimp as fields its import can map: the wording's version (text), the
# day (a Date field takes YYYY-MM-DD) and the moment in UTC (text, ISO 8601). Language: the
# code of the language the person signed up in (en, ko), for a Mailchimp text field, so the
# team can write to each person in their language.
MAILCHIMP_COLUMNS = [
    "Email Address",
    "First Name",
    "Last Name",
    "Phone Number",
    "Tags",
    "Language",
    "Consent Version",
    "Consent Date",
    "Consent Time",
]
PLEDGE_COLUMNS = [
    "Kind",
    "Amount",
    "Name",
    "Email",
    "Consent Version",
    "Consent Time",
    "Created",
    "UUID",
]
QUESTION_COLUMNS = [
    "Question",
    "Email",
    "Answered",
    "Consent Version",
    "Consent Time",
    "Created",
    "UUID",
]
PRESS_COLUMNS = [
    "Name",
    "Outlet",
    "Email",
    "Website",
    "Past Work",
    "Commissioned",
    "Outline",
    "Deadline",
    "Questions or Topics",
    "For",
    "Language",
    "Guidelines Version",
    "Agreed",
    "Handled",
    "Created",
    "UUID",
]
TALLY_COLUMNS = ["Kind", "Key", "Count"]
BUNDLE_KEYS = [
    "format",
    "version",
    "exported_at",
    "event",
    "team_public_key",
    "tombstones",
    "erasures",
    "signups",
    "pledges",
    "questions",
    "press_requests",
    "tallies",
    "team",
]


class Verbatim(str):
    """A cell checked to be harmless as it is (a valid phone in E.164): written unchanged.

    "+442079460958" starts with "+", but a spreadsheet reads it as a number, not a formula,
    and Mailchimp takes the phone only without a leading apostrophe.
    """


class Marks:
    """The records an export wrote, each with the revision it wrote: noted into the records
    (mark_exported) only once the file is out, and only if it still is that revision.

    Kept as arrays of ids per revision: 100,000 sign-ups take under 1 MB.
    """

    def __init__(self) -> None:
        self.written: dict[type[PersonalRecord], dict[int, array[int]]] = {}

    def note(self, model: type[PersonalRecord], record_id: int, revision: int) -> None:
        self.written.setdefault(model, {}).setdefault(revision, array("q")).append(record_id)

    def count(self, model: type[PersonalRecord]) -> int:
        return sum(len(ids) for ids in self.written.get(model, {}).values())


def neutralise(value: object) -> str:
    """The cell as text, with a leading ' if a spreadsheet would run it as a formula."""
    if type(value) is str:  # most cells: checked first (an export has a million)
        text = value
    elif isinstance(value, Verbatim):
        return value
    else:
        text = "" if value is None else str(value)
    if ";" in text or "," in text or "\t" in text:  # rare: ordinary cells skip the regex
        text = FORMULA_AFTER_SEPARATOR.sub(r"\1'", text)
    return "'" + text if text and text[0] in FORMULA_FIRST else text


def _phone_cell(region: str) -> Callable[[str], str]:
    """A stored phone as a cell: E.164 unchanged when it is a valid number, else plain text."""

    def cell(stored: str) -> str:
        e164 = phones.exported_phone(stored, region)
        return Verbatim(e164) if e164 else stored

    return cell


def csv_lines(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The header and rows as CSV lines (CRLF), the first one starting with a BOM.

    Lines come in chunks of up to EXPORT_BATCH rows: one string per row made a large
    export spend its time slicing a buffer.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    buffer.write(BOM)
    writer.writerow([neutralise(cell) for cell in columns])
    # Closed when the lines stop early (a download broken off): a PostgreSQL cursor still
    # reading the rows ends now, not whenever the garbage collector finds it.
    reading = iter(rows)
    try:
        for count, row in enumerate(reading, start=1):
            writer.writerow([neutralise(cell) for cell in row])
            if count % EXPORT_BATCH == 0:
                yield flush()
    finally:
        _close(reading)
    yield flush()


def _close(rows: Iterator[Any]) -> None:
    """End a generator of rows (and the query it reads) if it has not ended."""
    close = getattr(rows, "close", None)
    if close is not None:
        close()


def _time(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def _stored_time(value: datetime | None) -> str:
    """A stored (naive UTC) time as _time writes an aware one: 2026-03-01T09:30:00+00:00."""
    return value.isoformat(timespec="seconds") + "+00:00" if value else ""


def _interest_labeller() -> Callable[[str], tuple[str, ...]]:
    """Labels of a sign-up's interest keys; built once per export, as few combinations recur.
    In the instance's language, whoever exports: Mailchimp tags must not change with it."""
    labels = {i.key: i.label for i in default_content().interests}

    @lru_cache(maxsize=1024)
    def labels_of(keys: str) -> tuple[str, ...]:
        return tuple(labels.get(key, key) for key in keys.split(",") if key)

    return labels_of


def _stored_utc(column: InstrumentedAttribute[Any]) -> Any:
    """A time column as stored, naive UTC: made aware (UTCDateTime) only to be written out
    again, 300,000 times took a tenth of a large export."""
    return type_coerce(column, DateTime()).label(column.key)


# The sign-up columns each export reads, in the order it unpacks them (then id and revision,
# for its marks): only those, as every value read is converted on the way out.
SIGNUP_FIELDS = (
    Signup.first_name,
    Signup.last_name,
    Signup.email,
    Signup.phone,
    Signup.organisation,
    Signup.interests,
    Signup.source,
    Signup.locale,
    Signup.consent_version,
    _stored_utc(Signup.consent_at),
    _stored_utc(Signup.created_at),
    _stored_utc(Signup.updated_at),
    Signup.uuid,
)
MAILCHIMP_FIELDS = (
    Signup.email,
    Signup.first_name,
    Signup.last_name,
    Signup.phone,
    Signup.interests,
    Signup.locale,
    Signup.consent_version,
    _stored_utc(Signup.consent_at),
)


def _signup_rows(
    event: Event, fields: tuple[Any, ...], *where: ColumnElement[bool]
) -> Iterator[Any]:
    """The event's sign-ups in order (those matching `where`), as rows with the Signup
    attribute names of `fields` and id and revision, streamed."""
    query = (
        select(*fields, Signup.id, Signup.revision)
        .where(Signup.event_id == event.id, *where)
        .order_by(Signup.id)
        .execution_options(yield_per=EXPORT_BATCH)
    )
    with closing(db.session.execute(query)) as rows:
        yield from rows


def _records(model: Any, event: Event) -> Iterator[Any]:
    """The event's records of `model` in order, read EXPORT_BATCH at a time (on PostgreSQL
    through a server-side cursor), so an export holds a batch, not the event."""
    query = (
        select(model)
        .where(model.event_id == event.id)
        .order_by(model.id)
        .execution_options(yield_per=EXPORT_BATCH)
    )
    with closing(db.session.scalars(query)) as records:
        yield from records


def _not_yet_in(mark: InstrumentedAttribute[int | None]) -> ColumnElement[bool]:
    """Sign-ups whose current revision is not in an export of that kind yet: new ones, and
    ones changed since (a second sign-up, a correction, a merge). Marks, not clocks."""
    return or_(mark.is_(None), mark != Signup.revision)


def _noted(marks: Marks | None, model: type[PersonalRecord], rows: Iterator[Any]) -> Iterator[Any]:
    """The rows, each noted in `marks` as it is written."""
    try:
        for row in rows:
            if marks is not None:
                marks.note(model, row.id, row.revision)
            yield row
    finally:
        _close(rows)


def signups_csv(event: Event, marks: Marks | None = None, only_new: bool = False) -> Iterator[str]:
    """Every sign-up field, interests, consent, source, times and UUID; with `only_new`,
    only sign-ups in no sign-up export yet (the sign-ups CSV, Mailchimp or a kept JSON)."""
    where = (_not_yet_in(Signup.exported_revision),) if only_new else ()
    labels_of = _interest_labeller()
    phone = _phone_cell(default_content().phone_region)
    trusted_from = _trusted_consent_floor(event)
    rows = (
        [
            first,
            last,
            email,
            phone(number),
            organisation,
            "; ".join(labels_of(interests)),
            source,
            locale,
            version,
            _consent_cell(consent_at, trusted_from),
            _stored_time(created_at),
            _stored_time(updated_at),
            uuid,
        ]
        for (
            first,
            last,
            email,
            number,
            organisation,
            interests,
            source,
            locale,
            version,
            consent_at,
            created_at,
            updated_at,
            uuid,
            *_,
        ) in _noted(marks, Signup, _signup_rows(event, SIGNUP_FIELDS, *where))
    )
    return csv_lines(SIGNUP_COLUMNS, rows)


def _mailchimp_tagger(event: Event) -> Callable[[str], str]:
    """The Tags cell of a sign-up's interest keys: the event's name and the interests.
    Built once per export, as few combinations of interests recur."""
    labels_of = _interest_labeller()

    @lru_cache(maxsize=1024)
    def tags_of(interests: str) -> str:
        # Mailchimp splits the Tags cell on commas, so no tag may contain one.
        tags = [event.name, *labels_of(interests)]
        return ",".join(tag.replace(",", " ").strip() for tag in tags if tag.strip())

    return tags_of


# A consent moment more than this long before its event's day (which the lead typed, so no
# clock's) was stamped by a clock that was wrong, a Pi back in 1970: marked in exports.
CONSENT_CLOCK_SLACK = timedelta(days=366)
CLOCK_WRONG = "recorded while the kiosk's clock was wrong"


def _trusted_consent_floor(event: Event) -> datetime | None:
    """The earliest consent moment (naive UTC, as stored) a right clock could have given."""
    if event.date is None:
        return None
    return datetime.combine(event.date, time()) - CONSENT_CLOCK_SLACK


def _consent_cell(consent_at: datetime | None, trusted_from: datetime | None) -> str:
    written = _stored_time(consent_at)
    if consent_at is not None and trusted_from is not None and consent_at < trusted_from:
        return f"{written} ({CLOCK_WRONG})"
    return written


def _utc_moment(value: datetime) -> str:
    """A stored (naive UTC) time as 2026-03-01T09:30:00Z (isoformat: strftime took a tenth
    of a large export)."""
    return value.isoformat(timespec="seconds") + "Z"


def mailchimp_csv(
    event: Event, marks: Marks | None = None, only_new: bool = False
) -> Iterator[str]:
    """The columns Mailchimp's contact import expects; people who consented only, and only
    addresses Mailchimp takes (the others are in the sign-ups CSV: see not_for_mailchimp).
    Only the rows written are marked exported by it. With `only_new`, only sign-ups in no
    Mailchimp file yet (or changed since): the next upload after the last one."""
    tags_of = _mailchimp_tagger(event)
    phone = _phone_cell(default_content().phone_region)
    where = (_not_yet_in(Signup.mailchimp_revision),) if only_new else ()
    trusted_from = _trusted_consent_floor(event)

    def rows() -> Iterator[list[object]]:
        signups = _signup_rows(event, MAILCHIMP_FIELDS, *where)
        try:
            for row in signups:
                (email, first, last, number, interests, locale, version, consent_at, id_,
                 revision) = row  # fmt: skip
                address = mailchimp_address(email) if consent_at is not None else None
                if address is None:
                    continue
                if marks is not None:
                    marks.note(Signup, id_, revision)
                moment = _utc_moment(consent_at)
                day = moment[:10]  # the date of the moment below
                if trusted_from is not None and consent_at < trusted_from:
                    # No date rather than a wrong one in Mailchimp's Date field; the moment says
                    # why, in words a person reading the audience sees.
                    day, moment = "", f"{moment} ({CLOCK_WRONG})"
                yield [
                    address,
                    first,
                    last,
                    phone(number),
                    tags_of(interests),
                    locale,
                    version,
                    day,
                    moment,
                ]
        finally:
            _close(signups)

    return csv_lines(MAILCHIMP_COLUMNS, rows())


def not_for_mailchimp(event: Event) -> int:
    """Consenting sign-ups of `event` whose address Mailchimp would refuse (kept in the CSV):
    known when each was written (Signup.mailchimp_refuses), as the addresses are sealed."""
    return (
        db.session.scalar(
            select(func.count()).where(
                Signup.event_id == event.id,
                Signup.consent_at.is_not(None),
                Signup.mailchimp_refuses,
            )
        )
        or 0
    )


def pledges_csv(event: Event, marks: Marks | None = None) -> Iterator[str]:
    rows = (
        [
            p.kind,
            amount_text(p.amount_cents, always_cents=True),
            p.name,
            p.email,
            p.consent_version,
            _time(p.consent_at),
            _time(p.created_at),
            p.uuid,
        ]
        for p in _noted(marks, Pledge, _records(Pledge, event))
    )
    return csv_lines(PLEDGE_COLUMNS, rows)


def questions_csv(event: Event, marks: Marks | None = None) -> Iterator[str]:
    rows = (
        [
            q.text,
            q.email,
            "yes" if q.answered else "no",
            q.consent_version,
            _time(q.consent_at),
            _time(q.created_at),
            q.uuid,
        ]
        for q in _noted(marks, Question, _records(Question, event))
    )
    return csv_lines(QUESTION_COLUMNS, rows)


def press_csv(event: Event, marks: Marks | None = None) -> Iterator[str]:
    """Every press request, with the guidelines version agreed to and who it is for."""
    rows = (
        [
            p.name,
            p.outlet,
            p.email,
            p.website,
            "; ".join(p.past_work.split()),
            "yes" if p.commissioned else "no",
            p.outline,
            p.deadline.isoformat() if p.deadline else "",
            p.message,
            p.recipient,
            p.locale,
            p.consent_version,
            _time(p.consent_at),
            "yes" if p.handled else "no",
            _time(p.created_at),
            p.uuid,
        ]
        for p in _noted(marks, PressRequest, _records(PressRequest, event))
    )
    return csv_lines(PRESS_COLUMNS, rows)


def tallies_csv(event: Event, marks: Marks | None = None) -> Iterator[str]:
    """Anonymous counts per kind and key (opener answers, FAQ opens, conversations)."""
    counts = db.session.execute(
        select(Tally.kind, Tally.key, func.count())
        .where(Tally.event_id == event.id)
        .group_by(Tally.kind, Tally.key)
        .order_by(Tally.kind, Tally.key)
    )
    return csv_lines(TALLY_COLUMNS, ([kind, key, count] for kind, key, count in counts))


def _consent(record: Signup | Pledge | Question | PressRequest) -> dict[str, Any]:
    return {
        "consent_version": record.consent_version,
        "consent_text": record.consent_text,
        "consent_at": _time(record.consent_at) or None,
    }


def _event_dict(event: Event) -> dict[str, Any]:
    day: date | None = event.date
    return {
        "uuid": event.uuid,
        "name": event.name,
        "date": day.isoformat() if day else None,
        "place": event.place,
        "goal_cents": event.goal_cents,
        "rescue_cost_cents": event.rescue_cost_cents,
        "tracking_source": event.tracking_source,
        "status": event.status,
        "created_at": _time(event.created_at),
        "closed_at": _time(event.closed_at) or None,
        "erasure_key": event.erasure_key,
    }


# Every personal field is written sealed (a value this request opened is sealed again),
# whoever exports it: bundles and a table's sync carry nothing a file holder can read.
def signup_item(s: Signup) -> dict[str, Any]:
    return {
        "uuid": s.uuid,
        "first_name": sealing.seal(s.first_name),
        "last_name": sealing.seal(s.last_name),
        "email": sealing.seal(s.email),
        "email_digest": s.email_digest,
        "mailchimp_refuses": s.mailchimp_refuses,
        "phone": sealing.seal(s.phone),
        "organisation": sealing.seal(s.organisation),
        "interests": [k for k in s.interests.split(",") if k],
        "source": s.source,
        "locale": s.locale,
        **_consent(s),
        "created_at": _time(s.created_at),
        "kiosk_id": s.kiosk_id,
        "updated_at": _time(s.updated_at),
    }


def pledge_item(p: Pledge) -> dict[str, Any]:
    return {
        "uuid": p.uuid,
        "kind": p.kind,
        "amount_cents": p.amount_cents,
        "name": sealing.seal(p.name),
        "email": sealing.seal(p.email),
        "email_digest": p.email_digest,
        **_consent(p),
        "created_at": _time(p.created_at),
        "kiosk_id": p.kiosk_id,
    }


def question_item(q: Question) -> dict[str, Any]:
    return {
        "uuid": q.uuid,
        "text": sealing.seal(q.text),
        "email": sealing.seal(q.email),
        "email_digest": q.email_digest,
        "answered": q.answered,
        **_consent(q),
        "created_at": _time(q.created_at),
        "kiosk_id": q.kiosk_id,
    }


def press_request_item(p: PressRequest) -> dict[str, Any]:
    return {
        "uuid": p.uuid,
        "name": sealing.seal(p.name),
        "email": sealing.seal(p.email),
        "email_digest": p.email_digest,
        "outlet": sealing.seal(p.outlet),
        "website": sealing.seal(p.website),
        "past_work": sealing.seal(p.past_work),
        "commissioned": p.commissioned,
        "outline": sealing.seal(p.outline),
        "deadline": p.deadline.isoformat() if p.deadline else None,
        "message": sealing.seal(p.message),
        "recipient": p.recipient,
        "locale": p.locale,
        "handled": p.handled,
        **_consent(p),
        "created_at": _time(p.created_at),
        "kiosk_id": p.kiosk_id,
    }


def tally_item(t: Tally) -> dict[str, Any]:
    return {
        "uuid": t.uuid,
        "kind": t.kind,
        "key": t.key,
        "created_at": _time(t.created_at),
        "kiosk_id": t.kiosk_id,
    }


# Each section of a bundle: its model and how one record is written into it. The bundle and
# a table's sync to its hub (services/sync.py) write records the same way.
BUNDLE_SECTIONS: dict[str, tuple[type[Any], Callable[[Any], dict[str, Any]]]] = {
    "signups": (Signup, signup_item),
    "pledges": (Pledge, pledge_item),
    "questions": (Question, question_item),
    "press_requests": (PressRequest, press_request_item),
    "tallies": (Tally, tally_item),
}


def bundle_frame(event: Event) -> dict[str, Any]:
    """A bundle of `event` without its records: the event and its erasure requests."""
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "exported_at": _time(utcnow()),
        "event": _event_dict(event),
        # Personal fields travel sealed to this public key: the file opens nothing.
        "team_public_key": sealing.public_key_text(),
        "tombstones": sorted(digests_of(event.uuid)),
        "erasures": [list(pair) for pair in sorted(requests_of(event.uuid))],
    }


def _bundle_parts(event: Event, marks: Marks | None) -> dict[str, Any]:
    """The bundle's keys in order; the records' lists are iterators, read as they are written
    (each record through its section's writer, as a table's sync writes it)."""
    return {
        **bundle_frame(event),
        "signups": (signup_item(s) for s in _noted(marks, Signup, _records(Signup, event))),
        "pledges": (pledge_item(p) for p in _noted(marks, Pledge, _records(Pledge, event))),
        "questions": (question_item(q) for q in _noted(marks, Question, _records(Question, event))),
        "press_requests": (
            press_request_item(p)
            for p in _noted(marks, PressRequest, _records(PressRequest, event))
        ),
        "tallies": (tally_item(t) for t in _records(Tally, event)),
        # The team's own page travels with every event: joined kiosks and the hub show it.
        "team": team.as_dict(),
    }


def bundle(event: Event, marks: Marks | None = None) -> dict[str, Any]:
    """The whole event as a dict in the format of this module's docstring."""
    return {
        key: list(value) if isinstance(value, Iterator) else value
        for key, value in _bundle_parts(event, marks).items()
    }


def json_chunks(event: Event, marks: Marks | None = None) -> Iterator[str]:
    """The bundle as JSON text, written a batch of records at a time: the same text as
    json.dumps(bundle(event), ensure_ascii=False, indent=2), never all of it in memory."""

    def dumped(value: object, depth: int) -> str:
        # json.dumps escapes a newline inside a string, so each one here is layout.
        text = json.dumps(value, ensure_ascii=False, indent=2)
        return text.replace("\n", "\n" + "  " * depth)

    yield "{"
    for number, (key, value) in enumerate(_bundle_parts(event, marks).items()):
        head = f"{',' if number else ''}\n  {json.dumps(key)}: "
        if not isinstance(value, Iterator):
            yield head + dumped(value, 1)
            continue
        pieces = [head + "["]
        count = 0
        for count, record in enumerate(value, start=1):
            pieces.append(("\n    " if count == 1 else ",\n    ") + dumped(record, 2))
            if count % EXPORT_BATCH == 0:
                yield "".join(pieces)
                pieces.clear()
        pieces.append("\n  ]" if count else "]")
        yield "".join(pieces)
    yield "\n}\n"


def json_bundle(event: Event, marks: Marks | None = None) -> str:
    return "".join(json_chunks(event, marks))


@dataclass(frozen=True)
class ExportFormat:
    """One way of taking an event's data home: the lead's buttons, the zip and the CLI read it.

    `kinds`: the records it takes into an export (marked exported once it is written), so an
    event's erasure can offer the formats that would take what waits. `kept_on_request`: its
    records count as exported only when the lead keeps the file as the event's record (the
    JSON bundle, also made just to merge tablets).
    """

    name: str
    label: LazyString
    extension: str
    media_type: str
    columns: Sequence[str]  # a CSV's header; the JSON bundle's top-level keys
    write: Callable[..., Iterable[str] | str]  # (event, marks[, only_new])
    kinds: tuple[type[PersonalRecord], ...] = ()
    kept_on_request: bool = False
    # It can hold only what no export of its kind holds yet (write takes `only_new`).
    offers_only_new: bool = False

    def only_new(self, asked: bool) -> bool:
        """Whether an export asked for "only new" holds only new: formats without it ignore
        the request, so its file name and audit entry do not claim it either."""
        return asked and self.offers_only_new

    @property
    def personal(self) -> bool:
        """Holds people's data."""
        return bool(self.kinds)


def _csv(
    name: str,
    label: LazyString,
    columns: Sequence[str],
    write: Callable[..., Iterable[str]],
    kinds: tuple[type[PersonalRecord], ...] = (),
    *,
    offers_only_new: bool = False,
) -> ExportFormat:
    return ExportFormat(
        name, label, "csv", "text/csv", columns, write, kinds, offers_only_new=offers_only_new
    )


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        _csv(
            "csv", _l("Sign-ups CSV"), SIGNUP_COLUMNS, signups_csv, (Signup,), offers_only_new=True
        ),
        _csv(
            "mailchimp",
            _l("Mailchimp CSV"),
            MAILCHIMP_COLUMNS,
            mailchimp_csv,
            (Signup,),
            offers_only_new=True,
        ),
        _csv("pledges", _l("Pledges CSV"), PLEDGE_COLUMNS, pledges_csv, (Pledge,)),
        _csv("questions", _l("Questions CSV"), QUESTION_COLUMNS, questions_csv, (Question,)),
        _csv("press", _l("Press requests CSV"), PRESS_COLUMNS, press_csv, (PressRequest,)),
        _csv("tallies", _l("Tallies CSV"), TALLY_COLUMNS, tallies_csv),
        ExportFormat(
            "json",
            _l("JSON for another kiosk"),
            "json",
            "application/json",
            BUNDLE_KEYS,
            json_chunks,
            kinds=(Signup, Pledge, Question, PressRequest),
            kept_on_request=True,
        ),
    )
}


def formats_exporting(model: type[PersonalRecord]) -> list[str]:
    """The formats that take records of `model` into an export (a kept JSON among them)."""
    return [f.name for f in FORMATS.values() if model in f.kinds]


def export_chunks(
    event: Event, format_name: str, marks: Marks | None = None, *, only_new: bool = False
) -> Iterator[str]:
    """The export of `event` in `format_name`, as pieces of text to write in order; the
    records written are noted in `marks`, for mark_exported once the text is out. `only_new`
    (formats that offer it) leaves out what an export of its kind already holds."""
    chosen = FORMATS[format_name]
    if chosen.only_new(only_new):
        result = chosen.write(event, marks, only_new=True)
    else:
        result = chosen.write(event, marks)
    if isinstance(result, str):
        yield result
    else:
        yield from result


def _note_marks(marks: Marks, *, mailchimp: bool) -> None:
    for model, by_revision in marks.written.items():
        values: dict[str, Any] = {}
        if model is Signup:
            values["updated_at"] = Signup.updated_at  # being exported is no change of the record
        for revision, ids in by_revision.items():
            marked = values | {"exported_revision": revision}
            if mailchimp and model is Signup:
                marked["mailchimp_revision"] = revision
            for start in range(0, len(ids), MARK_BATCH):
                # Only a record still at the revision written: one changed meanwhile (a
                # second sign-up, a merge) stays unexported.
                db.session.execute(
                    update(model)
                    .where(
                        model.id.in_(list(ids[start : start + MARK_BATCH])),
                        model.revision == revision,
                    )
                    .values(**marked)
                    .execution_options(synchronize_session=False)
                )


def mark_exported(
    event: Event,
    format_name: str,
    actor: str = "",
    *,
    marks: Marks | None = None,
    keep: bool = False,
    only_new: bool = False,
) -> None:
    """Note that the records in `marks` left the kiosk in `format_name` (call after the
    export is written); a JSON bundle counts only when the lead keeps it (`keep`)."""
    chosen = FORMATS[format_name]
    if chosen.personal and (keep or not chosen.kept_on_request):
        if marks is not None:
            _note_marks(marks, mailchimp=format_name == "mailchimp")
        event.exported_at = utcnow()
        db.session.commit()
    kept = " (kept as the event's record)" if chosen.kept_on_request and keep else ""
    kept += " (only what no earlier export held)" if chosen.only_new(only_new) else ""
    record_audit("export", f"event {event.id} ({event.name}) as {format_name}{kept}", actor)


# ---- Files to download: names, one event or a zip of all ---------------------------------------


def _slug(text: str) -> str:
    words = "".join(c.lower() if c.isalnum() else " " for c in text).split()
    return "-".join(words)[:60] or "event"


def export_file_name(
    event: Event | None, format_name: str, today: date | None = None, *, only_new: bool = False
) -> str:
    """rescue-team_<event>_<event date>_<format>.csv, or all-events_<today> for a zip;
    "<format>-new" when it holds only what no earlier export of its kind held."""
    today = today or clock.today()
    kind = f"{format_name}-new" if FORMATS[format_name].only_new(only_new) else format_name
    if event is None:
        return f"rescue-team_all-events_{today.isoformat()}_{kind}.zip"
    day = (event.date or today).isoformat()
    extension = FORMATS[format_name].extension
    return f"rescue-team_{_slug(event.name)}_{day}_{kind}.{extension}"


class _Spool:
    """Where a zip being streamed is written: its bytes are taken out as they come."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.pieces)
        self.pieces.clear()
        self.size = 0
        return data


# A streamed zip hands on what it compressed once it holds this much.
ZIP_PIECE_BYTES = 64 * 1024


def _zip_entry(file_name: str) -> zipfile.ZipInfo:
    """A zip member as ZipFile.writestr makes one: now, deflated, readable by its owner."""
    entry = zipfile.ZipInfo(file_name, date_time=clock.now().astimezone().timetuple()[:6])
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = 0o600 << 16
    return entry


@dataclass
class Download:
    """An export to send, read and written as it goes: iterate `chunks()` once; once every
    chunk is out, `note_download` marks what it held and audits it."""

    file_name: str
    media_type: str
    format_name: str
    # Its events, by id: a streamed response reads them in the session it is sent in (the
    # view's own session ends as the view returns).
    event_ids: list[int]
    # What each event's file holds, by event id: filled as the chunks are made, marked
    # exported by note_download.
    marks: dict[int, Marks] = field(default_factory=dict)
    only_new: bool = False  # only what no earlier export of its kind held

    @property
    def events(self) -> list[Event]:
        """Its events, in the session in use now."""
        found = (db.session.get(Event, event_id) for event_id in self.event_ids)
        return [event for event in found if event is not None]

    def chunks(self) -> Iterator[bytes]:
        """The file, piece by piece (UTF-8 text, or a zip of each event's file)."""
        if self.media_type != "application/zip":
            (event,) = self.events
            marks = self.marks.setdefault(event.id, Marks())
            for text in export_chunks(event, self.format_name, marks, only_new=self.only_new):
                yield text.encode("utf-8")
            return
        spool = _Spool()
        # ZipFile only writes to it and streams (no seek): a file object in all but its type.
        with zipfile.ZipFile(cast("IO[bytes]", spool), "w", zipfile.ZIP_DEFLATED) as archive:
            for event in self.events:
                marks = self.marks.setdefault(event.id, Marks())
                name = export_file_name(event, self.format_name, only_new=self.only_new)
                with archive.open(_zip_entry(name), "w") as member:
                    for text in export_chunks(
                        event, self.format_name, marks, only_new=self.only_new
                    ):
                        member.write(text.encode("utf-8"))
                        if spool.size >= ZIP_PIECE_BYTES:
                            yield spool.take()
        yield spool.take()


def download(format_name: str, event: Event | None, *, only_new: bool = False) -> Download:
    """One event's export as a file, or (event None) every event's, one file each in a zip;
    `only_new`: only what no export of its kind holds yet (formats that offer it).

    Nothing is read until its chunks are: the file is read and written a batch of records
    at a time, so its size is not the kiosk's memory. It only reads, so the lead's export
    takes no write lock while it runs.
    """
    only_new = FORMATS[format_name].only_new(only_new)
    name = export_file_name(event, format_name, only_new=only_new)
    if event is not None:
        media_type = FORMATS[format_name].media_type
        return Download(name, media_type, format_name, [event.id], only_new=only_new)
    every = [each.id for each in list_events()]
    return Download(name, "application/zip", format_name, every, only_new=only_new)


def note_download(done: Download, actor: str = "", *, keep: bool = False) -> None:
    """Mark what a download holds exported and audit it; call it once every chunk is out.
    A JSON file counts only when the lead keeps it as the event's record (`keep`)."""
    for event in done.events:
        marks = done.marks.get(event.id)
        mark_exported(
            event, done.format_name, actor, marks=marks, keep=keep, only_new=done.only_new
        )


def note_broken_off(done: Download, actor: str = "") -> None:
    """Audit a download broken off before its end: part of a file may have left the kiosk,
    but none of its records is marked exported (a later export takes them again)."""
    for event in done.events:
        record_audit(
            "export",
            f"event {event.id} ({event.name}) as {done.format_name}: broken off before the "
            "end of the file, nothing marked exported",
            actor,
        )
