"""The content pack: every visitor-facing text (opener, FAQ, Learn, links, tips) as TOML data.

A pack is a folder holding one `<locale>.toml` per language (or a single .toml file).
Every language in the folder is loaded and validated once at start-up; a mistake stops
the start with a message naming the file, the key and what is wrong, so a team never
finds a broken FAQ at the table. The languages must agree on their keys (choices, FAQ
slugs, links, interests), since tallies, QR codes and sign-ups are kept by key.
"""

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, has_request_context

from kiosk import hooks, i18n, phones

DEFAULT_PHONE_REGION = "US"


class ContentError(Exception):
    """A content pack that cannot be used, with the file and key at fault."""


@dataclass(frozen=True)
class Link:
    key: str
    label: str
    url: str
    tracked: bool


@dataclass(frozen=True)
class OpenerChoice:
    key: str
    label: str
    reframe: str
    fact: str


@dataclass(frozen=True)
class FaqGroup:
    key: str
    title: str


@dataclass(frozen=True)
class FaqEntry:
    slug: str
    group: str
    question: str
    short: str
    more: str


@dataclass(frozen=True)
class Way:
    key: str
    title: str
    text: str
    link: str
    # An interest of the sign-up form: the way is taken by signing up here with it chosen
    # ("Join the team": /signup?interest=team), not by a link that sends people away.
    interest: str = ""


@dataclass(frozen=True)
class Titled:
    """A quick tip (title, text), an interest (key, label)."""

    key: str = ""
    title: str = ""
    text: str = ""
    label: str = ""


@dataclass(frozen=True)
class Consent:
    """Wording a person agrees to, and its version: stored with what they send."""

    version: str
    text: str


@dataclass(frozen=True)
class LearnCard:
    """One idea of the human-rights picture: a figure, what it counts, whose figure it is."""

    key: str
    figure: str
    text: str
    source: str


@dataclass(frozen=True)
class Testimony:
    """A testimony summarised in the pack's own words, with where it was published."""

    key: str
    summary: str
    source: str
    page: str


@dataclass(frozen=True)
class Reading:
    """An article of the reading list: a title in the pack's words, its date, maybe a link."""

    title: str
    day: date
    link: str = ""


@dataclass(frozen=True)
class Learn:
    intro: str
    cards: list[LearnCard]
    testimonies: list[Testimony]
    reading_intro: str
    reading: list[Reading]
    more_link: str


@dataclass(frozen=True)
class PressSection:
    """A numbered part of the journalists' desk: a title and its points, in order."""

    key: str
    title: str
    points: list[str]


@dataclass(frozen=True)
class Press:
    """The journalists' desk: whose good practice it passes on (`guidance_from`, contacted
    directly, never through the team), the caution about painful questions, the team's own
    contact for questions about the team, and the guidelines' agreement."""

    guidance_from: str
    intro: str
    contact_direct: str
    caution: str
    team_contact: str
    sections: list[PressSection]
    agreement: Consent


@dataclass(frozen=True)
class ContentPack:
    path: Path
    locale: str
    language_name: str
    version: str
    org: dict[str, Any]
    links: dict[str, Link]
    opener_question: str
    opener_prompt: str
    opener_people_line: str
    choices: list[OpenerChoice]
    faq_groups: list[FaqGroup]
    faq_entries: list[FaqEntry]
    involved_intro: str
    follow: list[str]
    ways: list[Way]
    tips: list[Titled]
    consent: Consent
    interests: list[Titled]
    learn: Learn
    press: Press

    @property
    def consent_version(self) -> str:
        return self.consent.version

    @property
    def consent_text(self) -> str:
        return self.consent.text

    # Where a phone typed without a country code is from (kiosk.phones).
    phone_region: str = DEFAULT_PHONE_REGION

    @property
    def rescue_cost_cents(self) -> int:
        """What one rescue costs, in cents: the default of every event and of its goal."""
        return int(self.org["rescue_cost"]) * 100

    def choice(self, key: str) -> OpenerChoice | None:
        return next((c for c in self.choices if c.key == key), None)

    def faq_entry(self, slug: str) -> FaqEntry | None:
        return next((e for e in self.faq_entries if e.slug == slug), None)

    def faq_by_group(self) -> list[tuple[FaqGroup, list[FaqEntry]]]:
        return [(g, [e for e in self.faq_entries if e.group == g.key]) for g in self.faq_groups]


class _Reader:
    """Reads typed values out of the parsed TOML, naming file and key in every error."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    def fail(self, key: str, problem: str) -> ContentError:
        return ContentError(f"{self.path}: {key}: {problem}")

    def get(
        self, key: str, kind: type, node: dict[str, Any] | None = None, prefix: str = ""
    ) -> Any:
        node = self.data if node is None else node
        name = f"{prefix}{key}"
        current: Any = node
        for part in key.split("."):
            if not isinstance(current, dict) or part not in current:
                raise self.fail(name, "is missing")
            current = current[part]
        if not isinstance(current, kind) or (kind is int and isinstance(current, bool)):
            raise self.fail(name, f"must be {_KIND_NAMES.get(kind, kind.__name__)}")
        if kind is str and isinstance(current, str) and not current.strip():
            raise self.fail(name, "must not be empty")
        return current

    def table_list(self, key: str, fields: list[str], minimum: int = 1) -> list[dict[str, Any]]:
        items = self.get(key, list)
        if len(items) < minimum:
            raise self.fail(key, f"needs at least {minimum} entries, has {len(items)}")
        out = []
        for index, item in enumerate(items):
            prefix = f"{key}[{index}]."
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{index}]", "must be a table")
            out.append({f: self.get(f, str, item, prefix) for f in fields})
        return out

    def unique(self, key: str, items: list[dict[str, Any]], field_name: str) -> None:
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item[field_name] in seen:
                raise self.fail(f"{key}[{index}].{field_name}", f"{item[field_name]!r} is repeated")
            seen.add(item[field_name])


_KIND_NAMES = {
    str: "text",
    list: "a list",
    dict: "a table",
    int: "a whole number",
    bool: "true or false",
    date: "a date (YYYY-MM-DD, unquoted)",
}


def _read_links(reader: _Reader) -> dict[str, Link]:
    links = {}
    for key, raw in reader.get("links", dict).items():
        prefix = f"links.{key}."
        if not isinstance(raw, dict):
            raise reader.fail(f"links.{key}", "must be a table")
        url = reader.get("url", str, raw, prefix)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise reader.fail(f"{prefix}url", f"{url!r} is not an http(s) address")
        tracked = raw.get("tracked", False)
        if not isinstance(tracked, bool):
            raise reader.fail(f"{prefix}tracked", "must be true or false")
        links[key] = Link(key, reader.get("label", str, raw, prefix), url, tracked)
    return links


def _read_way_interests(reader: _Reader, ways: list[dict[str, Any]], known: set[str]) -> None:
    """Each way's optional `interest`, a key of [[interests]]."""
    raw = reader.get("involved.ways", list)
    for index, way in enumerate(ways):
        if "interest" in raw[index]:
            way["interest"] = reader.get("interest", str, raw[index], f"involved.ways[{index}].")
            if way["interest"] not in known:
                raise reader.fail(
                    f"involved.ways[{index}].interest",
                    f"{way['interest']!r} is not a known interest",
                )


def _check_refs(reader: _Reader, key: str, names: list[str], allowed: set[str], what: str) -> None:
    for index, name in enumerate(names):
        if name not in allowed:
            raise reader.fail(f"{key}[{index}]", f"{name!r} is not a known {what}")


def _read_learn(r: _Reader, links: dict[str, Link]) -> Learn:
    cards = r.table_list("learn.cards", ["key", "figure", "text", "source"])
    r.unique("learn.cards", cards, "key")
    testimonies = r.table_list("learn.testimonies", ["key", "summary", "source", "page"])
    r.unique("learn.testimonies", testimonies, "key")
    reading = []
    for index, item in enumerate(r.table_list("learn.reading", ["title"])):
        raw = r.get("learn.reading", list)[index]
        prefix = f"learn.reading[{index}]."
        day = r.get("date", date, raw, prefix)
        link = raw.get("link", "")
        if link:
            _check_refs(r, f"learn.reading[{index}].link", [link], set(links), "link")
        reading.append(Reading(title=item["title"], day=day, link=link))
    more_link = r.get("learn.more_link", str)
    _check_refs(r, "learn.more_link", [more_link], set(links), "link")
    return Learn(
        intro=r.get("learn.intro", str),
        cards=[LearnCard(**c) for c in cards],
        testimonies=[Testimony(**t) for t in testimonies],
        reading_intro=r.get("learn.reading_intro", str),
        reading=reading,
        more_link=more_link,
    )


def _read_press(r: _Reader, contact_email: str) -> Press:
    sections = []
    for index, item in enumerate(r.table_list("press.sections", ["key", "title"])):
        raw = r.get("press.sections", list)[index]
        prefix = f"press.sections[{index}]."
        points = r.get("points", list, raw, prefix)
        if not points or not all(isinstance(p, str) and p.strip() for p in points):
            raise r.fail(f"{prefix}points", "must be a list of texts, at least one")
        sections.append(PressSection(key=item["key"], title=item["title"], points=points))
    press = r.get("press", dict)
    team_contact = r.get("press.team_contact", str) if "team_contact" in press else contact_email
    return Press(
        guidance_from=r.get("press.guidance_from", str),
        intro=r.get("press.intro", str),
        contact_direct=r.get("press.contact_direct", str),
        caution=r.get("press.caution", str),
        team_contact=team_contact,
        sections=sections,
        agreement=Consent(
            r.get("press.agreement.version", str), r.get("press.agreement.text", str)
        ),
    )


def parse_pack(path: Path, data: dict[str, Any]) -> ContentPack:
    """Validate parsed TOML and turn it into a ContentPack."""
    r = _Reader(path, data)
    links = _read_links(r)
    choices = r.table_list("opener.choices", ["key", "label", "reframe", "fact"], minimum=6)
    if len(choices) > 8:
        raise r.fail("opener.choices", f"has {len(choices)} entries; the opener fits at most 8")
    r.unique("opener.choices", choices, "key")
    groups = r.table_list("faq.groups", ["key", "title"])
    r.unique("faq.groups", groups, "key")
    entries = r.table_list("faq.entries", ["slug", "group", "question", "short", "more"])
    r.unique("faq.entries", entries, "slug")
    _check_refs(
        r, "faq.entries", [e["group"] for e in entries], {g["key"] for g in groups}, "faq group"
    )
    ways = r.table_list("involved.ways", ["key", "title", "text", "link"])
    _check_refs(r, "involved.ways", [w["link"] for w in ways], set(links), "link")
    follow = r.get("involved.follow", list)
    _check_refs(r, "involved.follow", follow, set(links), "link")
    interests = r.table_list("interests", ["key", "label"])
    r.unique("interests", interests, "key")
    _read_way_interests(r, ways, {i["key"] for i in interests})
    rescue_cost = r.get("org.rescue_cost", int)
    contact_email = r.get("org.contact_email", str)
    phone_region = _phone_region(r)
    if rescue_cost <= 0:
        raise r.fail("org.rescue_cost", "must be more than 0")
    return ContentPack(
        path=path,
        locale=r.get("meta.locale", str),
        language_name=r.get("meta.language_name", str),
        version=r.get("meta.version", str),
        org={
            k: r.get(f"org.{k}", str)
            for k in ("name", "short_name", "team_name", "tagline", "contact_email")
        }
        | {"rescue_cost": rescue_cost},
        links=links,
        opener_question=r.get("opener.question", str),
        opener_prompt=r.get("opener.prompt", str),
        opener_people_line=r.get("opener.people_line", str),
        choices=[OpenerChoice(**c) for c in choices],
        faq_groups=[FaqGroup(**g) for g in groups],
        faq_entries=[FaqEntry(**e) for e in entries],
        involved_intro=r.get("involved.intro", str),
        follow=follow,
        ways=[Way(**w) for w in ways],
        tips=[Titled(**t) for t in r.table_list("tips", ["title", "text"])],
        consent=Consent(r.get("consent.version", str), r.get("consent.text", str)),
        interests=[Titled(**i) for i in interests],
        learn=_read_learn(r, links),
        press=_read_press(r, contact_email),
        phone_region=phone_region,
    )


def _phone_region(reader: _Reader) -> str:
    """org.phone_region, a region libphonenumber knows; the default when the pack has none."""
    org = reader.data.get("org")
    if not isinstance(org, dict) or "phone_region" not in org:
        return DEFAULT_PHONE_REGION
    region = reader.get("org.phone_region", str).strip().upper()
    if not phones.is_region(region):
        raise reader.fail("org.phone_region", f"{region!r} is not a region code such as US or KR")
    return region


def pack_file(location: Path, locale: str) -> Path:
    """The TOML file of a pack for a locale: the folder's `<locale>.toml`, or the file itself."""
    return location / f"{locale}.toml" if location.is_dir() else location


def load_pack(location: str | Path, locale: str = "en") -> ContentPack:
    """Read and validate a content pack; raise ContentError naming what is wrong."""
    path = pack_file(Path(location), locale)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ContentError(f"{path}: the content pack file does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ContentError(f"{path}: not valid TOML: {error}") from None
    pack = parse_pack(path, data)
    if Path(location).is_dir() and pack.locale != locale:
        raise ContentError(f"{path}: meta.locale: is {pack.locale!r}, the file is {path.name}")
    return pack


# What must be the same in every language of a pack: tallies, QR codes and sign-ups keep keys.
_SHARED_KEYS = {
    "opener.choices": lambda p: [c.key for c in p.choices],
    "faq.entries": lambda p: [e.slug for e in p.faq_entries],
    "faq.groups": lambda p: [g.key for g in p.faq_groups],
    "links": lambda p: sorted(p.links),
    "interests": lambda p: [i.key for i in p.interests],
    "involved.ways": lambda p: [w.key for w in p.ways],
}


def _check_same_keys(default: ContentPack, other: ContentPack) -> None:
    for key, keys_of in _SHARED_KEYS.items():
        if keys_of(other) != keys_of(default):
            raise ContentError(
                f"{other.path}: {key}: the keys must be those of {default.path.name}, in its order"
                f" ({', '.join(keys_of(default))})"
            )


def load_packs(location: str | Path, default_locale: str) -> dict[str, ContentPack]:
    """Every language of a pack, the default first: a folder's `*.toml`, or one file."""
    location = Path(location)
    default = load_pack(location, default_locale)
    packs = {default.locale: default}
    if location.is_dir():
        for path in sorted(location.glob("*.toml")):
            if path.stem != default_locale:
                pack = load_pack(location, path.stem)
                _check_same_keys(default, pack)
                packs[pack.locale] = pack
    return packs


def init_app(app: Flask) -> None:
    packs = load_packs(app.config["KIOSK_CONTENT"], app.config["KIOSK_LOCALE"])
    app.extensions["kiosk_packs"] = packs
    # The instance's own language (the first pack loaded): the default of every event
    # that names none, and the language of command-line work outside a request.
    app.extensions["kiosk_content"] = next(iter(packs.values()))

    @app.context_processor
    @hooks.for_everyone("the content pack of the locale, which is part of a kept screen's key")
    def inject_content() -> dict[str, Any]:
        return {"content": current_content()}


def current_content() -> ContentPack:
    """The pack in the language of this request (the instance's own outside a request)."""
    if has_request_context():
        return current_app.extensions["kiosk_packs"][i18n.current_locale()]
    return current_app.extensions["kiosk_content"]


def default_content() -> ContentPack:
    """The pack in the instance's language (KIOSK_LOCALE), whoever is asking."""
    return current_app.extensions["kiosk_content"]
