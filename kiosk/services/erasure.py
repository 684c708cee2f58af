"""Erasing personal data: one person everywhere, one event after export, and retention.

Tallies are anonymous and always stay. Pledges keep their amount (an event's total must
not change when a donor asks to be forgotten) but lose the name, email and consent.
Sign-ups, questions and press requests are personal through and through: deleted.
The audit log records what was erased, never whose data it was.

Nothing lost: an event's records are erased only once each is in an export of its own kind
(models.ExportMarks), and every DELETE carries that condition itself, so a record that
arrives or changes while the lead is erasing (another server process, a merge) is kept.
Nothing resurrected: erasing a person leaves tombstones (services/tombstones.py) that
every import honours. Copies forget: after an erasure the database keeps nothing readable
and the backups are rewritten (services/backup.py).
"""

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask, current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import ColumnElement, Delete, Update, delete, false, func, or_, select, true, update

from kiosk import clock
from kiosk.emails import canonical_email, digest_of_record
from kiosk.extensions import db
from kiosk.models import (
    PERSONAL_MODELS,
    AuditEntry,
    Event,
    ExportMarks,
    PersonalRecord,
    Pledge,
    PressRequest,
    Question,
    Signup,
    Tally,
    new_uuid,
    utcnow,
)
from kiosk.services import backup, sealing, tombstones
from kiosk.services.audit import record_audit
from kiosk.services.backup import Forget
from kiosk.services.records import Checker
from kiosk.services.settings import retention_days

PURGE_INTERVAL = timedelta(days=1)
EMAIL_MAX = 254
# A Raspberry Pi has no clock battery: at start-up its clock may be far behind, or (a bad
# network time, a wrong hand-set date) far ahead. Retention trusts the clock only while it
# is no earlier than the newest record and at most this far beyond it. A year: a team uses
# its kiosk every term, so a year with nothing recorded more likely means a wrong clock
# than a year on a shelf; and when the shelf is real, a purge that waits costs nothing the
# lead can't do by hand (Erase event) or with `kiosk purge --trust-clock`.
CLOCK_AHEAD_LIMIT = timedelta(days=366)

# Each kind of personal record: the Erased field counting it, and its name for people.
KINDS: dict[type[PersonalRecord], tuple[str, str, str]] = {
    Signup: ("signups", "sign-up", "sign-ups"),
    Pledge: ("pledges", "pledge", "pledges"),
    Question: ("questions", "question", "questions"),
    PressRequest: ("press_requests", "press request", "press requests"),
}


def describe_counts(counts: dict[type, int]) -> str:
    """ "2 sign-ups, 1 question" (kinds in the usual order, zeros left out)."""
    parts = [
        f"{n} {KINDS[model][1] if n == 1 else KINDS[model][2]}"
        for model in PERSONAL_MODELS
        if (n := counts.get(model, 0))
    ]
    return ", ".join(parts)


def shown_counts(counts: dict[type, int]) -> str:
    """describe_counts in the language of the lead's page ("가입 2건, 질문 1건"); the audit
    log and the command line keep describe_counts' English."""
    words: dict[type, Callable[[int], str]] = {
        Signup: lambda n: ngettext("%(num)d sign-up", "%(num)d sign-ups", n),
        Pledge: lambda n: ngettext("%(num)d pledge", "%(num)d pledges", n),
        Question: lambda n: ngettext("%(num)d question", "%(num)d questions", n),
        PressRequest: lambda n: ngettext("%(num)d press request", "%(num)d press requests", n),
    }
    parts = [words[model](n) for model in PERSONAL_MODELS if (n := counts.get(model, 0))]
    return ", ".join(parts)


@dataclass
class Erased:
    """How many records an erasure deleted (sign-ups, questions, press) or anonymised
    (pledges); what it kept because they are in no export yet; why it did not run."""

    signups: int = 0
    questions: int = 0
    press_requests: int = 0
    pledges: int = 0
    events: list[str] = field(default_factory=list)
    kept: dict[type[PersonalRecord], int] = field(default_factory=dict)
    paused: str | None = None
    forget: Forget = field(default_factory=Forget)

    @property
    def total(self) -> int:
        return self.signups + self.questions + self.press_requests + self.pledges

    def counts(self) -> dict[type[PersonalRecord], int]:
        return {model: getattr(self, name) for model, (name, _one, _many) in KINDS.items()}

    def add(self, other: "Erased") -> None:
        for name, _one, _many in KINDS.values():
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for model, n in other.kept.items():
            self.kept[model] = self.kept.get(model, 0) + n
        self.events += other.events
        self.forget.emails |= other.forget.emails
        self.forget.anonymised |= other.forget.anonymised
        for table, uuids in other.forget.deleted.items():
            self.forget.deleted.setdefault(table, set()).update(uuids)
        self.forget.tombstones += other.forget.tombstones

    def describe(self) -> str:
        return describe_counts(self.counts()) or "no records"

    def shown(self) -> str:
        """describe() for the lead's page, in its language."""
        return shown_counts(self.counts()) or _("no records")

    def describe_kept(self) -> str:
        kept = describe_counts(self.kept)
        return f"kept {kept} not yet exported" if kept else ""


class ErasureRefused(Exception):
    """An erasure that must not happen yet, with the reason for the lead.

    `unexported` holds, by kind, the records that are in no export yet, so the page can
    offer the exports that would take them.
    """

    def __init__(self, reason: str, unexported: dict[type, int] | None = None) -> None:
        super().__init__(reason)
        self.unexported = unexported or {}


def _anonymous_pledge() -> dict[str, object]:
    return {
        "name": "",
        "email": "",
        "email_digest": "",
        "consent_version": None,
        "consent_text": None,
        "consent_at": None,
    }


def personal(model: type[PersonalRecord]) -> ColumnElement[bool]:
    """Records of `model` that hold a person's data (a pledge without name or email holds
    none: erasing it changes nothing)."""
    if model is Pledge:
        return or_(Pledge.name != "", Pledge.email != "")
    return true()


def exported(model: type[ExportMarks]) -> ColumnElement[bool]:
    """The record as it is now was written into an export of its kind."""
    return model.exported_revision == model.revision


def not_exported(model: type[ExportMarks]) -> ColumnElement[bool]:
    return or_(model.exported_revision.is_(None), model.exported_revision != model.revision)


def _count(model: type[PersonalRecord], *where: ColumnElement[bool]) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _erase(
    erased: Erased, where: Callable[[type[PersonalRecord]], tuple[ColumnElement[bool], ...]]
) -> None:
    """Delete the records of each kind that match `where(model)`, anonymise such pledges;
    count them in `erased` and note them for the copies. No commit."""
    for model, (name, _one, _many) in KINDS.items():
        statement: Update | Delete
        if model is Pledge:
            statement = update(Pledge).where(*where(Pledge)).values(**_anonymous_pledge())
        else:
            statement = delete(model).where(*where(model))
        uuids = set(
            db.session.execute(
                statement.returning(model.uuid).execution_options(synchronize_session=False)
            ).scalars()
        )
        setattr(erased, name, getattr(erased, name) + len(uuids))
        if model is Pledge:
            erased.forget.anonymised |= uuids
        else:
            erased.forget.deleted.setdefault(model.__tablename__, set()).update(uuids)


# ---- One person, everywhere --------------------------------------------------------------


def checked_email(value: str | None) -> str:
    """The address typed to find a person's data (InvalidInput when it can't be one).

    Only its shape is checked: an address stored before today's checks must still be found.
    """
    check = Checker()
    message = _("Enter the email address the person signed up with.")
    email = check.text("email", value, EMAIL_MAX, required=message)
    if email and "@" not in email:
        check.errors["email"] = message
    check.done()
    return email


def of_person(model: type[PersonalRecord], canonical: str) -> ColumnElement[bool]:
    """Records of `model` holding `canonical`: emails are sealed, so by their digest, one per
    event (each event's key makes its own; a digest names its event too)."""
    digests = [
        digest_of_record(key, canonical) for key in db.session.scalars(select(Event.erasure_key))
    ]
    return model.email_digest.in_([d for d in digests if d]) if canonical else false()


def person_records(email: str) -> Erased:
    """What erasing `email` would touch, for the confirmation step."""
    canonical = canonical_email(email)
    found = Erased()
    for model, (name, _one, _many) in KINDS.items():
        setattr(found, name, _count(model, of_person(model, canonical)))
    return found


def _erase_person(canonical: str, requests: Iterable[str]) -> Erased:
    """Tombstone `canonical` for `requests`, delete its records, anonymise its pledges;
    no commit."""
    erased = Erased()
    stones = tombstones.scopes_of(canonical, requests)
    tombstones.store(stones)
    erased.forget.tombstones += stones
    erased.forget.emails.add(canonical)
    _erase(erased, lambda model: (of_person(model, canonical),))
    return erased


def erase_person(email: str, actor: str = "") -> Erased:
    """Erase `email` everywhere on this kiosk and leave its tombstones; copies forget too."""
    canonical = canonical_email(email)
    if "@" not in canonical:
        raise ErasureRefused(_("Enter the person's email address."))
    tombstones.instance_key()  # made (and committed) before anything is erased
    erased = _erase_person(canonical, [new_uuid()])  # a request of its own
    db.session.commit()
    record_audit("erase.person", f"One person erased everywhere: {erased.describe()}", actor)
    after_erasure(erased.forget)
    return erased


def forget_tombstoned(key: str, requests: set[tuple[str, str]]) -> Erased:
    """Erase everyone here whose email has a digest of `requests` (digest, request) under
    `key` (another kiosk's tombstones, arriving in its file); no commit. Each is then
    tombstoned here under the same requests, so none is applied twice or sent back as new."""
    erased = Erased()
    by_digest: dict[str, set[str]] = {}
    for digest, request in requests:
        by_digest.setdefault(digest, set()).add(request)
    if not by_digest:
        return erased
    # Records of the events keyed with `key` carry the very digests the file names.
    events = list(db.session.scalars(select(Event.id).where(Event.erasure_key == key)))
    emails: set[str] = set()
    for model in PERSONAL_MODELS:
        for stored, digest_ in db.session.execute(
            select(model.email, model.email_digest).where(
                model.email != "",
                or_(
                    model.email_digest.in_(list(by_digest)),
                    # Other events: only an opened email can be digested with `key`.
                    model.event_id.not_in(events) if events else true(),
                ),
            )
        ):
            if not sealing.is_sealed(stored):
                emails.add(stored)  # opened (the lead's key in use) or stored before sealing
            elif digest_ in by_digest:
                erased.add(_erase_sealed(model, digest_, sorted(by_digest[digest_])))
    for email in sorted(emails):
        found = by_digest.get(tombstones.digest(key, email)) or by_digest.get(
            tombstones.legacy_digest(key, email)
        )
        if found:
            erased.add(_erase_person(email, sorted(found)))
    return erased


def _erase_sealed(model: type[PersonalRecord], digest_: str, requests: list[str]) -> Erased:
    """Erase the records whose (sealed) email has `digest_`, without opening them: their
    events' tombstones are that digest itself. No commit."""
    erased = Erased()
    scopes = db.session.execute(
        select(Event.uuid)
        .join(model, model.event_id == Event.id)
        .where(model.email_digest == digest_)
    ).scalars()
    stones = [
        {"scope": scope, "digest": digest_, "request": request}
        for scope in set(scopes)
        for request in requests
    ]
    tombstones.store(stones)
    erased.forget.tombstones += stones
    _erase(erased, lambda each: (each.email_digest == digest_,))
    return erased


def erase_record(record: Signup | Pledge | Question | PressRequest, actor: str = "") -> Erased:
    """Erase one record (the lead's Records page): deleted, or for a pledge anonymised. Its
    email is tombstoned, so no tablet's file brings the record back; copies forget it."""
    model = type(record)
    canonical = canonical_email(record.email)
    tombstones.instance_key()  # made (and committed) before anything is erased
    erased = Erased()
    if "@" in canonical and not sealing.is_sealed(canonical):
        stones = tombstones.scopes_of(canonical, [new_uuid()])  # a request of its own
        tombstones.store(stones)
        erased.forget.tombstones += stones
    elif record.email_digest:
        # Sealed, no key in use: its event's tombstone is the record's digest itself.
        stones = [
            {"scope": record.event.uuid, "digest": record.email_digest, "request": new_uuid()}
        ]
        tombstones.store(stones)
        erased.forget.tombstones += stones
    uuid = record.uuid
    _erase(erased, lambda each: (each.uuid == uuid,) if each is model else (false(),))
    db.session.commit()
    record_audit("record.erase", f"{KINDS[model][1]} {uuid} erased (Records page)", actor)
    after_erasure(erased.forget)
    return erased


# ---- One event's personal data ------------------------------------------------------------


def unexported(event: Event) -> dict[type[PersonalRecord], int]:
    """Personal records of `event` in no export of their kind yet, by kind."""
    counts = {
        model: _count(model, model.event_id == event.id, personal(model), not_exported(model))
        for model in PERSONAL_MODELS
    }
    return {model: n for model, n in counts.items() if n}


def holds_personal_data(event: Event) -> bool:
    return any(
        _count(model, model.event_id == event.id, personal(model)) for model in PERSONAL_MODELS
    )


def erase_list() -> list[tuple[Event, str]]:
    """Every event that holds personal data (erased or not: a record can reach an event
    while it is erased), with what of it is in no export yet ("" when all is)."""
    events = db.session.scalars(select(Event).order_by(Event.date.desc(), Event.id.desc()))
    return [
        (event, shown_counts(unexported(event))) for event in events if holds_personal_data(event)
    ]


def erasure_refusal(event: Event) -> ErasureRefused | None:
    """Why the event's personal data may not be erased now, or None."""
    if event.status == Event.ACTIVE:
        return ErasureRefused(
            _(
                "Close the event first: it is the active one, and new sign-ups would land "
                "in it while it is erased."
            )
        )
    waiting = unexported(event)
    if waiting:
        return ErasureRefused(
            _(
                "Not in any export yet: %(what)s. Export them first, or they would be lost.",
                what=shown_counts(waiting),
            ),
            waiting,
        )
    return None


def _erase_exported(event: Event) -> Erased:
    """Delete (or, for pledges, anonymise) the event's exported personal records; no commit.

    The condition is in each statement, so whatever is not exported at that moment stays.
    """
    erased = Erased(events=[event.name])
    _erase(erased, lambda model: (model.event_id == event.id, personal(model), exported(model)))
    erased.kept = unexported(event)
    if event.status != Event.CLOSED:
        event.status = Event.CLOSED  # an erased event takes no new records
    event.closed_at = event.closed_at or utcnow()
    if not holds_personal_data(event):
        event.erased_at = utcnow()
    return erased


def records_of_events(event_uuids: set[str]) -> set[str]:
    """UUIDs of the personal records of these events (by event UUID)."""
    found: set[str] = set()
    for model in PERSONAL_MODELS:
        found.update(
            db.session.scalars(
                select(model.uuid)
                .join(Event, Event.id == model.event_id)
                .where(Event.uuid.in_(event_uuids), personal(model))
            )
        )
    return found


def erase_again(event: Event, spare: set[str]) -> Erased:
    """Erase, in a restored copy, what an event erasure here had erased; no commit.

    When this kiosk erased the event, every personal record it ever held had been exported
    (or erased before), so all of them go, whatever the copy's older export marks say;
    except `spare`: records this kiosk still holds, which arrived after that erasure.
    """
    erased = Erased(events=[event.name])
    _erase(
        erased,
        lambda model: (model.event_id == event.id, personal(model), model.uuid.not_in(spare)),
    )
    event.status, event.erased_at = Event.CLOSED, event.erased_at or utcnow()
    return erased


def erase_event(event: Event, actor: str = "") -> Erased:
    """Erase the event's personal data once every record is exported; tallies stay."""
    refused = erasure_refusal(event)
    if refused is not None:
        raise refused
    erased = _erase_exported(event)
    db.session.commit()
    record_audit(
        "erase.event",
        f"Personal data of event {event.id} ({event.name}): {erased.describe()}",
        actor,
    )
    after_erasure(erased.forget)
    return erased


# ---- Retention ----------------------------------------------------------------------------


def newest_record_time() -> datetime | None:
    """The latest time this kiosk (or a tablet merged into it) stamped on anything."""
    columns = [AuditEntry.at, Tally.created_at, Event.created_at, Event.closed_at]
    columns += [model.created_at for model in PERSONAL_MODELS]
    columns.append(Signup.updated_at)
    times = [db.session.scalar(select(func.max(column))) for column in columns]
    known = [moment for moment in times if moment is not None]
    return max(known) if known else None


def clock_problem() -> str | None:
    """Why the clock can't be trusted to decide what retention erases, or None."""
    newest = newest_record_time()
    if newest is None:
        return None
    now = clock.now()
    stamp = "%Y-%m-%d %H:%M UTC"
    if now < newest:
        return (
            f"the clock says {now:{stamp}}, earlier than the newest record "
            f"({newest:{stamp}}): it may have lost the time"
        )
    if now - newest > CLOCK_AHEAD_LIMIT:
        return (
            f"the clock says {now:{stamp}}, more than a year after the newest record "
            f"({newest:{stamp}}): it may be wrong"
        )
    return None


def retention_state() -> dict[str, object]:
    """For /healthz: whether the retention purge would run now, and if not, why."""
    problem = clock_problem()
    return {"purging": problem is None, "reason": problem}


def events_due(days: int | None = None) -> list[Event]:
    """Closed events past their retention period that still hold personal data."""
    cutoff = utcnow() - timedelta(days=retention_days() if days is None else days)
    closed = db.session.scalars(
        select(Event)
        .where(
            Event.status == Event.CLOSED,
            Event.closed_at.is_not(None),
            Event.closed_at < cutoff,
            # The day the lead typed is no clock's: an event closed under a wrong clock
            # (1970) is still kept its retention days from the day it took place.
            or_(Event.date.is_(None), Event.date < cutoff.date()),
        )
        .order_by(Event.id)
    )
    return [event for event in closed if holds_personal_data(event)]


def purge_expired(actor: str = "retention", *, trust_clock: bool = False) -> Erased:
    """Erase the exported personal data of events closed longer ago than the retention days.

    Records in no export yet are kept (and counted), whatever their age. Nothing happens
    while the clock looks wrong (clock_problem), unless the lead checked it (trust_clock).
    """
    total = Erased()
    problem = None if trust_clock else clock_problem()
    if problem is not None:
        total.paused = problem
        current_app.logger.warning("Retention purge paused: %s.", problem)
        return total
    for event in events_due():
        erased = _erase_exported(event)
        db.session.commit()
        if not erased.total:  # all of it waits for an export: said, not audited every day
            total.add(Erased(kept=erased.kept))
            continue
        kept = erased.describe_kept()
        record_audit(
            "purge",
            f"Retention ({retention_days()} days): event {event.id} ({event.name}): "
            f"{erased.describe()}" + (f"; {kept}" if kept else ""),
            actor,
        )
        total.add(erased)
    if total.forget:
        after_erasure(total.forget)
    return total


def start_daily_purge(app: Flask, interval: timedelta = PURGE_INTERVAL) -> threading.Event:
    """Purge once a day in a background thread; set the returned event to stop it."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval.total_seconds()):
            with app.app_context():
                try:
                    purge_expired()
                except Exception:  # a failed purge today must not stop tomorrow's
                    app.logger.exception("Retention purge failed")
                    db.session.rollback()
                finally:
                    db.session.remove()

    threading.Thread(target=run, name="kiosk-retention", daemon=True).start()
    return stop


# ---- Copies ---------------------------------------------------------------------------------


def after_erasure(forget: Forget) -> None:
    """Leave nothing of what was erased readable: the database's files, then the backups."""
    if not forget:
        return
    backup.scrub_database()
    backup.forget_in_backups(current_app.instance_path, forget)
