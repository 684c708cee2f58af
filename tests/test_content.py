"""The content pack: loaded, validated, and in the kiosk's own words."""

import re
from pathlib import Path

import pytest

from kiosk import create_app
from kiosk.content import ContentError, load_pack

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def test_the_default_pack_loads_with_every_question_of_the_guide(content_pack_dir):
    pack = load_pack(content_pack_dir)
    assert pack.locale == "en"
    assert 6 <= len(pack.choices) <= 8
    assert len(pack.faq_entries) == 18
    assert [c.key for c in pack.learn.cards] == ["detention", "forced-labour", "freedoms", "left"]
    assert [t.page for t in pack.learn.testimonies] == ["253", "54"]
    assert len(pack.learn.reading) == 8
    assert pack.press.guidance_from == "Connect: North Korea"
    assert pack.press.team_contact == pack.org["contact_email"]
    assert [s.key for s in pack.press.sections] == ["send", "time", "research", "guidelines"]
    assert {w.key for w in pack.ways} == {"join", "fundraise", "monthly", "jobs"}
    assert {"instagram", "x", "youtube", "blog"} <= set(pack.follow)
    assert pack.links["donate"].tracked and not pack.links["instagram"].tracked
    assert pack.org["rescue_cost"] == 3000


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('[meta]\nlocale = "en"', "[meta]"), "meta.locale: is missing"),
        (
            lambda t: t.replace('group = "about"', 'group = "nowhere"', 1),
            "'nowhere' is not a known faq group",
        ),
        (
            lambda t: t.replace('slug = "why-rescue-team"', 'slug = "what-we-do"'),
            "'what-we-do' is repeated",
        ),
        (
            lambda t: t.replace("https://fundraise.", "javascript://fundraise."),
            "is not an http(s) address",
        ),
        (
            lambda t: t.replace("rescue_cost = 3000", 'rescue_cost = "lots"'),
            "org.rescue_cost: must be a whole number",
        ),
        (
            lambda t: (
                t + '\n[[opener.choices]]\nkey = "x"\nlabel = "X"\nreframe = "r"\nfact = "f"\n'
            ),
            "at most 8",
        ),
        (
            lambda t: t.replace('link = "jobs"', 'link = "careers"'),
            "involved.ways[3]: 'careers' is not a known link",
        ),
        (lambda t: t.replace("[consent]", "[consent\n"), "not valid TOML"),
        (
            lambda t: t.replace("date = 2012-11-01", 'date = 2012-11-01\nlink = "nowhere"'),
            "learn.reading[7].link[0]: 'nowhere' is not a known link",
        ),
        (lambda t: t.replace("date = 2016-12-19", 'date = "last winter"'), "must be a date"),
        (lambda t: t.replace('version = "press-2026-12-v2"', ""), "press.agreement.version"),
        (
            lambda t: t.replace('title = "Timelines"\npoints = [', 'title = "Timelines"\nx = ['),
            "press.sections[1].points: is missing",
        ),
        (lambda t: t.replace('language_name = "English"', ""), "meta.language_name: is missing"),
    ],
)
def test_a_broken_pack_names_the_file_the_key_and_the_problem(copy_pack, edit, message):
    pack_dir = copy_pack(edit)
    with pytest.raises(ContentError) as error:
        load_pack(pack_dir)
    assert str(pack_dir / "en.toml") in str(error.value)
    assert message in str(error.value)


def test_a_missing_pack_file_is_a_clear_error(tmp_path):
    with pytest.raises(ContentError, match="does not exist"):
        load_pack(tmp_path, "ko")


def test_the_app_refuses_to_start_with_a_broken_pack(copy_pack, tmp_path, monkeypatch):
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    broken = copy_pack(lambda t: t.replace('question = "What comes', 'questionx = "What comes'))
    with pytest.raises(ContentError, match="opener.question: is missing"):
        create_app({"TESTING": True, "SECRET_KEY": "x", "KIOSK_CONTENT": str(broken)})


def test_kiosk_content_points_the_app_at_another_pack(copy_pack, tmp_path, monkeypatch):
    pack = copy_pack(
        lambda t: t.replace('team_name = "Rescue Team"', 'team_name = "Harbour Rescue Team"')
    )
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("KIOSK_CONTENT", str(pack))
    app = create_app({"TESTING": True, "SECRET_KEY": "x"})
    assert app.extensions["kiosk_content"].org["team_name"] == "Harbour Rescue Team"


def _words(text: str) -> list[str]:
    return re.findall(
        r"[a-z0-9$,.%']+", text.lower().replace("’", "'").replace(",", " ").replace(".", " ")
    )


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


needs_seeds = pytest.mark.skipif(
    not SEEDS.is_dir(), reason="the organisations' seed texts are not beside this checkout"
)


@needs_seeds
@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_default_pack_copies_no_run_of_ten_words_from_the_seeds(content_pack_dir, language):
    """Every text of every language, Learn and the journalists' desk included."""
    import tomllib

    run = 10
    seed_runs: set[tuple[str, ...]] = set()
    for seed in SEEDS.glob("*.txt"):
        words = _words(seed.read_text(encoding="utf-8"))
        seed_runs.update(tuple(words[i : i + run]) for i in range(len(words) - run + 1))
    assert len(seed_runs) > 1000
    data = tomllib.loads((content_pack_dir / f"{language}.toml").read_text(encoding="utf-8"))
    texts = list(_strings(data))
    assert any("Connect: North Korea" in text for text in texts)  # the press desk is read too
    copied = []
    for text in texts:
        words = _words(text)
        copied += [
            " ".join(words[i : i + run])
            for i in range(len(words) - run + 1)
            if tuple(words[i : i + run]) in seed_runs
        ]
    assert copied == []


@needs_seeds
def test_the_copy_check_would_catch_a_copied_sentence(copy_pack):
    import tomllib

    pack = copy_pack(
        lambda t: t.replace(
            'intro = "Headlines are mostly about missiles.',
            'intro = "hundreds of thousands of North Koreans are currently detained in penal '
            "facilities. Headlines are mostly about missiles.",
        )
    )
    data = tomllib.loads((pack / "en.toml").read_text(encoding="utf-8"))
    seed = _words((SEEDS / "002_e3bf99d44755cb1b.txt").read_text(encoding="utf-8"))
    runs = {tuple(seed[i : i + 10]) for i in range(len(seed) - 9)}
    found = [
        words[i : i + 10]
        for words in map(_words, _strings(data))
        for i in range(len(words) - 9)
        if tuple(words[i : i + 10]) in runs
    ]
    assert found


def test_content_is_keyed_by_locale_so_a_translation_needs_no_code(
    copy_pack, tmp_path, monkeypatch
):
    english = copy_pack()
    korean = (english / "en.toml").read_text(encoding="utf-8")
    korean = korean.replace('locale = "en"', 'locale = "ko"').replace(
        'question = "What comes to mind when you hear “North Korea”?"',
        'question = "‘북한’ 하면 무엇이 떠오르나요?"',
    )
    (english / "ko.toml").write_text(korean, encoding="utf-8")
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "KIOSK_CONTENT": str(english),
            "KIOSK_LOCALE": "ko",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'k.db'}",
        }
    )
    with app.app_context():
        from kiosk.schema import upgrade

        upgrade()
    page = app.test_client().get("/").get_data(as_text=True)
    assert '<html lang="ko">' in page
    assert "‘북한’ 하면 무엇이 떠오르나요?" in page


# ---- True to the seeds (issue 24) -----------------------------------------------------------


def _pack_text(content_pack_dir, language: str) -> str:
    return (content_pack_dir / f"{language}.toml").read_text(encoding="utf-8")


def _faq(pack, slug: str):
    return pack.faq_entry(slug)


@pytest.mark.parametrize(
    ("language", "avoid"),
    [
        ("en", ["sex traffickers", "North Korean agents", "informers"]),
        ("ko", ["인신매매범", "북한 요원", "밀고자"]),
    ],
)
def test_the_faq_names_whom_refugees_in_china_must_avoid(content_pack_dir, language, avoid):
    """Seed 002: sex traffickers, North Korean agents and those who might report them."""
    entry = _faq(load_pack(content_pack_dir, language), "how-people-escape")
    assert [word for word in avoid if word not in entry.more] == []


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_pack_says_only_what_the_seeds_support(content_pack_dir, language):
    pack = load_pack(content_pack_dir, language)
    text = _pack_text(content_pack_dir, language)
    # An invented claim, gone in both languages.
    assert "shares mission details only" not in text and "꼭 알아야 하는 사람하고만" not in text
    # Seed 004: "Many North Korean refugees do not have the resources", not most.
    more = _faq(pack, "why-north-korea").more
    assert {"en": "Many lack the means", "ko": "많은 사람들이 혼자 힘으로는"}[language] in more
    # Seed 004: food shortages are still a huge issue; the reframe says so in the present.
    famine = pack.choice("famine").reframe
    assert {"en": "Food shortages are still", "ko": "식량 부족은 지금도"}[language] in famine
    assert "Hunger has been" not in famine and "심각했어요" not in famine


@pytest.mark.parametrize("language", ["en", "ko"])
def test_past_headlines_are_labelled_as_such_and_the_balloon_prize_is_gone(
    content_pack_dir, language
):
    """Seed 003 names no outlet and gives no link: the list says so; the contested leaflet
    campaign is cut (LiNK has no political association)."""
    pack = load_pack(content_pack_dir, language)
    titles = " ".join(item.title for item in pack.learn.reading)
    assert not re.search(r"balloon|Havel|풍선|하벨", titles)
    assert [item.day.year for item in pack.learn.reading] == [2016] + [2013] * 5 + [2012] * 2
    intro = pack.learn.reading_intro
    assert {"en": "names no outlet and gives no link", "ko": "매체 이름과 링크가 없으니"}[
        language
    ] in intro
    # Seed 003, 28 February 2013: the second decision is suicide if caught; not euphemised.
    [decisions] = [
        item.title for item in pack.learn.reading if item.day.isoformat() == "2013-02-28"
    ]
    assert {"en": "take one’s own life if caught", "ko": "스스로 목숨을 끊거나"}[
        language
    ] in decisions


def test_the_learn_page_calls_them_past_headlines_and_the_blog_qr_does_not_claim_them(client):
    page = client.get("/learn").get_data(as_text=True)
    assert '<h2 id="reading_title">Past headlines</h2>' in page
    more = page.split('class="reading-more card"')[1].split("</p>")[0]
    assert "Keep reading" not in more and "these headlines are not" in more


def test_the_korean_pack_keeps_the_seeds_meaning(content_pack_dir):
    pack = load_pack(content_pack_dir, "ko")
    text = _pack_text(content_pack_dir, "ko")
    # Seed 002 p. 54: keeping people blind to the outside is the regime's aim, not a fact.
    [fenced] = [t.summary for t in pack.learn.testimonies if t.key == "fenced-in"]
    assert "누구에게도 닿지 않" not in fenced and "모르게 하려는" in fenced
    # Seed 003's headline is a statement (the embassy held responsible), not a question.
    assert not any(re.search(r"(\?|었나|는가)$", item.title) for item in pack.learn.reading)
    assert any("한국 대사관에 책임" in item.title for item in pack.learn.reading)
    # Money in one form: "$15", "$3,000", never "15달러".
    assert not re.search(r"\d달러", text)
    assert "$15" in text and "$3,000" in text
    # "Joining the team" is joining, not "team activities".
    assert {i.key: i.label for i in pack.interests}["team"] == "팀에 함께하기"
