"""What every personal record shares: clean input, consent, and saving exactly once.

Sign-ups, pledges and questions all arrive from a form a visitor may tap twice or
resend after a flaky Wi-Fi moment. Each carries an idempotency key (one per rendered
form); the database's unique constraint on it, not a pre-check alone, makes a second
arrival return the first record instead of creating another.
"""

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import TypeVar
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kiosk.content import current_content
from kiosk.emails import canonical_email
from kiosk.extensions import db
from kiosk.models import ConsentMixin, ExportMarks, PersonalRecord, utcnow
from kiosk.parsing import NotANumber, clean_text, parse_cents, parse_whole
from kiosk.services import sealing

IDEMPOTENCY_KEY = re.compile(r"^[0-9a-f]{32}$")

Record = TypeVar("Record", bound=PersonalRecord)


class InvalidInput(Exception):
    """Form input that cannot be stored, with one message per field at fault."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class Checker:
    """Collects cleaned values and per-field errors, then raises them all at once."""

    def __init__(self, *, sealed_emails: bool = False) -> None:
        self.errors: dict[str, str] = {}
        # An import's file carries emails sealed where they were typed (and checked) with
        # their digests; a form never does: there, text that looks sealed is checked as typed.
        self.sealed_emails = sealed_emails

    def text(
        self, field: str, value: str | None, limit: int, *, required: str = "", multiline=False
    ) -> str:
        if sealing.is_sealed(value):
            return value or ""  # sealed where it was typed (and checked): kept as it is
        cleaned = clean_text(value, multiline=multiline)
        if required and not cleaned:
            self.errors[field] = required
        elif len(cleaned) > limit:
            self.errors[field] = _("Please keep this under %(limit)d characters.", limit=limit)
        return cleaned

    def email(self, field: str, value: str | None, *, required: bool) -> str:
        if self.sealed_emails and sealing.is_sealed(value):
            return value or ""  # sealed where it was typed (and checked): kept as it is
        # Full-width letters and ＠ are the ASCII ones they show (canonical_email).
        cleaned = clean_text(unicodedata.normalize("NFKC", value or ""))
        if not cleaned:
            if required:
                self.errors[field] = _("Please enter your email address.")
            return ""
        try:
            # Offline: syntax only, no DNS look-up at the table.
            checked = validate_email(cleaned, check_deliverability=False)
        except EmailNotValidError:
            self.errors[field] = _(
                "This doesn’t look like an email address, e.g. name@example.com."
            )
            return cleaned
        # One form, so the same person typed twice (or in punycode) is recognised as one.
        return canonical_email(checked.normalized)

    def money(self, field: str, value: str | None, low_cents: int, high_cents: int) -> int:
        """Cents of an amount in dollars (kiosk.parsing.parse_cents); 0 when it is wrong."""
        try:
            return parse_cents(value, low_cents, high_cents)
        except NotANumber as problem:
            self.errors[field] = str(problem)
            return 0

    def whole_number(self, field: str, value: str | None, low: int, high: int) -> int:
        """A whole number from low to high (kiosk.parsing.parse_whole); 0 when it is wrong."""
        try:
            return parse_whole(value, low, high)
        except NotANumber as problem:
            self.errors[field] = str(problem)
            return 0

    def day(self, field: str, value: str | None) -> date | None:
        """A date typed as YYYY-MM-DD (a date field's own format), or None when empty."""
        text = clean_text(value)
        if not text:
            return None
        try:
            if len(text) == len("YYYY-MM-DD"):
                return date.fromisoformat(text)
        except ValueError:
            pass
        self.errors[field] = _("Enter the date as YYYY-MM-DD.")
        return None

    def consent(self, field: str, given: bool, *, needed: bool, message: str = "") -> bool:
        if needed and not given:
            self.errors[field] = message or _("Please tick the box so we may email you.")
        return given

    def link(self, field: str, value: str | None, limit: int, *, required: str = "") -> str:
        """A web address; "example.com/me" gets https:// in front of it."""
        cleaned = self.text(field, value, limit, required=required)
        if not cleaned or field in self.errors:
            return cleaned
        address = _web_address(cleaned)
        if address is None:
            self.errors[field] = _("Please enter a web address, e.g. https://example.com.")
            return cleaned
        return address

    def links(self, field: str, value: str | None, limit: int, *, most: int) -> str:
        """Web addresses, one per line (spaces or commas between them work too)."""
        cleaned = self.text(field, value, limit, multiline=True)
        if not cleaned or field in self.errors:
            return cleaned
        found = [_web_address(part) for part in re.split(r"[\s,]+", cleaned) if part]
        if None in found:
            self.errors[field] = _("Please enter web addresses only, one per line.")
        elif len(found) > most:
            self.errors[field] = _("Please give at most %(most)d links.", most=most)
        return "\n".join(a for a in found if a) if field not in self.errors else cleaned

    def done(self) -> None:
        if self.errors:
            raise InvalidInput(self.errors)


def _web_address(text: str) -> str | None:
    """`text` as an http(s) address with a host name, or None if it is not one."""
    if " " in text or "\\" in text:
        return None
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        return None
    if parts.scheme not in ("http", "https") or "." not in host or host.startswith("."):
        return None
    return text


def clean_idempotency_key(value: str | None) -> str | None:
    """The form's key if it has the shape we hand out, else none (the record is still saved)."""
    value = (value or "").strip().lower()
    return value if IDEMPOTENCY_KEY.match(value) else None


def apply_consent(
    record: ConsentMixin, given: bool, wording: tuple[str, str] | None = None
) -> None:
    """Store the wording and version the person agreed to, and when: the pack's current
    mailing-list consent, or `wording` (version, text) when they agreed to another (an older
    paper sheet, a press request's interview guidelines)."""
    if not given:
        return
    pack = current_content()
    record.consent_version, record.consent_text = wording or (
        pack.consent_version,
        pack.consent_text,
    )
    record.consent_at = utcnow()


def mark_changed(record: ExportMarks) -> None:
    """Note that what the person gave changed: the record is in no export until the next.

    An increment in SQL, so two changes at once (two server processes) both count.
    """
    record.revision = type(record).revision + 1


def find_by_key(model: type[Record], key: str | None) -> Record | None:
    if key is None:
        return None
    return db.session.scalar(select(model).where(model.idempotency_key == key))


# Columns that say nothing of what the person typed: a resend may differ in them.
NOT_CONTENT = frozenset(
    {"id", "uuid", "idempotency_key", "event_id", "created_at", "updated_at", "revision"}
    | {"exported_revision", "kiosk_id", "locale", "source", "consent_version"}
    | {"consent_text", "consent_at"}
)


def typed_content(record: object) -> dict[str, object]:
    """What the person gave, as set on a new (unsaved) record."""
    columns = type(record).__table__.columns  # type: ignore[attr-defined]  # every model has one; `object` does not say so
    return {
        name: value
        for name, value in sa_inspect(record).dict.items()
        if name in columns and name not in NOT_CONTENT
    }


def same_content(stored: object, content: Mapping[str, object]) -> bool:
    """Whether a resend carries what is stored. A field still sealed (no key in use: a
    visitor's request) cannot be compared and counts as the same: such a resend is the
    stored record, as before changed resends were told apart (services/sealing.py)."""
    return all(
        isinstance(getattr(stored, name), sealing.Sealed) or getattr(stored, name) == value
        for name, value in content.items()
    )


def key_of_changed_resend(key: str, content: Mapping[str, object]) -> str:
    """The key of a resend whose form was changed before it was sent again (after a lost
    connection, say): its own record, and sent once more, that record again."""
    digest = hashlib.sha256(f"{key}\n{sorted(content.items())!r}".encode()).hexdigest()
    return digest[:32]


def save_once(record: Record, *, consent: bool, wording: tuple[str, str] | None = None) -> Record:
    """Commit a new record with its consent, once per idempotency key.

    A key already stored returns that record instead; the unique constraint catches the
    race the pre-check cannot (two waitress threads, the same double tap). A key stored
    with other content is a form changed before it was sent again: never thanked and
    dropped, it is stored as its own record (under a key made from both).
    """
    key = record.idempotency_key
    already = find_by_key(type(record), key)
    if key and already is not None and not same_content(already, content := typed_content(record)):
        key = record.idempotency_key = key_of_changed_resend(key, content)
        already = find_by_key(type(record), key)
    if already is not None:
        return already
    apply_consent(record, consent, wording)
    db.session.add(record)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        first = find_by_key(type(record), key)
        if first is None:
            raise
        return first
    return record
