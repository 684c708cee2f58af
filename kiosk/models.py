"""The kiosk's records. Every record that can leave the machine carries a UUID so
exports from several tablets of one event can be merged without duplicates."""

import datetime as dt
import secrets
import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    select,
    text,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator

from kiosk import clock
from kiosk.emails import canonical_email, digest_of_record, mailchimp_address
from kiosk.extensions import Model
from kiosk.sealed_text import PREFIX as SEALED_PREFIX
from kiosk.sealed_text import SealedText


def utcnow() -> datetime:
    return clock.now()


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_erasure_key() -> str:
    return secrets.token_hex(32)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no time zone, PostgreSQL may."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Event(Model):
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
    # No default here: services.events.new_event fills in the content pack's cost of a rescue.
    goal_cents: Mapped[int] = mapped_column(Integer)
    rescue_cost_cents: Mapped[int] = mapped_column(Integer)
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


class Tally(FromKiosk, Model):
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
    # Indexed: the retention's clock check reads the newest time (services/erasure.py)
    # at every start and /healthz; without it, every tap of the season.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    # Whether the team's hub acknowledged this tap (services/sync.py); a tap never changes.
    hub_sent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

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
    # The revision a table last sent to its team's hub (services/sync.py), acknowledged by
    # the hub: the record waits to be sent while the two differ. A fact about the record, so
    # a sync cut anywhere resumes with exactly what the hub has not acknowledged.
    hub_revision: Mapped[int | None] = mapped_column(Integer)


class PersonalRecord(ConsentMixin, ExportMarks, FromKiosk, Model):
    """What every record holding a person's data has: its UUID, its event, the person's email
    (always in the one canonical form), the idempotency key of the form that sent it, when
    it was made, consent, export marks and the kiosk that made it.

    Erasure, export marks, tombstones and retention go over PERSONAL_MODELS and rely only on
    these. Abstract, not a table: each kind keeps its own table, columns, constraints and
    index names.
    """

    __abstract__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    # Sealed at rest (services/sealing.py); `email_digest` recognises the person without it.
    email: Mapped[str] = mapped_column(SealedText)
    # The digest of the canonical email under the event's erasure key (kiosk/emails.py): the
    # same value as the event's tombstone of the address (services/tombstones.py), "" without
    # an email. Set on every write (email_fields below).
    email_digest: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # One per rendered form: a form sent twice is stored once (services/records.save_once).
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    @declared_attr
    def event(cls) -> Mapped[Event]:
        return relationship(Event)

    @validates("email")
    def _canonical_email(self, _key: str, value: str | None) -> str:
        # Every stored email is in the one canonical form, however it was set: the erase
        # look-up, tombstones and the unique (event, email digest) index rely on it. A
        # sealed one was made canonical before it was sealed.
        if isinstance(value, str) and value.startswith(SEALED_PREFIX):
            return value
        return canonical_email(value)


class Signup(PersonalRecord):
    __tablename__ = "signup"
    # One sign-up per person per event, whichever tablet or server process stores it: the
    # database refuses a second row and services/signups.insert_or_merge merges it instead.
    # A record without a digest (a sealed email from a file keyed otherwise) is no one's twin.
    __table_args__ = (
        Index(
            "uq_signup_event_email",
            "event_id",
            "email_digest",
            unique=True,
            sqlite_where=text("email_digest <> ''"),
            postgresql_where=text("email_digest <> ''"),
        ),
    )

    KIOSK = "kiosk"
    VOLUNTEER = "volunteer"

    # Whether Mailchimp would refuse the address (exports.not_for_mailchimp), known when it
    # was written: the sealed address cannot be read without the lead's key.
    mailchimp_refuses: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # An index of its own: uq_signup_event_email leads with it but holds only the sign-ups
    # with a digest (partial), so a query by event alone could not use it.
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    # Sealed at rest (services/sealing.py): the lengths are the form's (services/signups.py).
    first_name: Mapped[str] = mapped_column(SealedText)
    last_name: Mapped[str] = mapped_column(SealedText, default="")
    phone: Mapped[str] = mapped_column(SealedText, default="")
    organisation: Mapped[str] = mapped_column(SealedText, default="")
    # Interest keys from the content pack, comma-separated: portable and exportable.
    interests: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(12), default=KIOSK)
    # The language the person signed up in, so the team can write back in it ("" unknown).
    locale: Mapped[str] = mapped_column(String(12), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )
    # The revision last written into a Mailchimp file: "only new since the last Mailchimp
    # export" without touching what the sign-ups CSV exported.
    mailchimp_revision: Mapped[int | None] = mapped_column(Integer)


class Pledge(PersonalRecord):
    __tablename__ = "pledge"

    ONCE = "once"
    MONTHLY = "monthly"

    kind: Mapped[str] = mapped_column(String(10), default=ONCE)
    amount_cents: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(SealedText, default="")
    # Optional here: the person may leave it out.
    email: Mapped[str] = mapped_column(SealedText, default="")


class Question(PersonalRecord):
    __tablename__ = "question"

    text: Mapped[str] = mapped_column(SealedText)
    # Optional here: the person may leave it out.
    email: Mapped[str] = mapped_column(SealedText, default="")
    answered: Mapped[bool] = mapped_column(Boolean, default=False)


class PressRequest(PersonalRecord):
    """A journalist's request to the team, read by its lead; `recipient` names whom it was
    addressed to (the team's name; older requests may name another organisation). Its
    consent columns hold the interview guidelines' wording and version the journalist
    agreed to."""

    __tablename__ = "press_request"

    # Sealed at rest (services/sealing.py), like every field the journalist typed.
    name: Mapped[str] = mapped_column(SealedText)
    outlet: Mapped[str] = mapped_column(SealedText, default="")
    website: Mapped[str] = mapped_column(SealedText, default="", server_default="")
    # Links to past work, one per line.
    past_work: Mapped[str] = mapped_column(SealedText, default="", server_default="")
    commissioned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    outline: Mapped[str] = mapped_column(SealedText, default="", server_default="")
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    # Questions or topics.
    message: Mapped[str] = mapped_column(SealedText, default="")
    recipient: Mapped[str] = mapped_column(String(160), default="", server_default="")
    locale: Mapped[str] = mapped_column(String(12), default="", server_default="")
    handled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


# Every kind of record that holds a person's data: erasure, export marks, tombstones and
# retention go over these, so a new kind is covered by adding it here.
PERSONAL_MODELS: tuple[type[PersonalRecord], ...] = (Signup, Pledge, Question, PressRequest)


def email_fields(model: type["PersonalRecord"], key: str | None, email: str | None) -> dict:
    """What a record keeps about its clear email besides the sealed address itself: its
    digest under the event's key (kiosk/emails.py) and, for a sign-up, whether Mailchimp
    would refuse it (the lead's "N not sent to Mailchimp" counts without opening a record).
    Every write sets them: the ORM through _email_fields below, Core inserts by calling this."""
    fields: dict[str, object] = {"email_digest": digest_of_record(key, email)}
    if model is Signup:
        fields["mailchimp_refuses"] = bool(email) and mailchimp_address(email or "") is None
    return fields


@event.listens_for(Session, "before_flush")
def _email_fields(session: Session, _context: object, _instances: object) -> None:
    """Every personal record written through the ORM carries its email's digest."""
    with session.no_autoflush:
        for record in [*session.new, *session.dirty]:
            if not isinstance(record, PersonalRecord):
                continue
            changed = sa_inspect(record).attrs.email.history.has_changes()
            if record not in session.new and not changed:
                continue
            email = record.email or ""
            if email.startswith(SEALED_PREFIX):
                continue  # arrived sealed, with its digest
            key = (
                session.scalar(select(Event.erasure_key).where(Event.id == record.event_id))
                if record.event_id is not None
                else getattr(record.event, "erasure_key", None)
            )
            for name, value in email_fields(type(record), key, email).items():
                setattr(record, name, value)


class Tombstone(Model):
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


class AuditEntry(Model):
    """What the team lead (or the machine) did with people's data, and when."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(500), default="")
    actor: Mapped[str] = mapped_column(String(60), default="")


class Setting(Model):
    """A setting the team lead changes at run time (PIN hash, idle timeout, ...)."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Generation(Model):
    """How often what the visitor screens show has changed: kiosk/page_cache.py.

    One row per kind of change ("tallies", "setup"), bumped in the same transaction as the
    change itself, so every server process on the database sees a new value the moment the
    change is committed, and never keeps a page rendered from what came before.
    """

    __tablename__ = "generation"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    # Each PostgreSQL connection bumps its own shard (the processes of a hub never queue on
    # one row); the generation is the sum of its shards.
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class CounterRow:
    """A count kept as records arrive (kiosk/services/counts.py): the database's triggers add
    to it and take from it in the transaction that writes the record. Each PostgreSQL
    connection writes its own `shard`; a count is the sum of its shards' `value`s."""

    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class TallyCount(CounterRow, Model):
    """Taps of an event by kind and key: the opener chart, the FAQ tallies, conversations."""

    __tablename__ = "tally_count"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)


class RecordCount(CounterRow, Model):
    """Sign-ups, pledges and questions of an event by the kiosk that made them."""

    __tablename__ = "record_count"

    # `kind` is the record's table ("signup", "pledge", "question"); `kiosk_id` is "" for
    # records made before kiosk ids.
    kiosk_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)  # pledges' sum, else 0
    # The lowest id counted here: the order in which each kiosk's records first arrived.
    first_id: Mapped[int | None] = mapped_column(Integer)


class HourCount(CounterRow, Model):
    """Sign-ups and conversations of an event per 15 minutes (UTC, since 1970): any local
    hour, whole or half-hour time zone, is a sum of whole buckets."""

    __tablename__ = "hour_count"

    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)


class KnownDevice(Model):
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


class LeadSession(Model):
    """A team lead's login, kept server-side so logout and expiry really end it."""

    __tablename__ = "lead_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VolunteerUnlock(Model):
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


class PinThrottle(Model):
    """Wrong volunteer PINs typed on one client (tablet): counted atomically in the database,
    so every server process and thread sees one count."""

    __tablename__ = "pin_throttle"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    # PINs checked in this round; a round ends at the right PIN or at a lockout's end.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Lockouts in a row since the last right PIN: each one lasts twice the one before.
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TeamPage(FromKiosk, Model):
    """One saved version of the team's own page ("Our team": services/team.py).

    Every save adds a version; none is changed afterwards. A version travels in the event's
    bundle and join file by its UUID, so importing it twice stores it once. The page shown is
    the version with the highest `revision` (ties: the highest UUID, the same choice on every
    kiosk). A save's revision is one more than the highest this kiosk holds, its own or
    imported, so an edit made after seeing another kiosk's version always wins over it: a
    count, never a clock.
    """

    __tablename__ = "team_page"
    __table_args__ = (Index("ix_team_page_revision_uuid", "revision", "uuid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    revision: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120), default="")
    fundraising_url: Mapped[str] = mapped_column(String(300), default="")
    goal_cents: Mapped[int | None] = mapped_column(Integer)
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    signup_url: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    events: Mapped[list["TeamEvent"]] = relationship(
        order_by="TeamEvent.position", cascade="all, delete-orphan", passive_deletes=True
    )


class TeamEvent(Model):
    """One of the team's next events on a version of its page: a day, a place, a line of
    text in each language the kiosk speaks."""

    __tablename__ = "team_event"
    __table_args__ = (UniqueConstraint("team_page_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_page_id: Mapped[int] = mapped_column(ForeignKey("team_page.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    day: Mapped[dt.date] = mapped_column(Date)
    place: Mapped[str] = mapped_column(String(160), default="")
    # The line of text per language (a content pack's locale): {"en": "...", "ko": "..."}.
    texts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class CheckBudget(Model):
    """The secret checks a kiosk allows per hour from every address together: one row per
    check a window holds (kiosk/services/budget.py), so the table never grows."""

    __tablename__ = "check_budget"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    # When this slot's last check was made; free again a window later.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HubTable(Model):
    """On the team's hub: a table (a kiosk of its own) allowed to send records to it.

    The table holds a random token (in its join code); only the token's SHA-256 is kept.
    The token may add records to `events` (event UUIDs) only and reads nothing personal
    (kiosk/hub.py). Revoking it refuses the table from then on.
    """

    __tablename__ = "hub_table"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The UUIDs of the events the table may add records to.
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Shown on the hub's dashboard, never compared.
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Records the table sent (each chunk's count, resent ones included) and chunks taken.
    records_received: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    chunks_received: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
