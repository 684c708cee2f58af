"""Tombstones: what stays of a person erased on request, so that no merge brings them back.

A tombstone is the email digest of kiosk/emails.py (Argon2id of the canonical email, the key
in its salt): no plaintext, without the key not even a guessed address can be tested against
it, and with the key each guess costs what the README's privacy section measures. It is the
very digest each record keeps of its (sealed) email, so a record arriving sealed is checked
against the tombstones without opening it. Tombstones made before emails were sealed are
HMAC-SHA256(key, canonical email) (`legacy_digest`): they still stop clear addresses.
Which key, is the design question: a tombstone made on kiosk B must be recognised by kiosk A
when A imports B's file, so the hash that travels must be one every kiosk holding the event
can compute.

- Each event has its own erasure key (Event.erasure_key), made with the event and carried
  with it: in the "event" part of its JSON bundle, so the kiosk that learns the event from
  a bundle gets it (and, with issue 11, in the file another kiosk joins the event with).
  Erasing a person writes one tombstone per event on this kiosk, keyed with that event's
  key; a bundle carries its event's tombstones as a set of digests. Any kiosk holding the
  event checks its own people and every later import against them.
- This kiosk's own key (a setting, never exported) makes one more tombstone per erased
  person. It covers events this kiosk learns about later (a tablet's old file of an event it
  never had), so this kiosk never takes the person back from any file.

Privacy, weighed: an event key lets whoever holds it test a guessed email against that
event's tombstones and records, one slow digest per guess. It travels inside that event's
JSON bundles and join files, whose other personal fields are sealed; what a guess reveals
is "this address signed up at (or was erased from) this event", and digests of different
events cannot be linked to each other without each key. The alternatives are worse: an
instance key that never travels cannot be checked by another kiosk at all (erasure would
not stick across tablets), and an unkeyed or team-wide salted hash is testable by anyone
holding any file and links a person across every event.

Each erasure is a request of its own (Tombstone.request, a fresh UUID): a person erased,
back at the table, then erased again leaves two. A kiosk applies each request it has not
seen, once, to whatever it holds of the person when it learns of it, and records the same
request (never a new one: a request of its own would travel back and erase a later sign-up
the person never asked to have erased). A bundle lists its event's requests beside the
digests; a file without them (made before requests had names) counts one request per digest.

What a tombstone cannot know (no clock decides anything here): whether a record of the
same email in an incoming file is old or a new sign-up made elsewhere after the erasure.
Erasure wins: the import skips it and says so ("1 erased person was not restored"). A
person who asks back in signs up again on the kiosk itself; the forms never consult
tombstones.
"""

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kiosk.emails import email_digest
from kiosk.extensions import db
from kiosk.models import Event, Setting, Tombstone, utcnow
from kiosk.services.atomic import dialect_insert

KIOSK_KEY_SETTING = "erasure_key"
# Names what the digest was for, so the same key could never yield it for anything else.
PURPOSE = b"rescue-team-kiosk/tombstone/v1\x00"


def digest(key: str, canonical: str) -> str:
    """The tombstone of a canonical email (emails.canonical_email) under a hex key: the
    digest records keep of their email (kiosk/emails.py)."""
    return email_digest(key, canonical)


def legacy_digest(key: str, canonical: str) -> str:
    """A tombstone as made before emails were sealed (fast: HMAC-SHA256)."""
    return hmac.new(bytes.fromhex(key), PURPOSE + canonical.encode(), hashlib.sha256).hexdigest()


def instance_key() -> str:
    """This kiosk's own erasure key: made at the first erasure, kept in the database.

    It commits when it makes the key, so call it before writing anything else. Two server
    processes may make it at once; the setting's primary key keeps the first one.
    """
    stored = db.session.get(Setting, KIOSK_KEY_SETTING)
    if stored is not None:
        return stored.value
    db.session.add(Setting(key=KIOSK_KEY_SETTING, value=secrets.token_hex(32)))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another process made it first: use theirs
    return db.session.get_one(Setting, KIOSK_KEY_SETTING, populate_existing=True).value


def legacy_request(digest_: str) -> str:
    """The request a tombstone without one stands for: the same name on every kiosk."""
    return digest_[:36]


def scopes_of(canonical: str, requests: Iterable[str]) -> list[dict[str, str]]:
    """The tombstones erasing `canonical` for `requests` leaves here: one per event and
    request, and this kiosk's."""
    keys = [(uuid, key) for uuid, key in db.session.execute(select(Event.uuid, Event.erasure_key))]
    keys.append((Tombstone.KIOSK, instance_key()))
    return [
        {"scope": scope, "digest": digest(key, canonical), "request": request}
        for scope, key in keys
        for request in requests
    ]


def store(rows: Iterable[dict[str, str]]) -> None:
    """Add tombstones (scope, digest, request); ones already here are left as they are."""
    stamped = [{**row, "created_at": utcnow()} for row in rows]
    if not stamped:
        return
    # Both engines say "insert unless already there" the same way; a tombstone that two
    # imports or two erasures write at once is stored once, by its unique constraint.
    insert = dialect_insert(db.engine.dialect.name)
    for start in range(0, len(stamped), 500):
        chunk = stamped[start : start + 500]
        db.session.execute(insert(Tombstone).values(chunk).on_conflict_do_nothing())


def digests_of(scope: str) -> set[str]:
    return set(db.session.scalars(select(Tombstone.digest).where(Tombstone.scope == scope)))


def requests_of(scope: str) -> set[tuple[str, str]]:
    """(digest, request) of every erasure request this kiosk holds under `scope`."""
    rows = db.session.execute(
        select(Tombstone.digest, Tombstone.request).where(Tombstone.scope == scope)
    )
    return {(d, request or legacy_request(d)) for d, request in rows}


def unseen(requests: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (digest, request) pairs whose request this kiosk has not applied yet."""
    names = sorted({request for _digest, request in requests})
    seen: set[str] = set()
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        seen.update(
            db.session.scalars(select(Tombstone.request).where(Tombstone.request.in_(chunk)))
        )
    return {(d, request) for d, request in requests if request not in seen}


class Checker:
    """Answers "was this person erased?" for one event's records, a hash or three each."""

    def __init__(self, event: Event, extra: tuple[str, set[str]] | None = None) -> None:
        # The event key of the file being read, if any: its records' email digests use it.
        self.file_key = extra[0] if extra is not None else None
        self.keyed = [
            (event.erasure_key, digests_of(event.uuid)),
            (instance_key(), digests_of(Tombstone.KIOSK)),
        ]
        if extra is not None and extra[0] != event.erasure_key:
            self.keyed.append(extra)  # a file whose event key differs: its own digests too

    def erased(self, canonical: str, email_digest: str = "") -> bool:
        """Whether the person was erased: by the record's email digest (a sealed email's
        only trace, the same value as its event's tombstone), or by the clear address."""
        if email_digest and any(email_digest in digests for _key, digests in self.keyed):
            return True
        if not canonical or canonical.startswith("nacl1:"):
            return False
        return any(
            digests
            and (digest(key, canonical) in digests or legacy_digest(key, canonical) in digests)
            for key, digests in self.keyed
        )
