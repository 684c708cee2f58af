"""Languages: the switch, the default of the event and the instance, the catalogues, and no
English left on any screen shown in Korean."""

import re
import tomllib
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlalchemy import select

from kiosk import create_app
from kiosk.config import DEFAULT_CONTENT
from kiosk.extensions import db
from kiosk.i18n import LANG_COOKIE, compile_catalogues
from kiosk.models import Event, Signup
from kiosk.paths import PACKAGE_DIR
from kiosk.schema import upgrade
from kiosk.services import volunteers
from tests.helpers import HX, routes
from tests.lead_helpers import log_in, set_passphrase

ROOT = PACKAGE_DIR.parent
KO_CATALOGUE = PACKAGE_DIR / "translations" / "ko" / "LC_MESSAGES" / "messages.po"
HANGUL = re.compile(r"[\uac00-\ud7a3]")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%%")


def korean(client):
    client.set_cookie(LANG_COOKIE, "ko")
    return client


# ---- The switch ---------------------------------------------------------------------------


def test_the_switch_speaks_korean_to_this_visitor_and_comes_back_to_the_page(client):
    response = client.get("/language/ko?next=/faq")
    assert response.status_code == 303
    assert response.headers["Location"] == "/faq"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{LANG_COOKIE}=ko") and "HttpOnly" in cookie
    assert "Max-Age" not in cookie and "Expires" not in cookie  # gone with the browser session
    page = client.get("/faq").get_data(as_text=True)
    assert '<html lang="ko">' in page
    assert "사람들이 자주 묻는 질문" in page
    assert "왜 하필 북한이고, 왜 난민이에요?" in page  # content switches with the interface


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x", ""]
)
def test_the_switch_never_sends_anyone_to_another_site(client, target):
    response = client.get("/language/ko", query_string={"next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_a_language_the_kiosk_does_not_speak_is_not_found(client):
    assert client.get("/language/xx").status_code == 404
    client.set_cookie(LANG_COOKIE, "xx")  # a forged cookie changes nothing
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)


def test_starting_over_forgets_the_visitors_language(client):
    korean(client)
    assert '<html lang="ko">' in client.get("/").get_data(as_text=True)
    response = client.get("/start")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert f"{LANG_COOKIE}=;" in response.headers["Set-Cookie"]
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)


def test_every_visitor_screen_offers_both_languages_in_their_own_names(app, client):
    for endpoint, url in routes(app, "GET"):
        if not endpoint.startswith("visitor.") or endpoint in ("visitor.qr", "visitor.start"):
            continue
        page = client.get(url).get_data(as_text=True)
        assert 'aria-label="Language"' in page, url
        assert 'lang="ko" hreflang="ko"' in page and ">한국어</a>" in page, url
        assert ">English</a>" in page, url


def test_the_switch_comes_back_to_the_page_it_was_on(client):
    page = client.get("/faq/what-we-do?view=more").get_data(as_text=True)
    assert "/language/ko?next=/faq/what-we-do?view%3Dmore" in page


def test_the_idle_reset_and_the_thank_you_return_go_through_start(client):
    page = client.get("/faq").get_data(as_text=True)
    assert 'data-idle-home="/start"' in page and 'data-home-path="/"' in page
    assert 'data-default-lang="en"' in page
    thanks = client.get("/signup/thanks").get_data(as_text=True)
    assert 'data-return-home="/start"' in thanks and 'href="/start" data-return-now' in thanks


def test_pages_and_fragments_say_their_language(client):
    korean(client)
    for url in ("/", "/opener/chart", "/faq/what-we-do"):
        for headers in ({}, HX):
            response = client.get(url, headers=headers)
            assert response.headers["Content-Language"] == "ko", url
    assert client.get("/opener/chart", headers=HX).get_data(as_text=True).count("지도자") == 1


# ---- Who chooses the default --------------------------------------------------------------


def test_the_event_chooses_the_default_language(app, client):
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.status == Event.ACTIVE))
        event.locale = "ko"
        db.session.commit()
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="ko">' in page and 'data-default-lang="ko"' in page
    client.get("/language/en")
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    client.get("/start")
    assert '<html lang="ko">' in client.get("/").get_data(as_text=True)


@pytest.fixture
def korean_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "KIOSK_LOCALE": "ko",
            "WTF_CSRF_ENABLED": False,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'k.db'}",
        }
    )
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


def test_kiosk_locale_ko_starts_a_korean_kiosk(korean_instance):
    client = korean_instance.test_client()
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="ko">' in page
    assert "‘북한’ 하면 무엇이 먼저 떠오르나요?" in page
    assert "처음으로" in page  # the interface too
    # English is one tap away, and listed first: the instance's own language leads.
    assert page.index(">한국어</a>") < page.index(">English</a>")
    client.get("/language/en")
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)


# ---- Sign-ups remember their language -----------------------------------------------------


def test_a_signup_records_the_language_it_was_made_in(app, client):
    form = {"first_name": "민지", "last_name": "김", "email": "minji@example.kr", "consent": "y"}
    korean(client).post("/signup", data=form)
    with app.app_context():
        signup = db.session.scalar(select(Signup))
        assert (signup.first_name, signup.locale) == ("민지", "ko")
        assert signup.consent_version == "2026-12-ko-v2"
        assert "동의합니다" in signup.consent_text
    client.get("/start")
    client.post("/signup", data={"first_name": "Ana", "email": "ana@example.org", "consent": "y"})
    with app.app_context():
        assert [s.locale for s in db.session.scalars(select(Signup).order_by(Signup.id))] == [
            "ko",
            "en",
        ]


def test_a_paper_signup_copied_from_a_korean_sheet_keeps_its_wording_and_language(app, client):
    with app.app_context():
        volunteers.set_volunteer_pin("4821")
    sheet = korean(app.test_client()).get("/volunteer/sheet").get_data(as_text=True)
    assert "2026-12-ko-v2" in sheet and '<html lang="ko">' in sheet
    client.post("/volunteer/unlock", data={"pin": "4821"})
    screen = client.get("/volunteer/").get_data(as_text=True)  # the volunteer reads English
    assert '<option value="2026-12-ko-v2">2026-12-ko-v2 (current, 한국어 sheet)</option>' in screen
    paper = {"first_name": "서연", "email": "seoyeon@example.kr", "consent": "y"}
    client.post("/volunteer/signup", data=paper | {"consent_version": "2026-12-ko-v2"}, headers=HX)
    client.post("/volunteer/signup", data=paper | {"email": "ana@example.org"}, headers=HX)
    with app.app_context():
        stored = {s.email: s for s in db.session.scalars(select(Signup))}
        korean_pack = app.extensions["kiosk_packs"]["ko"]
    from_korean = stored["seoyeon@example.kr"]
    assert (from_korean.consent_version, from_korean.locale) == ("2026-12-ko-v2", "ko")
    assert from_korean.consent_text == korean_pack.consent_text
    assert (stored["ana@example.org"].consent_version, stored["ana@example.org"].locale) == (
        "2026-11-v1",
        "en",
    )


# ---- Phone numbers read in the visitor's region ---------------------------------------------


def test_a_korean_visitors_mobile_number_is_read_as_korean_and_stored_in_e164(app, client):
    form = {"first_name": "민지", "email": "minji@example.kr", "phone": "010-1234-5678"}
    response = korean(client).post("/signup", data=form | {"consent": "y"}, headers=HX)
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Signup.phone)) == "+821012345678"


def test_a_korean_visitor_may_still_type_a_local_number_of_the_kiosks_own_region(app, client):
    form = {"first_name": "민지", "email": "minji@example.kr", "phone": "(202) 555-0143"}
    assert korean(client).post("/signup", data=form | {"consent": "y"}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Signup.phone)) == "+12025550143"


def test_an_english_visitors_number_is_still_read_as_american(app, client):
    form = {"first_name": "Ana", "email": "ana@example.org", "consent": "y"}
    refused = client.post("/signup", data=form | {"phone": "010-1234-5678"}, headers=HX)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    error = page.split('id="phone-error">')[1].split("</p>")[0]
    assert "(201) 555-0123" in error  # an example of the visitor's region
    assert client.post("/signup", data=form | {"phone": "(202) 555-0143"}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Signup.phone)) == "+12025550143"


def test_the_korean_phone_message_gives_a_korean_example(client):
    form = {"first_name": "민지", "email": "minji@example.kr", "phone": "12", "consent": "y"}
    page = korean(client).post("/signup", data=form, headers=HX).get_data(as_text=True)
    error = page.split('id="phone-error">')[1].split("</p>")[0]
    assert "전화번호가 아닌 것 같아요" in error
    assert "010-" in error and "(201)" not in error


def test_a_volunteer_reading_korean_types_a_paper_sheets_korean_number(app, client):
    with app.app_context():
        volunteers.set_volunteer_pin("4821")
    korean(client).post("/volunteer/unlock", data={"pin": "4821"})
    paper = {"first_name": "서연", "email": "seoyeon@example.kr", "phone": "010 9876 5432"}
    response = client.post("/volunteer/signup", data=paper | {"consent": "y"}, headers=HX)
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Signup.phone)) == "+821098765432"


def test_a_refused_form_speaks_korean(client):
    response = korean(client).post("/signup", data={"email": "nope"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "이름을 입력해 주세요." in page
    assert "이메일 주소 형식이 아닌 것 같아요" in page


# ---- The catalogue ------------------------------------------------------------------------


def source_messages() -> set[str]:
    """Every interface string of the code and templates, as `make translations` finds them."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = dict(DEFAULT_KEYWORDS) | {"_l": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def korean_catalogue():
    with KO_CATALOGUE.open("rb") as handle:
        return read_po(handle, locale="ko")


def forms(text: str | tuple[str, ...] | list[str]) -> list[str]:
    """A message's id or translation as a list: one text, or each plural form (ngettext)."""
    return [text] if isinstance(text, str) else list(text)


def test_every_interface_string_has_a_korean_translation():
    catalogue = korean_catalogue()
    missing = sorted(
        m
        for m in source_messages()
        if m not in catalogue or not all(forms(catalogue[m].string)) or catalogue[m].fuzzy
    )
    assert missing == [], "run `make translations` and translate these into Korean"


def test_korean_calls_a_sign_up_one_thing_and_writes_money_one_way():
    """가입 for every sign-up (never 가입 신청, never 소식 받기 alone for the act), and
    amounts as "$15" (never "15달러", nor "$15달러")."""
    catalogue = korean_catalogue()
    sign_ups = {
        forms(m.id)[0]: forms(m.string)
        for m in catalogue
        if m.id and re.search(r"sign[- ]?(up|me up)", forms(m.id)[0], re.I)
    }
    assert len(sign_ups) > 10
    for message, translations in sign_ups.items():
        for text in translations:
            assert "가입" in text and "가입 신청" not in text, (message, text)
    assert catalogue.get("Sign up").string == "가입하기"
    money = [
        text
        for m in catalogue
        if m.id
        for text in forms(m.string)
        if re.search(r"(\d|%\(\w+\)s)달러", text)
    ]
    assert money == []


def test_the_korean_catalogue_keeps_every_placeholder_and_nothing_obsolete():
    catalogue = korean_catalogue()
    for message in catalogue:
        if message.id:
            wanted = {p for text in forms(message.id) for p in PLACEHOLDER.findall(text)}
            for translation in forms(message.string):
                assert set(PLACEHOLDER.findall(translation)) == wanted, message.id
            assert not any(HANGUL.search(text) for text in forms(message.id)), message.id
    assert [problem for _m, problems in catalogue.check() for problem in problems] == []
    obsolete = {forms(m.id)[0] for m in catalogue if m.id} - source_messages()
    assert obsolete == set(), "run `make translations` to drop strings no longer used"


def test_catalogues_compile_once_per_text_and_again_when_it_changes(tmp_path):
    folder = tmp_path / "ko" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po = folder / "messages.po"
    po.write_text('msgid ""\nmsgstr ""\n\nmsgid "Start"\nmsgstr "처음으로"\n', encoding="utf-8")
    assert compile_catalogues(tmp_path) == [folder / "messages.mo"]
    assert compile_catalogues(tmp_path) == []  # same text: nothing to do, whatever the clock
    po.write_text('msgid ""\nmsgstr ""\n\nmsgid "Start"\nmsgstr "시작"\n', encoding="utf-8")
    assert compile_catalogues(tmp_path) == [folder / "messages.mo"]
    assert "시작".encode() in (folder / "messages.mo").read_bytes()


# ---- Every screen, in both languages --------------------------------------------------------


class VisibleText(HTMLParser):
    """The text a person sees or hears: text nodes, and alt, title, aria-label, placeholder.
    Left out: scripts, and stored records marked translate="no" (the audit log's entries)."""

    SPOKEN = ("alt", "title", "aria-label", "placeholder")
    VOID = ("input", "img", "br", "meta", "link", "hr", "source")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.stack: list[bool] = []

    def handle_starttag(self, tag, attrs):
        hidden = tag in ("script", "style", "title") or ("translate", "no") in attrs
        if not self.hidden:
            for name, value in attrs:
                if name in self.SPOKEN and value:
                    self.parts.append(value)
        if ("lang", "en") in attrs and tag == "a":
            self.parts.append("\x00")  # the language switch's "English" is meant to be English
        if tag not in self.VOID:
            self.stack.append(hidden)

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    @property
    def hidden(self) -> bool:
        return any(self.stack)

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)

    @classmethod
    def of(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        return " ".join(" ".join(parser.parts).split()).replace("\x00 English", "")


def english_fragments(message: str) -> list[str]:
    """The literal words of a msgid, around its placeholders, that would betray it."""
    return [
        part.strip(" .:;,()")
        for part in PLACEHOLDER.split(message)
        if len(part.strip(" .:;,()")) >= 2 and re.search("[A-Za-z]{2}", part)
    ]


def screens(app, lang: str) -> list[tuple[str, str]]:
    """(where, html) of every GET route, full page and fragment, seen as a visitor, a
    volunteer with the screen open and a logged-in lead, with records on the dashboard;
    plus the answers a visitor's form gives when it is refused."""
    set_passphrase(app)
    with app.app_context():
        volunteers.set_volunteer_pin("4821")
    visitor, volunteer, lead = app.test_client(), app.test_client(), app.test_client()
    for client in (visitor, volunteer, lead):
        client.set_cookie(LANG_COOKIE, lang)
    visitor.post("/signup", data={"first_name": "A", "email": "a@example.org", "consent": "y"})
    visitor.post("/ask", data={"question": "Why?", "email": "a@example.org", "consent": "y"})
    visitor.post("/press/request", data=PRESS_FORM | {"idempotency_key": uuid.uuid4().hex})
    log_in(lead)
    seen = []
    urls = routes(app, "GET") + [
        ("visitor.faq_entry", "/faq/what-we-do?view=more"),
        ("visitor.pledge_thanks", "/pledge/thanks?kind=monthly&cents=1500"),
    ]
    for endpoint, url in urls:
        if endpoint in ("visitor.qr", "visitor.start", "i18n.switch"):
            continue
        for headers in ({}, HX):
            if endpoint.startswith("volunteer."):
                volunteer.post("/volunteer/unlock", data={"pin": "4821"})
                client = volunteer
            else:
                client = lead if endpoint.startswith("lead.") else visitor
            response = client.get(url, headers=headers)
            assert response.status_code < 500, url
            if response.mimetype != "text/html":
                continue
            seen.append((f"GET {url} {headers}", response.get_data(as_text=True)))
    for url in ("/signup", "/pledge", "/ask", "/press/request"):
        response = visitor.post(url, data={"email": "not-an-email"})
        assert response.status_code == 422, url
        seen.append((f"POST {url}", response.get_data(as_text=True)))
    return seen


PRESS_FORM = {
    "name": "Jo Reporter",
    "outlet": "Daily Example",
    "website": "https://daily.example.com/jo",
    "commissioned": "no",
    "topics": "Life after arrival",
    "email": "jo@daily.example.com",
    "agree": "y",
}


def test_every_screen_in_korean_leaves_no_english_interface_string(app):
    catalogue = korean_catalogue()
    betraying = {
        fragment: message.id
        for message in catalogue
        if message.id and message.string != message.id
        for text in forms(message.id)
        for fragment in english_fragments(text)
    }
    pattern = re.compile(
        "|".join(
            rf"(?<![A-Za-z]){re.escape(f)}(?![A-Za-z])"
            for f in sorted(betraying, key=len, reverse=True)
        )
    )
    left = set()
    for where, html in screens(app, "ko"):
        if "<html" in html:
            assert '<html lang="ko">' in html, where
        text = VisibleText.of(html)
        left |= {(where.split(" {")[0], match) for match in pattern.findall(text)}
    assert sorted(left) == [], sorted(left)


def test_every_screen_in_english_is_all_english(app):
    for where, html in screens(app, "en"):
        if "<html" in html:
            assert '<html lang="en">' in html, where
        text = VisibleText.of(html).replace("한국어", "")
        assert not HANGUL.search(text), (where, HANGUL.findall(text)[:5])


# ---- The Korean pack is whole ---------------------------------------------------------------


def key_paths(node, prefix="") -> set[str]:
    """Every key of a parsed TOML file; lists of tables by position."""
    paths = set()
    if isinstance(node, dict):
        for key, value in node.items():
            paths.add(prefix + key)
            paths |= key_paths(value, f"{prefix}{key}.")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths |= key_paths(value, f"{prefix}[{index}].")
    return paths


def test_every_key_of_the_english_pack_is_in_the_korean_one():
    english = tomllib.loads((DEFAULT_CONTENT / "en.toml").read_text(encoding="utf-8"))
    korean_pack = tomllib.loads((DEFAULT_CONTENT / "ko.toml").read_text(encoding="utf-8"))
    assert sorted(key_paths(english) - key_paths(korean_pack)) == []
    assert sorted(key_paths(korean_pack) - key_paths(english)) == []


def test_the_korean_pack_is_written_in_korean_and_keeps_the_facts():
    english = tomllib.loads((DEFAULT_CONTENT / "en.toml").read_text(encoding="utf-8"))
    korean_pack = tomllib.loads((DEFAULT_CONTENT / "ko.toml").read_text(encoding="utf-8"))
    for entry in korean_pack["faq"]["entries"]:
        for field in ("question", "short", "more"):
            assert HANGUL.search(entry[field]), (entry["slug"], field)
    for index, choice in enumerate(korean_pack["opener"]["choices"]):
        assert HANGUL.search(choice["reframe"]) and HANGUL.search(choice["fact"])
        assert choice["key"] == english["opener"]["choices"][index]["key"]
    assert korean_pack["links"] == {
        key: link | {"label": korean_pack["links"][key]["label"]}
        for key, link in english["links"].items()
    }
    assert korean_pack["consent"]["version"] != english["consent"]["version"]
    assert korean_pack["press"]["agreement"]["version"] != english["press"]["agreement"]["version"]
    # Polite 해요체 in what visitors read; 합니다체 in the two texts a person signs, as
    # Korean forms word an agreement.
    signed = {korean_pack["consent"]["text"], korean_pack["press"]["agreement"]["text"]}
    assert all(re.search(r"(합니다|습니다)\.$", text) for text in signed)
    assert not any(re.search(r"(해요|어요|아요|게요)\b", text) for text in signed)
    texts = re.findall(r'"([^"]*[\uac00-\ud7a3][^"]*)"', (DEFAULT_CONTENT / "ko.toml").read_text())
    texts = [t for t in texts if t not in signed]
    assert [t for t in texts if re.search(r"(합니다|습니다|십시오)", t)] == []


# ---- A new language is a folder -----------------------------------------------------------


def test_a_third_language_is_a_pack_file_and_a_catalogue_and_no_code(tmp_path, monkeypatch):
    pack = tmp_path / "pack"
    (pack / "translations" / "eo" / "LC_MESSAGES").mkdir(parents=True)
    for name in ("en.toml", "ko.toml"):
        (pack / name).write_text((DEFAULT_CONTENT / name).read_text(encoding="utf-8"))
    esperanto = (DEFAULT_CONTENT / "en.toml").read_text(encoding="utf-8")
    esperanto = esperanto.replace('locale = "en"', 'locale = "eo"').replace(
        'language_name = "English"', 'language_name = "Esperanto"'
    )
    esperanto = esperanto.replace(
        "What comes to mind when you hear “North Korea”?", "Kio venas al via menso?"
    )
    (pack / "eo.toml").write_text(esperanto, encoding="utf-8")
    (pack / "translations" / "eo" / "LC_MESSAGES" / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: eo\\n"\n\nmsgid "Questions"\nmsgstr "Demandoj"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "KIOSK_CONTENT": str(pack),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'k.db'}",
        }
    )
    with app.app_context():
        upgrade()
    client = app.test_client()
    opener = client.get("/").get_data(as_text=True)
    assert ">English</a>" in opener and ">한국어</a>" in opener and ">Esperanto</a>" in opener
    client.get("/language/eo")
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="eo">' in page
    assert "Kio venas al via menso?" in page
    assert ">Demandoj</a>" in page  # its catalogue, compiled as the kiosk started
    assert (pack / "translations" / "eo" / "LC_MESSAGES" / "messages.mo").exists()
    client.get("/language/ko")
    assert ">궁금한 점</a>" in client.get("/").get_data(as_text=True)  # the kiosk's own catalogue
    with app.app_context():
        db.engine.dispose()


def test_every_language_of_a_pack_keeps_the_same_keys(tmp_path, monkeypatch):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "en.toml").write_text((DEFAULT_CONTENT / "en.toml").read_text(encoding="utf-8"))
    broken = (DEFAULT_CONTENT / "ko.toml").read_text(encoding="utf-8")
    (pack / "ko.toml").write_text(broken.replace('slug = "politics"', 'slug = "politik"'))
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    from kiosk.content import ContentError

    with pytest.raises(ContentError, match=r"ko.toml: faq.entries: the keys must be those"):
        create_app({"TESTING": True, "SECRET_KEY": "x", "KIOSK_CONTENT": str(pack)})


def test_the_makefile_compiles_the_catalogues_when_it_installs():
    makefile = (ROOT / "Makefile").read_text()
    install = makefile.split("$(RUN_STAMP): pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert "-m kiosk.i18n" in install
    assert not list(Path(ROOT / "kiosk" / "translations").glob("*/LC_MESSAGES/*.mo")) or (
        "*.mo" in (ROOT / ".gitignore").read_text()
    )
