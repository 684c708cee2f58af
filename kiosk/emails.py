"""The one form of an email address the kiosk stores, compares, hashes and exports.

Below the models and the services: a record's email validator (models.py) and every service
that looks a person up by email use the same function.
"""

import contextlib
import functools
import re
import unicodedata

import idna

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
        return value  # sealed (services/sealing.py): made canonical before it was sealed
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
