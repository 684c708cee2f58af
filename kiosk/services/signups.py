"""Mailing-list sign-ups: validate, normalise and store them, one record per person per event.

One person per event is the database's rule (a unique index on event and email), not a
look-up before an insert: `insert_or_merge` inserts, and when the index already holds the
person (stored by another tablet a moment ago, in any server process) merges into that row
under a row lock. The kiosk's own sign-ups and imported ones both go through it.
"""

from collections.abc import Callable, Iterable
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, case, false, inspect, or_, select
from werkzeug.datastructures import MultiDict

from kiosk import i18n, phones
from kiosk.content import current_content, default_content
from kiosk.emails import digest_of_record
from kiosk.extensions import db
from kiosk.models import Event, Signup, email_fields, new_uuid, utcnow
from kiosk.services import sealing
from kiosk.services.atomic import insert_new_record
from kiosk.services.events import event_taking_records
from kiosk.services.records import (
    Checker,
    apply_consent,
    clean_idempotency_key,
    find_by_key,
    key_of_changed_resend,
    mark_changed,
    same_content,
)

# Lengths fit the columns in models.Signup.
FIRST_NAME_MAX = 80
LAST_NAME_MAX = 80
PHONE_MAX = 40
ORGANISATION_MAX = 120
SOURCES = (Signup.KIOSK, Signup.VOLUNTEER)
# The erasure key of the event this process's last sign-up went to (nothing personal: every
# kiosk of the event holds it), under which the next sign-up's digest is worked out early.
LAST_EVENT_KEY = "kiosk_last_signup_event_key"


def phone_regions() -> tuple[str, str]:
    """Where a phone typed without a country code is from: first the region of the language
    this request speaks (a Korean visitor's 010-..., the volunteer's interface for a paper
    sheet), then the instance's."""
    return current_content().phone_region, default_content().phone_region


def check_phone(checker: Checker, value: str | None) -> str:
    """The phone in E.164 (kiosk.phones), read in phone_regions() in turn."""
    phone = checker.text("phone", value, PHONE_MAX)
    if not phone or "phone" in checker.errors or sealing.is_sealed(phone):
        return phone
    regions = phone_regions()
    try:
        return phones.normalise_phone(phone, *regions)
    except phones.NotAPhone:
        checker.errors["phone"] = _(
            "This doesn’t look like a phone number. Use digits, spaces and + - ( ), e.g. "
            "%(example)s, and the country code if it isn’t local.",
            example=phones.example_phone(regions[0]),
        )
        return phone


def check_fields(
    check: Checker,
    *,
    first_name: str | None,
    last_name: str | None,
    email: str | None,
    phone: str | None,
    organisation: str | None,
) -> dict[str, str]:
    """A sign-up's typed fields cleaned and checked: the form's rules, also for imports and
    the lead's corrections. Faults go into `check`."""
    return {
        "first_name": check.text(
            "first_name", first_name, FIRST_NAME_MAX, required=_("Please enter your first name.")
        ),
        "last_name": check.text("last_name", last_name, LAST_NAME_MAX),
        "email": check.email("email", email, required=True),
        "phone": check_phone(check, phone),
        "organisation": check.text("organisation", organisation, ORGANISATION_MAX),
    }


def known_interests(keys: Iterable[str]) -> list[str]:
    """The content pack's interest keys among `keys`, in the pack's order."""
    wanted = set(keys)
    return [i.key for i in current_content().interests if i.key in wanted]


def interest_asked(value: str | None) -> str | None:
    """The interest a link asks the sign-up form to start with (/signup?interest=team): a
    key of the content pack, else None (a made-up value is ignored)."""
    if not value or len(value) > 40:
        return None
    found = known_interests([value])
    return found[0] if found else None


def merge_interests(stored: str, added: Iterable[str]) -> str:
    keys = [k for k in stored.split(",") if k]
    return ",".join(keys + [k for k in added if k not in keys])


def find_signup(event: Event, email: str) -> Signup | None:
    """The first sign-up of this email at this event, if any: by the email's digest, as the
    address is sealed (kiosk/emails.py)."""
    if not digest_of_record(event.erasure_key, email):
        return None
    return db.session.scalar(
        select(Signup)
        .where(
            Signup.event_id == event.id,
            Signup.email_digest == digest_of_record(event.erasure_key, email),
        )
        .order_by(Signup.id)
        .limit(1)
    )


def form_fields(form: MultiDict[str, str]) -> dict[str, Any]:
    """record_signup's arguments from a posted sign-up form (the kiosk's or a volunteer's)."""
    return {
        "first_name": form.get("first_name"),
        "last_name": form.get("last_name"),
        "email": form.get("email"),
        "phone": form.get("phone"),
        "organisation": form.get("organisation"),
        "interests": form.getlist("interests"),
        "consent": form.get("consent") == "y",
        "idempotency_key": form.get("idempotency_key"),
    }


def _consent_message(source: str) -> str:
    """The visitor is asked to tick the box; the volunteer typing a paper sheet is asked
    whether the person ticked theirs (the default wording speaks to the visitor)."""
    if source == Signup.VOLUNTEER:
        return _(
            "Tick this only if they ticked “I agree” on the sheet: without it, the row can’t be"
            " typed in."
        )
    return ""


def record_signup(
    *,
    first_name: str | None,
    email: str | None,
    last_name: str | None = "",
    phone: str | None = "",
    organisation: str | None = "",
    interests: Iterable[str] = (),
    consent: bool = False,
    idempotency_key: str | None = None,
    source: str = Signup.KIOSK,
    event: Event | None = None,
    locale: str | None = None,
    consent_wording: tuple[str, str] | None = None,
) -> Signup:
    """Store a sign-up, or update this event's earlier one of the same email.

    Raises InvalidInput naming every field at fault. The visitor is thanked the same
    way either way, so the kiosk never reveals who signed up before. `locale` is the
    language the person signed up in (by default, the one this request speaks).
    `consent_wording` (version, text): what a paper sheet printed, when it is not the pack's
    current one.
    """
    check = Checker()
    cleaned = check_fields(
        check,
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=phone,
        organisation=organisation,
    )
    check.consent("consent", consent, needed=True, message=_consent_message(source))
    check.done()
    if source not in SOURCES:
        raise ValueError(f"unknown sign-up source {source!r}")

    key = clean_idempotency_key(idempotency_key)
    chosen = known_interests(interests)
    content = cleaned | {"interests": ",".join(chosen)}
    _digest_before_the_transaction(cleaned["email"])
    event = event_taking_records(event)
    current_app.extensions[LAST_EVENT_KEY] = event.erasure_key
    cleaned["locale"] = locale or i18n.current_locale()
    # No look-up of the key before the insert: the insert's ON CONFLICT finds a form sent
    # again (insert_or_merge says SENT_BEFORE), so a new sign-up pays for one statement.
    for _attempt in range(2):
        signup = Signup(
            event_id=event.id,
            interests=",".join(chosen),
            source=source,
            idempotency_key=key,
            **cleaned,
        )
        apply_consent(signup, consent, consent_wording)
        stored, outcome = insert_or_merge(
            signup,
            lambda earlier: _update(earlier, cleaned, chosen, consent_wording),
            erasure_key=event.erasure_key,
        )
        if outcome != SENT_BEFORE or key is None or same_content(stored, content):
            break
        # The form was changed before it was sent again: stored (or merged into that
        # person's sign-up) like any other, never thanked and dropped.
        key = key_of_changed_resend(key, content)
    db.session.commit()
    return stored


def _digest_before_the_transaction(email: str) -> None:
    """Work out the email's digest (Argon2id: ~9 ms of CPU, slow on purpose) before this
    request's first statement begins its write transaction, under the key of the event this
    process's last sign-up went to. Inside the transaction it would hold the write turn
    (SQLite's one write lock: every tablet's taps and sign-ups would wait behind it).

    The digest the insert stores is still worked out inside, under the key of the event read
    there: argon2_digest keeps the one worked out here, so it answers at once when the key is
    the same, and when the event changed meanwhile (once per process) the right one is
    worked out there as before."""
    last_key = current_app.extensions.get(LAST_EVENT_KEY)
    if last_key:
        digest_of_record(last_key, email)


def _update(
    signup: Signup,
    cleaned: dict[str, str],
    interests: list[str],
    wording: tuple[str, str] | None = None,
) -> bool:
    """Fill in what the second sign-up adds; never blank out what the first one gave.
    The language is the latest one the person chose."""
    for field, value in cleaned.items():
        if value and field != "email":
            setattr(signup, field, value)
    signup.interests = merge_interests(signup.interests, interests)
    apply_consent(signup, True, wording)
    signup.updated_at = utcnow()
    mark_changed(signup)  # the exported version of this sign-up is not this one any more
    return True


# What insert_or_merge did with a sign-up.
INSERTED = "inserted"
MERGED = "merged"
UNCHANGED = "unchanged"
# The row already held is this form's own, sent again (the same idempotency key).
SENT_BEFORE = "sent before"


def insert_or_merge(
    signup: Signup, merge: Callable[[Signup], bool], *, erasure_key: str | None = None
) -> tuple[Signup, str]:
    """Store `signup` (a new, unsaved one), or merge it into the row already holding it.

    One INSERT ... ON CONFLICT DO NOTHING RETURNING the stored row decides. When a row is
    already there, it is the same form sent again (same idempotency key: returned as it is,
    SENT_BEFORE), the same record (same UUID, from another tablet's file) or the same person
    at this event (same email): then `merge(row)` applies what `signup` adds and says whether
    it changed anything, while a row lock (FOR UPDATE) keeps every other merge of that
    person waiting, so no tablet's answer is lost. `erasure_key`: the event's, when the
    caller has the event in hand (else it is read). Returns (the stored sign-up, INSERTED,
    MERGED, UNCHANGED or SENT_BEFORE); commits nothing.
    """
    values = {
        name: value
        for name, value in inspect(signup).dict.items()
        if name in Signup.__table__.columns
    }
    values.setdefault("uuid", new_uuid())
    if not sealing.is_sealed(values.get("email")):
        # A Core insert: the ORM's before_flush (models._email_fields) does not see it.
        if erasure_key is None:
            erasure_key = db.session.scalar(
                select(Event.erasure_key).where(Event.id == values["event_id"])
            )
        values |= email_fields(Signup, erasure_key, values.get("email"))
    digest = values.get("email_digest") or ""
    # Someone may erase the row between the insert and the look-up: then insert again.
    for _attempt in range(3):
        # The stored row comes back from the insert itself: no read after it.
        if (inserted := insert_new_record(Signup, values)) is not None:
            return inserted, INSERTED
        if (again := find_by_key(Signup, values.get("idempotency_key"))) is not None:
            return again, SENT_BEFORE
        # A sign-up without a digest (sealed, from a file keyed otherwise) is no one's twin.
        same_person = or_(
            Signup.uuid == values["uuid"],
            and_(Signup.event_id == values["event_id"], Signup.email_digest == digest)
            if digest
            else false(),
        )
        earlier = db.session.scalar(
            select(Signup)
            .where(same_person)
            # The same record first (its UUID), then the person's earliest sign-up.
            .order_by(case((Signup.uuid == values["uuid"], 0), else_=1), Signup.id)
            .limit(1)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if earlier is not None:
            return earlier, MERGED if merge(earlier) else UNCHANGED
    raise RuntimeError("a sign-up neither inserted nor found three times over")


def signups_of(event: Event) -> list[Signup]:
    return list(
        db.session.scalars(select(Signup).where(Signup.event_id == event.id).order_by(Signup.id))
    )
