"""What the guard against drift reads in a content pack: its figures and its links.

A figure is a number as the pack shows it, in a canonical form so both languages meet:
"$3,000", "95%", "35,000" (also from the Korean "3만 5천"), "25,000,000" ("25 million",
"2,500만"), a year "2017", a date "2016-12-19", or an English number word ("two" is "2";
"hundreds", "thousands", "millions" stay words). A link is a web address, a bare domain
with a path, or an email address, without scheme, "www." or a trailing slash.
"""

import datetime as dt
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Keys whose values are no figure the visitor reads: versions are stored, not shown as facts.
NOT_SHOWN = {
    "meta.version",
    "meta.locale",
    "meta.language_name",
    "consent.version",
    "press.agreement.version",
    "org.phone_region",
}

WORD_NUMBERS = {
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "twenty": "20",
    "hundred": "hundreds",
    "hundreds": "hundreds",
    "thousand": "thousands",
    "thousands": "thousands",
    "million": "millions",
    "millions": "millions",
}

# ASCII only: a Korean particle right after an address ("...org로") is no part of it.
EMAIL = re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
URL = re.compile(
    r"(?:https?://)?(?:[A-Za-z0-9-]+\.)+(?:org|com|net|kr|uk|io)\b(?:/[A-Za-z0-9_.~%/?=&+-]*)?",
    re.I,
)
KOREAN_MAN = re.compile(r"(\d[\d,]*)\s*만(?:\s*(\d+)\s*천)?")
MILLION = re.compile(r"(\d[\d,]*)\s+million", re.I)
NUMBER = re.compile(r"\$?\d[\d,]*(?:\.\d+)?%?")
WORD = re.compile(r"\b(" + "|".join(WORD_NUMBERS) + r")\b", re.I)


def _digits(text: str) -> int:
    return int(text.replace(",", ""))


def _number(token: str) -> str:
    """ "$3000" and "$3,000" alike: thousands separated, the sign and percent kept; a bare
    number of up to four digits stays as written (a year such as 1951)."""
    token = token.rstrip(",.")
    sign = "$" if token.startswith("$") else ""
    percent = "%" if token.endswith("%") else ""
    whole, dot, rest = token.strip("$%").partition(".")
    plain = not sign and "," not in whole and len(whole) <= 4
    number = whole if plain else f"{_digits(whole):,}"
    return f"{sign}{number}{dot}{rest}{percent}"


def links_in(text: str) -> Iterator[str]:
    for email in EMAIL.findall(text):
        yield email.lower()
    text = EMAIL.sub(" ", text)
    for url in URL.findall(text):
        yield normal_link(url)


def normal_link(url: str) -> str:
    url = re.sub(r"^https?://", "", url.strip(), flags=re.I)
    url = re.sub(r"^www\.", "", url, flags=re.I)
    return url.rstrip("/.").lower()


def figures_in(text: str) -> Iterator[str]:
    text = EMAIL.sub(" ", text)
    text = URL.sub(" ", text)
    for match in KOREAN_MAN.finditer(text):
        yield f"{_digits(match[1]) * 10_000 + int(match[2] or 0) * 1_000:,}"
    text = KOREAN_MAN.sub(" ", text)
    for match in MILLION.finditer(text):
        yield f"{_digits(match[1]) * 1_000_000:,}"
    text = MILLION.sub(" ", text)
    for token in NUMBER.findall(text):
        yield _number(token)
    for word in WORD.findall(text):
        yield WORD_NUMBERS[word.lower()]


def _values(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _values(value, f"{key}.{name}" if key else name)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value, key)
    else:
        yield key, node


def pack_facts(path: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The figures and links a pack file shows, each with the keys that show it."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    figures: dict[str, set[str]] = {}
    links: dict[str, set[str]] = {}
    for key, value in _values(data):
        if key in NOT_SHOWN:
            continue
        if isinstance(value, dt.date):
            figures.setdefault(value.isoformat(), set()).add(key)
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            found = f"${value:,}" if key == "org.rescue_cost" else _number(str(value))
            figures.setdefault(found, set()).add(key)
        elif isinstance(value, str):
            for link in links_in(value):
                links.setdefault(link, set()).add(key)
            if key.startswith("links.") and key.endswith(".url"):
                continue
            for figure in figures_in(value):
                figures.setdefault(figure, set()).add(key)
    return figures, links
