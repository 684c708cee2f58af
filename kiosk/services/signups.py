"""Mailing-list sign-ups: validate, normalise and store them, one record per person per event."""

from collections.abc import Iterable
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from kiosk.content import current_content
from kiosk.extensions import db
from kiosk.models import Event, Signup, utcnow
from kiosk.services import phones
from kiosk.services.events import event_taking_records
from kiosk.services.records import (
    Checker,
    apply_consent,
    canonical_email,
    clean_idempotency_key,
    find_by_key,
    mark_changed,
    save_once,
)

# Lengths fit the columns in models.Signup.
FIRST_NAME_MAX = 80
LAST_NAME_MAX = 80
PHONE_MAX = 40
ORGANISATION_MAX = 120
SOURCES = (Signup.KIOSK, Signup.VOLUNTEER)


def check_phone(checker: Checker, value: str | None) -> str:
    """The phone in E.164 (kiosk.services.phones), read in the content pack's region."""
    phone = checker.text("phone", value, PHONE_MAX)
    if not phone or "phone" in checker.errors:
        return phone
    try:
        return phones.normalise_phone(phone, current_content().phone_region)
    except phones.NotAPhone:
        checker.errors["phone"] = _(
            "This doesn’t look like a phone number. Use digits, spaces and + - ( ), with the "
            "country code if it isn’t local, e.g. +44 20 7946 0958."
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


def merge_interests(stored: str, added: Iterable[str]) -> str:
    keys = [k for k in stored.split(",") if k]
    return ",".join(keys + [k for k in added if k not in keys])


def find_signup(event: Event, email: str) -> Signup | None:
    """The first sign-up of this email at this event, if any (emails in their one form)."""
    return db.session.scalar(
        select(Signup)
        .where(Signup.event_id == event.id, Signup.email == canonical_email(email))
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
    consent_wording: tuple[str, str] | None = None,
) -> Signup:
    """Store a sign-up, or update this event's earlier one of the same email.

    Raises InvalidInput naming every field at fault. The visitor is thanked the same
    way either way, so the kiosk never reveals who signed up before. `consent_wording`
    (version, text): what a paper sheet printed, when it is not the pack's current one.
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
    check.consent("consent", consent, needed=True)
    check.done()
    if source not in SOURCES:
        raise ValueError(f"unknown sign-up source {source!r}")

    key = clean_idempotency_key(idempotency_key)
    if (already := find_by_key(Signup, key)) is not None:
        return already
    event = event_taking_records(event)
    chosen = known_interests(interests)
    earlier = find_signup(event, cleaned["email"])
    if earlier is not None:
        return _update(earlier, cleaned, chosen, consent_wording)
    signup = Signup(
        event_id=event.id, interests=",".join(chosen), source=source, idempotency_key=key, **cleaned
    )
    return save_once(signup, consent=consent, wording=consent_wording)


def _update(
    signup: Signup,
    cleaned: dict[str, str],
    interests: list[str],
    wording: tuple[str, str] | None = None,
) -> Signup:
    """Fill in what the second sign-up adds; never blank out what the first one gave."""
    for field, value in cleaned.items():
        if value and field != "email":
            setattr(signup, field, value)
    signup.interests = merge_interests(signup.interests, interests)
    apply_consent(signup, True, wording)
    signup.updated_at = utcnow()
    mark_changed(signup)  # the exported version of this sign-up is not this one any more
    db.session.commit()
    return signup


def signups_of(event: Event) -> list[Signup]:
    return list(
        db.session.scalars(select(Signup).where(Signup.event_id == event.id).order_by(Signup.id))
    )
