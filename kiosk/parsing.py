"""Reading numbers people type, and writing money back: the one place for both.

Every money amount, whole number and record id that arrives as text (a visitor's pledge,
the lead's forms, an id in an address, a command's option) goes through these parsers:
bounded length, ASCII digits only once full-width forms ("３０００", typed with an East
Asian keyboard) are read as the digits they show, never a float, and a message that says
what would be right. Superscripts, other scripts' digits, signs, exponents, "inf" and
"NaN" are not numbers here.

Text people type is cleaned here too (clean_text), below the models and the services that
store it.
"""

import re
import unicodedata
from typing import Any

from flask_babel import gettext as _
from werkzeug.routing import BaseConverter, ValidationError

# Control characters (Cc) and bidirectional overrides can hide or reorder text in an
# export; zero-width joiners (Cf) stay, since emoji and some scripts need them.
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_WHITESPACE = re.compile(r"\s+")
_SURROGATES = re.compile("[\ud800-\udfff]")
# Full-width ASCII (U+FF01-U+FF5E) as the ASCII it stands for, and the ideographic space.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_DIGITS = frozenset("0123456789")

# Longer text is refused before any conversion: "1,000,000,000.00" is 16 characters.
MONEY_MAX_CHARS = 20
WHOLE_MAX_CHARS = 12
# The largest id both engines store in an INTEGER column (PostgreSQL's is 32-bit).
ID_MAX = 2**31 - 1
ID_MAX_DIGITS = len(str(ID_MAX))


class NotANumber(ValueError):
    """Text that is not the number asked for; `str()` of it is the message to show.

    `problem` says why: FORMAT (not a number of that kind), TOO_SMALL or TOO_LARGE, so a
    form that speaks to visitors can word it its own way.
    """

    FORMAT = "format"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def normalise(text: str | None) -> str:
    """`text` with full-width characters as ASCII and surrounding spaces gone."""
    return (text or "").translate(_FULL_WIDTH).strip()


def _ascii_digits(text: str) -> bool:
    return bool(text) and all(char in _DIGITS for char in text)


def parse_cents(text: str | None, low_cents: int, high_cents: int) -> int:
    """Cents in an amount of dollars: "25", "25.5", "$1,250.50", "３０００".

    Commas must group thousands; at most two decimals. Raises NotANumber when the text is
    not such an amount or lies outside low_cents..high_cents.
    """
    raw = normalise(text)
    if len(raw) > MONEY_MAX_CHARS:
        raise NotANumber(NotANumber.FORMAT, _money_format())
    raw = raw.removeprefix("$").lstrip()
    whole, _dot, fraction = raw.partition(".")
    groups = whole.split(",")
    grouped = len(groups) == 1 or (
        1 <= len(groups[0]) <= 3 and all(len(group) == 3 for group in groups[1:])
    )
    digits = "".join(groups)
    if not (grouped and _ascii_digits(digits) and len(fraction) <= 2):
        raise NotANumber(NotANumber.FORMAT, _money_format())
    if _dot and not _ascii_digits(fraction):
        raise NotANumber(NotANumber.FORMAT, _money_format())
    cents = int(digits) * 100 + int(fraction.ljust(2, "0") or "0")
    if cents < low_cents:
        raise NotANumber(
            NotANumber.TOO_SMALL,
            _("Enter an amount of at least %(low)s dollars.", low=amount_text(low_cents)),
        )
    if cents > high_cents:
        raise NotANumber(
            NotANumber.TOO_LARGE,
            _("Enter an amount of at most %(high)s dollars.", high=f"{high_cents // 100:,}"),
        )
    return cents


def _money_format() -> str:
    return _("Enter an amount in dollars, like 3000 or 25.50.")


def parse_whole(text: str | None, low: int, high: int) -> int:
    """A whole number from low to high ("90", "９０"); NotANumber says the range otherwise."""
    raw = normalise(text)
    if len(raw) <= WHOLE_MAX_CHARS and _ascii_digits(raw) and low <= int(raw) <= high:
        return int(raw)
    problem = NotANumber.FORMAT
    if len(raw) <= WHOLE_MAX_CHARS and _ascii_digits(raw):
        problem = NotANumber.TOO_SMALL if int(raw) < low else NotANumber.TOO_LARGE
    message = _("Enter a whole number from %(low)d to %(high)d.", low=low, high=high)
    raise NotANumber(problem, message)


def parse_id(text: str | None) -> int:
    """A record id: a whole number from 1 to ID_MAX. NotANumber's problem tells apart text
    that is no id at all (FORMAT) from an id no record can have (TOO_SMALL, TOO_LARGE)."""
    raw = normalise(text)
    if not _ascii_digits(raw):
        raise NotANumber(NotANumber.FORMAT, _("This is not a record number."))
    if len(raw) > ID_MAX_DIGITS or int(raw) > ID_MAX:
        raise NotANumber(NotANumber.TOO_LARGE, _("There is no record with this number."))
    if int(raw) < 1:
        raise NotANumber(NotANumber.TOO_SMALL, _("There is no record with this number."))
    return int(raw)


class IdConverter(BaseConverter):
    """`<id:event_id>` in a route: 1 to 10 ASCII digits, at most ID_MAX; else a 404.

    Werkzeug's `int` takes any number of digits, and an id past the engine's INTEGER
    overflowed in the database driver: a 500 instead of "not found".
    """

    regex = rf"[0-9]{{1,{ID_MAX_DIGITS}}}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        try:
            return parse_id(value)
        except NotANumber:
            raise ValidationError() from None

    def to_url(self, value: Any) -> str:
        return str(int(value))


def amount_text(cents: int, *, always_cents: bool = False) -> str:
    """Cents as a person types dollars, for a form field ("4500", "2999.50"), or with
    `always_cents` as a spreadsheet column of amounts wants them ("4500.00")."""
    whole, rest = divmod(cents, 100)
    return f"{whole}.{rest:02d}" if rest or always_cents else str(whole)


def dollars(cents: int) -> str:
    """$1,234 or $1,234.50: how the kiosk shows money (the `dollars` template filter)."""
    whole, rest = divmod(cents, 100)
    return f"${whole:,}" + (f".{rest:02d}" if rest else "")


# ---- Text -----------------------------------------------------------------------------------


def clean_text(value: str | None, *, multiline: bool = False) -> str:
    """NFC, no control characters, whitespace tidied; newlines kept only in `multiline`.

    Every text a person types goes through here before it is stored or looked up: it is
    also where NUL (which PostgreSQL refuses in text) and lone surrogates (which are not
    UTF-8 at all) are taken out, so neither ever reaches the database.
    """
    value = unicodedata.normalize("NFC", without_unstorable(value or ""))
    kept = []
    for char in value:
        if char in "\r\n" and multiline:
            kept.append("\n" if char == "\n" else "")
        elif char in _BIDI_CONTROLS or unicodedata.category(char) == "Cc":
            kept.append(" " if char in "\t\r\n" else "")
        else:
            kept.append(char)
    if multiline:
        lines = [_WHITESPACE.sub(" ", line).strip() for line in "".join(kept).split("\n")]
        cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    else:
        cleaned = _WHITESPACE.sub(" ", "".join(kept)).strip()
    # Again: taking a character out can leave a letter and its accent side by side.
    return unicodedata.normalize("NFC", cleaned)


def without_unstorable(value: str) -> str:
    """`value` without what no database of the kiosk can store: NUL (PostgreSQL refuses it
    in text; SQLite would keep it, so both engines get the same) and lone surrogates (JSON
    can carry them; they are not UTF-8). Nothing else changes: for text read from files."""
    if "\x00" not in value and not _SURROGATES.search(value):
        return value
    return _SURROGATES.sub("", value.replace("\x00", ""))
