"""The one form of an email address the kiosk stores, compares, hashes and exports.

Below the models and the services: a record's email validator (models.py) and every service
that looks a person up by email use the same function.
"""

import contextlib
import functools
import hashlib
import os
import re
import threading
import unicodedata

import idna
import nacl.pwhash

from kiosk.parsing import clean_text

# Text canonical_email returns as it is: printable ASCII without space or capital letter
# (clean_text, lower() and NFC leave it alone), with no IDNA "xn--" label and no trailing dot
# (the only things the domain's IDNA form changes in ASCII). tests/test_records.py checks it.
_ALREADY_CANONICAL = re.compile(r"[!-@\[-~]+")
_CHANGED_BY_IDNA = re.compile(r"xn--|\.$")


def canonical_email(value: str | None) -> str:
    """The one form of an email address the kiosk stores, compares, hashes and exports.

    Trimmed and cleaned like any text, NFC, lower case, and the domain in one IDNA form
    (Unicode labels: "xn--bcher-kva.de" and "BU\u0308CHER.de" both become "bücher.de"). The
    same-email merge, the erase look-up, tombstones and the Mailchimp file all use it, and
    the unique index on (event, email) relies on every stored address being in this form.
    Not a validator: an address that is not one comes back cleaned and lower-cased.
    """
    if value and value.startswith("nacl1:"):
        return value  # sealed (kiosk/sealed_text.py): made canonical before it was sealed
    if value and _ALREADY_CANONICAL.fullmatch(value) and not _CHANGED_BY_IDNA.search(value):
        return value  # nothing would change it: nearly every stored address, in an export
    return canonical_email_in_full(value)


def canonical_email_in_full(value: str | None) -> str:
    """canonical_email without its shortcut for text already in the one form."""
    # NFKC first: a full-width address ("ａｎａ＠bücher.de", an East Asian keyboard) is
    # the same person as the one typed in ASCII, and one Mailchimp can deliver to.
    text = unicodedata.normalize("NFKC", clean_text(value)).lower()
    local, at, domain = text.rpartition("@")
    if at and domain:
        text = f"{local}@{_idna_domain(domain)}"
    # Lower-casing can decompose a letter (İ -> i + combining dot): normalised once more.
    return clean_text(unicodedata.normalize("NFKC", text))


@functools.lru_cache(maxsize=1024)
def _idna_domain(domain: str) -> str:
    """A domain in one IDNA form; one that IDNA can't read stays as typed. Cached: a file of
    10,000 people holds a handful of domains, and IDNA is most of an address's checking."""
    with contextlib.suppress(idna.IDNAError, UnicodeError, ValueError):
        return idna.decode(idna.encode(domain.rstrip("."), uts46=True))
    return domain


def mailchimp_address(email: str) -> str | None:
    """The address as Mailchimp takes it, or None when it cannot.

    Mailchimp refuses a local part (before the @) with letters outside ASCII; a domain in
    another script is written in its ASCII form (IDNA), which Mailchimp takes.
    """
    address = canonical_email(email)
    local, at, domain = address.rpartition("@")
    if not at or not local or not local.isascii():
        return None
    if domain.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


# ---- The email digest ------------------------------------------------------------------
#
# Emails are sealed at rest (services/sealing.py), so a person is recognised by a digest of
# their canonical address under their event's erasure key: the same person once per event
# (a unique index on the event and the digest), erasure by email, tombstones, merges and a
# table's sync. Writing needs no secret, so every kiosk of the event holds the key, and
# whoever takes a file holding it (kiosk.db, a backup, a bundle, a join file) can test a
# guessed address against the digests. The digest is therefore slow on purpose: Argon2id
# (libsodium) with the key in its salt, so each guess costs that much CPU and memory, per
# event (README, "Privacy": the cost per guess, measured). A kiosk pays it once per record
# it writes; imports and a table's sync carry the digest and do not pay it again.

DIGEST_PURPOSE = b"rescue-team-kiosk/email-digest/v2\x00"
DIGEST_OPSLIMIT = 2
DIGEST_MEMLIMIT = 8 * 1024 * 1024
# The test suite's own setting, for every kiosk it starts (served ones too): libsodium's least
# Argon2id, as its thousands of imported addresses would take minutes at the real cost. Every
# kiosk of a team must digest alike, so it is never a setting of a real kiosk.
CHEAP_FOR_TESTS = "KIOSK_TEST_SUITE_CHEAP_EMAIL_DIGESTS"
# At most two digests at once per process: each holds DIGEST_MEMLIMIT while it runs.
_DIGESTS_AT_ONCE = threading.BoundedSemaphore(2)


def digest_cost() -> tuple[int, int]:
    """Argon2id's (opslimit, memlimit) for the email digest."""
    if os.environ.get(CHEAP_FOR_TESTS) == "1":
        return nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN
    return DIGEST_OPSLIMIT, DIGEST_MEMLIMIT


def email_digest(key: str, canonical: str) -> str:
    """The digest of a canonical email under an event's key (64 hex digits)."""
    return argon2_digest(key, canonical, *digest_cost())


@functools.lru_cache(maxsize=256)
def argon2_digest(key: str, canonical: str, opslimit: int, memlimit: int) -> str:
    """email_digest at a given cost. Cached for a few hundred addresses in this process's
    memory (never on disk): an import asks for an address under each key it checks, and a
    form sent again asks again."""
    # The key as text: every kiosk writes it alike, and a malformed one still digests.
    salt = hashlib.blake2b(DIGEST_PURPOSE + key.encode("utf-8"), digest_size=16).digest()
    with _DIGESTS_AT_ONCE:
        raw = nacl.pwhash.argon2id.kdf(
            32, canonical.encode("utf-8"), salt, opslimit=opslimit, memlimit=memlimit
        )
    return raw.hex()


def digest_of_record(key: str | None, email: str | None) -> str:
    """The digest a personal record keeps of its (clear) email: "" without one or a key."""
    canonical = canonical_email(email) if email else ""
    if not canonical or not key or canonical.startswith("nacl1:"):
        return ""
    return email_digest(key, canonical)
