"""A guard against drift: every figure and link the default pack shows comes from a seed.

tests/seed_facts.toml lists each figure and link with the seed file and line it comes from
(or, for the kiosk's own few, why it may be shown). The pack is checked against that list
always; the list is checked against the seeds themselves whenever they sit beside the clone
(../shared/seeds, as in CI), so an invented number fails here even without them.
"""

import datetime as dt
import re
import tomllib
from pathlib import Path

import pytest

from tests.seed_facts import figures_in, links_in, normal_link, pack_facts

HERE = Path(__file__).resolve().parent
SEEDS = HERE.parents[1] / "shared" / "seeds"
ALLOWED = tomllib.loads((HERE / "seed_facts.toml").read_text(encoding="utf-8"))


def allowed(kind: str) -> set[str]:
    return {entry["shown"] for entry in ALLOWED[kind]}


def unsupported(pack_file: Path) -> dict[str, list[str]]:
    """Each figure and link of a pack file missing from the allow-list, with its keys."""
    figures, links = pack_facts(pack_file)
    missing = {f: sorted(keys) for f, keys in figures.items() if f not in allowed("figures")}
    missing |= {k: sorted(keys) for k, keys in links.items() if k not in allowed("links")}
    return missing


@pytest.mark.parametrize("language", ["en", "ko"])
def test_every_figure_and_link_the_default_pack_shows_comes_from_a_seed(content_pack_dir, language):
    figures, links = pack_facts(content_pack_dir / f"{language}.toml")
    assert {"$3,000", "35,000", "95%", "2016-12-19"} <= set(figures)  # the reader reads them
    assert "rescueteams@libertyinnorthkorea.org" in links
    assert unsupported(content_pack_dir / f"{language}.toml") == {}


@pytest.mark.parametrize(
    ("edit", "invented"),
    [
        (lambda t: t.replace("more than 95% of its", "more than 97% of its"), "97%"),
        (lambda t: t.replace("$15 or more a month", "$20 or more a month"), "$20"),
        (lambda t: t.replace("More than 35,000 people", "More than 40,000 people"), "40,000"),
        (lambda t: t.replace("Military service takes", "Seven years of service take"), "7"),
        (lambda t: t.replace("date = 2013-06-06", "date = 2013-06-07"), "2013-06-07"),
        (
            lambda t: t.replace("email rescueteams@", "email press@connectnk.example.org or "),
            "press@connectnk.example.org",
        ),
        (
            lambda t: t.replace(
                'url = "https://www.libertyinnorthkorea.org/jobs/"',
                'url = "https://jobs.example.com/"',
            ),
            "jobs.example.com",
        ),
    ],
)
def test_an_invented_figure_or_link_fails_the_guard(copy_pack, edit, invented):
    assert list(unsupported(copy_pack(edit) / "en.toml")) == [invented]


def test_the_reader_meets_both_languages_in_one_form():
    assert list(figures_in("3만 5천 명, 2,500만 명, 25 million, $3000, 47%, nine, 1990s")) == [
        "35,000",
        "25,000,000",
        "25,000,000",
        "$3,000",
        "47%",
        "1990",
        "9",
    ]
    text = "rescueteams@libertyinnorthkorea.org로 메일을, https://www.libertyinnorthkorea.org/blog/"
    assert list(links_in(text)) == [
        "rescueteams@libertyinnorthkorea.org",
        "libertyinnorthkorea.org/blog",
    ]


def _seed_line(seed: str, line: int) -> str:
    [path] = SEEDS.glob(f"{seed}_*.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert 1 <= line <= len(lines), (seed, line)
    return lines[line - 1]


def _holds(kind: str, shown: str, text: str) -> bool:
    """Whether a seed line holds the figure or link itself, as the reader reads it."""
    if kind == "links":
        return shown in {*links_in(text), normal_link(text)} or shown in text.lower()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", shown):
        day = dt.date.fromisoformat(shown)
        pattern = rf"\b{day.day}(st|nd|rd|th) {day:%B}, {day.year}\b"
        return re.search(pattern, text) is not None
    return shown in set(figures_in(text))


@pytest.mark.parametrize("kind", ["figures", "links"])
def test_each_allowed_figure_and_link_cites_its_seed_line_or_says_why(kind):
    entries = ALLOWED[kind]
    assert len({e["shown"] for e in entries}) == len(entries), "one entry per figure"
    for entry in entries:
        assert set(entry) <= {"shown", "seed", "line", "quote", "reason"}, entry
        assert ("seed" in entry and "line" in entry and "quote" in entry) or entry.get("reason")
        assert "seed" not in entry or re.fullmatch(r"\d{3}", entry["seed"]), entry
    if not SEEDS.is_dir():  # the seeds are not beside this clone: the pack check still ran
        return
    for entry in (e for e in entries if "seed" in e):
        text = _seed_line(entry["seed"], entry["line"])
        assert entry["quote"].lower() in text.lower(), entry
        assert entry.get("reason") or _holds(kind, entry["shown"], text), entry
