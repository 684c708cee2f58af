"""The kiosk's records. Every record that can leave the machine carries a UUID so
exports from several tablets of one event can be merged without duplicates."""

import datetime as dt
import secrets
import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from kiosk import clock
from kiosk.extensions import db


def utcnow() -> datetime:
    return clock.now()


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_erasure_key() -> str:
    return secrets.token_hex(32)


def stored_email(value: str | None) -> str:
    """Every email a record stores is in the one canonical form, however it was set: the
    erase look-up, tombstones and the unique (event, email) index rely on it."""
    from kiosk.services.records import canonical_email  # records imports this module

    return canonical_email(value)


def pack_rescue_cost_cents() -> int:
    """The content pack's cost of one rescue: an event's default goal and rescue cost."""
    from kiosk.content import current_content

    return current_content().rescue_cost_cents


class UTCDateTime(db.TypeDecorator):  # type: ignore[name-defined]
    """Stores naive UTC, returns aware UTC: SQLite keeps no time zone, PostgreSQL may."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Event(db.Model):  # type: ignore[name-defined]
    __tablename__ = "event"
    __table_args__ = (
        # Exactly one active event: the database refuses a second one.
        Index(
            "uq_event_one_active",
            "status",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    PLANNED = "planned"
    ACTIVE = "active"
    CLOSED = "closed"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(120))
    date: Mapped[dt.date | None] = mapped_column(Date)
    place: Mapped[str] = mapped_column(String(160), default="")
    goal_cents: Mapped[int] = mapped_column(Integer, default=pack_rescue_cost_cents)
    rescue_cost_cents: Mapped[int] = mapped_column(Integer, default=pack_rescue_cost_cents)
    tracking_source: Mapped[str] = mapped_column(String(80), default="")
    # The language a new visitor meets (a content pack's locale); none: the instance's.
    locale: Mapped[str | None] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12), default=PLANNED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the lead last exported personal data of the event: shown, never compared. What
    # is exported is a fact about each record (ExportMarks).
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Keys the tombstones of this event (services/tombstones.py). It travels with the event,
    # so every kiosk holding the event computes the same tombstone for the same person.
    erasure_key: Mapped[str] = mapped_column(String(64), default=new_erasure_key)

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.name!r} {self.status}>"


KIOSK_ID_SETTING = "kiosk_id"


class FromKiosk:
    """Which kiosk made the record: its kiosk id (services/identity.py), stored with the
    record when it is made, carried in the event's bundle and kept when another kiosk
    merges it, so a lead can count each kiosk's records. The INSERT itself reads this
    kiosk's id from its setting; NULL for records made before kiosks had ids."""

    kiosk_id: Mapped[str | None] = mapped_column(
        String(36),
        # A constant query (no value from outside), read by the database in the INSERT.
        default=text("(SELECT value FROM setting WHERE \"key\" = 'kiosk_id')"),
    )


class Tally(FromKiosk, db.Model):  # type: ignore[name-defined]
    """One anonymous tap: an opener answer, an FAQ open, a conversation."""

    __tablename__ = "tally"
    __table_args__ = (
        # The chart counts by key: with the key in the index it reads the index alone.
        Index("ix_tally_event_kind_key", "event_id", "kind", "key"),
        # A tap resent with its form's key (a retry after a timeout) is the same tap; NULLs
        # (taps from before keys, imported ones) never conflict.
        UniqueConstraint("idempotency_key", "kind", "key"),
    )

    OPENER = "opener"
    FAQ_OPEN = "faq_open"
    FAQ_MORE = "faq_more"
    CONVERSATION = "conversation"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(64))

    event: Mapped[Event] = relationship()


class ConsentMixin:
    """The wording a person agreed to, its version and when: stored with the record."""

    consent_version: Mapped[str | None] = mapped_column(String(40))
    consent_text: Mapped[str | None] = mapped_column(Text)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ExportMarks:
    """Whether a personal record is in an export, as a fact about the record itself.

    `revision` counts the record's versions: 1 when stored, +1 whenever what the person gave
    changes (a second sign-up, a merge). An export of the record's kind notes the revision it
    wrote into `exported_revision`; the record is exported while the two are equal. No clock
    is compared, so a kiosk clock that was wrong, or another tablet's, cannot make a record
    look exported; and a record merged in from another tablet arrives unexported.
    """

    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    exported_revision: Mapped[int | None] = mapped_column(Integer)


class Signup(ConsentMixin, ExportMarks, FromKiosk, db.Model):  # type: ignore[name-defined]
    __tablename__ = "signup"
    # One sign-up per person per event, whichever tablet or server process stores it: the
    # database refuses a second row and services/signups.insert_or_merge merges it instead.
    __table_args__ = (Index("uq_signup_event_email", "event_id", "email", unique=True),)

    KIOSK = "kiosk"
    VOLUNTEER = "volunteer"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80), default="")
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(40), default="")
    organisation: Mapped[str] = mapped_column(String(120), default="")
    # Interest keys from the content pack, comma-separated: portable and exportable.
    interests: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(12), default=KIOSK)
    # The language the person signed up in, so the team can write back in it ("" unknown).
    locale: Mapped[str] = mapped_column(String(12), default="", server_default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The revision last written into a Mailchimp file: "only new since the last Mailchimp
    # export" without touching what the sign-ups CSV exported.
    mailchimp_revision: Mapped[int | None] = mapped_column(Integer)

    event: Mapped[Event] = relationship()

    @validates("email")
    def _canonical_email(self, _key: str, value: str | None) -> str:
        return stored_email(value)


class Pledge(ConsentMixin, ExportMarks, FromKiosk, db.Model):  # type: ignore[name-defined]
    __tablename__ = "pledge"

    ONCE = "once"
    MONTHLY = "monthly"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default=ONCE)
    amount_cents: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[Event] = relationship()

    @validates("email")
    def _canonical_email(self, _key: str, value: str | None) -> str:
        return stored_email(value)


class Question(ConsentMixin, ExportMarks, FromKiosk, db.Model):  # type: ignore[name-defined]
    __tablename__ = "question"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(String(254), default="")
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[Event] = relationship()

    @validates("email")
    def _canonical_email(self, _key: str, value: str | None) -> str:
        return stored_email(value)


class PressRequest(ConsentMixin, ExportMarks, FromKiosk, db.Model):  # type: ignore[name-defined]
    """A journalist's request for an interview or information, for the organisation the
    content pack names (`recipient`). Its consent columns hold the interview guidelines'
    wording and version the journalist agreed to."""

    __tablename__ = "press_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254))
    outlet: Mapped[str] = mapped_column(String(160), default="")
    website: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # Links to past work, one per line.
    past_work: Mapped[str] = mapped_column(Text, default="", server_default="")
    commissioned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    outline: Mapped[str] = mapped_column(Text, default="", server_default="")
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    # Questions or topics.
    message: Mapped[str] = mapped_column(Text, default="")
    recipient: Mapped[str] = mapped_column(String(160), default="", server_default="")
    locale: Mapped[str] = mapped_column(String(12), default="", server_default="")
    handled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[Event] = relationship()

    @validates("email")
    def _canonical_email(self, _key: str, value: str | None) -> str:
        return stored_email(value)


# Every kind of record that holds a person's data: erasure, export marks, tombstones and
# retention go over these, so a new kind is covered by adding it here.
PERSONAL_MODELS: tuple[type[ExportMarks], ...] = (Signup, Pledge, Question, PressRequest)


class Tombstone(db.Model):  # type: ignore[name-defined]
    """What is left of a person erased on request: a keyed hash of their email, no plaintext.

    `scope` is the UUID of the event whose erasure key made the digest (it travels in that
    event's JSON bundles), or "kiosk" for this kiosk's own key (it never leaves the kiosk).
    `request` names the erasure request: a person erased twice (they came back in between)
    has two, and a kiosk applies each request it has not seen yet, once.
    """

    __tablename__ = "tombstone"
    __table_args__ = (UniqueConstraint("scope", "digest", "request"),)

    KIOSK = "kiosk"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(36))
    digest: Mapped[str] = mapped_column(String(64))
    request: Mapped[str] = mapped_column(String(36), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(db.Model):  # type: ignore[name-defined]
    """What the team lead (or the machine) did with people's data, and when."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(500), default="")
    actor: Mapped[str] = mapped_column(String(60), default="")


class Setting(db.Model):  # type: ignore[name-defined]
    """A setting the team lead changes at run time (PIN hash, idle timeout, ...)."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Generation(db.Model):  # type: ignore[name-defined]
    """How often what the visitor screens show has changed: kiosk/page_cache.py.

    One row per kind of change ("tallies", "setup"), bumped in the same transaction as the
    change itself, so every server process on the database sees a new value the moment the
    change is committed, and never keeps a page rendered from what came before.
    """

    __tablename__ = "generation"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class KnownDevice(db.Model):  # type: ignore[name-defined]
    """A browser the lead logged in from: exempt from the account-wide lockout.

    Its cookie is a random token; only the token's SHA-256 is kept. Every login from it
    renews the token (the old one stops working: a copied cookie dies at the lead's next
    login) and counts a renewal; it expires after MAX renewals or when many logins of the
    account went by without it: counts, never a comparison of wall-clock times.
    """

    __tablename__ = "known_device"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    renewals: Mapped[int] = mapped_column(Integer, default=0)
    # The account's login number when this device last logged in (lead_auth.login_number).
    last_login: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LeadSession(db.Model):  # type: ignore[name-defined]
    """A team lead's login, kept server-side so logout and expiry really end it."""

    __tablename__ = "lead_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VolunteerUnlock(db.Model):  # type: ignore[name-defined]
    """A tablet's open volunteer screen, kept server-side so "Lock" really ends it.

    The browser holds a random token in an HttpOnly cookie; only its SHA-256 is stored.
    """

    __tablename__ = "volunteer_unlock"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # A digest of the PIN hash it was opened with: a new PIN ends every unlock.
    pin_fingerprint: Mapped[str] = mapped_column(String(16))
    client: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last conversation this tablet counted, while it may still be taken back.
    undo_tally_uuid: Mapped[str | None] = mapped_column(String(36))


class PinThrottle(db.Model):  # type: ignore[name-defined]
    """Wrong volunteer PINs typed on one client (tablet): counted atomically in the database,
    so every server process and thread sees one count."""

    __tablename__ = "pin_throttle"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    # PINs checked in this round; a round ends at the right PIN or at a lockout's end.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Lockouts in a row since the last right PIN: each one lasts twice the one before.
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CheckBudget(db.Model):  # type: ignore[name-defined]
    """The secret checks a kiosk allows per hour from every address together: one row per
    check a window holds (kiosk/services/budget.py), so the table never grows."""

    __tablename__ = "check_budget"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    # When this slot's last check was made; free again a window later.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
