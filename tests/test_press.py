"""Learn, the journalists' desk and the press request form (visitor side)."""

import re
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, inspect, select

from kiosk import create_app
from kiosk.extensions import db
from kiosk.i18n import LANG_COOKIE
from kiosk.models import PressRequest, Signup
from kiosk.schema import upgrade
from kiosk.security import VISIT_COOKIE
from kiosk.services import erasure, team
from tests.helpers import HX, assert_fragment, assert_full_page, database_snapshot, routes
from tests.hostile import assert_nothing_unescaped, hostile_text

REQUEST = {
    "name": "Jo Reporter",
    "outlet": "The Daily Example",
    "website": "daily.example.com/jo",
    "past_work": "https://daily.example.com/a\ndaily.example.com/b",
    "commissioned": "yes",
    "outline": "How new arrivals find work in Seoul",
    "deadline": "2026-12-20",
    "topics": "Jobs, language, friendships",
    "email": "Jo@Daily.Example.com",
    "agree": "y",
}


def press_requests(app) -> list[PressRequest]:
    with app.app_context():
        found = list(db.session.scalars(select(PressRequest).order_by(PressRequest.id)))
        db.session.expunge_all()
        return found


# ---- Learn --------------------------------------------------------------------------------


def test_learn_shows_the_picture_in_cards_testimony_with_pages_and_a_reading_list(client):
    page = assert_full_page(client.get("/learn"))
    assert page.count('class="learn-card card"') == 4
    for figure in ("Hundreds of thousands", "Thousands", "Millions", "35,000+"):
        assert f'<p class="learn-figure">{figure}</p>' in page
    assert "page 253" in page and "page 54" in page
    assert page.count("UN Commission of Inquiry on Human Rights in the DPRK, page") == 2
    assert page.count('class="reading-item"') == 8
    assert '<time datetime="2016-12-19">December 19, 2016</time>' in page
    assert 'data-qr-key="blog"' in page  # the pack's link, nothing typed
    assert 'href="/press"' in page
    assert 'id="learn_cards"' in assert_fragment(client.get("/learn", headers=HX))


def test_learn_speaks_korean_with_korean_dates(client):
    client.set_cookie(LANG_COOKIE, "ko")
    page = client.get("/learn").get_data(as_text=True)
    assert '<p class="learn-figure">3만 5천 명 이상</p>' in page
    assert "유엔 북한인권조사위원회 보고서, 253쪽" in page
    assert '<time datetime="2016-12-19">2016년 12월 19일</time>' in page


def test_learn_is_in_the_menu_and_after_every_reframe(client):
    assert 'href="/learn"' in client.get("/").get_data(as_text=True)
    reframe = client.post("/opener", data={"choice": "nukes"}, headers=HX).get_data(as_text=True)
    assert 'class="fact-more" href="/learn"' in reframe


def test_a_reading_item_with_a_pack_link_gets_its_qr_code(copy_pack, tmp_path, monkeypatch):
    pack = copy_pack(lambda t: t.replace("date = 2013-06-06", 'date = 2013-06-06\nlink = "blog"'))
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
    page = app.test_client().get("/learn").get_data(as_text=True)
    assert page.count('data-qr-key="blog"') == 2  # that article's, and "keep reading"
    with app.app_context():
        db.engine.dispose()


# ---- The journalists' desk -----------------------------------------------------------------


def test_every_visitor_screen_has_a_quiet_link_for_journalists(app, client):
    for endpoint, url in routes(app, "GET"):
        if endpoint.startswith("visitor.") and endpoint not in ("visitor.qr", "visitor.start"):
            page = client.get(url).get_data(as_text=True)
            assert '<footer class="visitor-footer">' in page and 'href="/press"' in page, url


def test_the_desk_numbers_what_to_send_timelines_staff_interviews_and_the_guidelines(client):
    page = assert_full_page(client.get("/press"))
    sections = re.findall(r'<li class="press-section card" id="press-(\w+)">', page)
    assert sections == ["send", "time", "research", "guidelines"]
    guidelines = page.split('id="press-guidelines"')[1].split("</ol>")[0]
    assert guidelines.count("<li>") == 11
    assert "Connect: North Korea" in page and 'href="/press/request"' in page
    assert 'id="press_desk"' in assert_fragment(client.get("/press", headers=HX))


@pytest.mark.parametrize(("language", "limit"), [("en", 460), ("ko", 1000)])
def test_the_desk_reads_in_under_two_minutes(client, language, limit):
    """About 230 words a minute in English (460 in two minutes); Korean counted in syllables
    (about 500 a minute)."""
    client.set_cookie(LANG_COOKIE, language)
    page = client.get("/press").get_data(as_text=True)
    main = re.sub(r"<[^>]+>", " ", page.split('<main id="main"')[1].split("</main>")[0])
    size = len(main.split()) if language == "en" else len(re.findall("[\uac00-\ud7a3]", main))
    assert 100 < size <= limit


# ---- The press request form ------------------------------------------------------------------


def test_the_form_asks_for_everything_the_desk_says_to_send_and_offers_no_autofill(client):
    page = assert_full_page(client.get("/press/request"))
    for name in ("name", "outlet", "website", "past_work", "outline", "deadline", "topics"):
        assert f'name="{name}"' in page
    assert 'name="commissioned" value="yes"' in page and 'name="commissioned" value="no"' in page
    assert 'type="email" id="email" name="email"' in page
    assert 'type="checkbox" id="agree" name="agree" value="y"' in page
    assert "I have read the interview guidelines and I will follow them." in page
    assert 'method="post" action="/press/request" autocomplete="off"' in page
    assert page.count('autocomplete="off"') >= 9
    assert re.search(r'name="idempotency_key" value="[0-9a-f]{32}"', page)
    assert client.get("/press/request").headers["Cache-Control"] == "no-store"
    assert 'id="press_form"' in assert_fragment(client.get("/press/request", headers=HX))


def test_a_press_request_is_stored_with_the_guidelines_wording_and_version(app, client):
    response = client.post("/press/request", data=REQUEST)
    assert response.status_code == 303 and response.headers["Location"] == "/press/thanks"
    thanks = client.get("/press/thanks").get_data(as_text=True)
    assert "Connect: North Korea" in thanks and 'data-return-home="/start"' in thanks
    [stored] = press_requests(app)
    assert (stored.name, stored.outlet, stored.email) == (
        "Jo Reporter",
        "The Daily Example",
        "jo@daily.example.com",
    )
    assert stored.website == "https://daily.example.com/jo"
    assert stored.past_work == "https://daily.example.com/a\nhttps://daily.example.com/b"
    assert stored.commissioned and stored.outline == "How new arrivals find work in Seoul"
    assert stored.deadline.isoformat() == "2026-12-20"
    assert stored.message == "Jobs, language, friendships"
    assert stored.consent_version == "press-2026-12-v2"
    assert stored.consent_text == "I have read the interview guidelines and I will follow them."
    assert stored.consent_at is not None
    assert stored.recipient == "LiNK Rescue Team"  # for the team itself, never passed on
    assert (stored.locale, stored.handled) == ("en", False)


def test_a_korean_request_stores_the_korean_wording_and_its_own_version(app, client):
    client.set_cookie(LANG_COOKIE, "ko")
    response = client.post("/press/request", data=REQUEST | {"name": "김기자"}, headers=HX)
    assert response.status_code == 200 and 'id="press_thanks"' in response.get_data(as_text=True)
    [stored] = press_requests(app)
    assert (stored.name, stored.locale) == ("김기자", "ko")
    assert stored.consent_version == "press-2026-12-ko-v2"
    assert stored.consent_text == "인터뷰 가이드라인을 읽었으며, 이를 지키겠습니다."


REQUIRED = {
    "name": "Please enter your name.",
    "outlet": "Please name the outlet you work for.",
    "website": "Please enter your professional website.",
    "commissioned": "Please say whether the piece is commissioned.",
    "topics": "Please list your questions or the topics you would like to cover.",
    "email": "Please enter your email address.",
    "agree": "Please tick the box to agree to the guidelines.",
}


@pytest.mark.parametrize("field", list(REQUIRED))
def test_each_required_field_and_the_guidelines_box_is_asked_for_in_place(app, client, field):
    data = {k: v for k, v in REQUEST.items() if k != field}
    response = client.post("/press/request", data=data, headers=HX)
    assert response.status_code == 422
    html = assert_fragment(response)
    assert f'<p class="field-error" id="{field}-error">{REQUIRED[field]}</p>' in html
    assert 'value="Jo Reporter"' in html or field == "name"  # what was typed stays
    assert press_requests(app) == []


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"outline": ""}, "outline", "Please share the log line or outline."),
        ({"website": "my site"}, "website", "Please enter a web address"),
        ({"website": "javascript:alert(1)"}, "website", "Please enter a web address"),
        ({"past_work": "not a link at all"}, "past_work", "web addresses only"),
        ({"past_work": "\n".join(f"a{n}.example.com" for n in range(6))}, "past_work", "at most 5"),
        ({"deadline": "next week"}, "deadline", "Enter the date as YYYY-MM-DD"),
        ({"email": "jo@"}, "email", "look like an email address"),
        ({"commissioned": "maybe"}, "commissioned", "whether the piece is commissioned"),
    ],
)
def test_a_wrong_value_is_refused_with_a_message_and_nothing_is_stored(
    app, client, changes, field, message
):
    response = client.post("/press/request", data=REQUEST | changes)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    assert error and message in error.group(1)
    assert press_requests(app) == []


def test_an_outline_is_not_needed_nor_kept_when_the_piece_is_not_commissioned(app, client):
    data = REQUEST | {"commissioned": "no", "outline": "kept?", "deadline": "", "past_work": ""}
    assert client.post("/press/request", data=data).status_code == 303
    [stored] = press_requests(app)
    assert (stored.commissioned, stored.outline, stored.deadline) == (False, "", None)


def test_a_double_tap_stores_one_request(app, client):
    data = REQUEST | {"idempotency_key": uuid.uuid4().hex}
    assert client.post("/press/request", data=data).status_code == 303
    assert client.post("/press/request", data=data, headers=HX).status_code == 200
    assert len(press_requests(app)) == 1


def test_storing_a_request_ends_the_visit_and_nothing_is_kept_by_the_browser(client):
    stored = client.post("/press/request", data=REQUEST)
    refused = client.post("/press/request", data={"name": "x"})
    assert any(h.startswith(VISIT_COOKIE + "=") for h in stored.headers.getlist("Set-Cookie"))
    assert not any(h.startswith(VISIT_COOKIE) for h in refused.headers.getlist("Set-Cookie"))
    for response in (stored, refused, client.get("/press/thanks")):
        assert response.headers["Cache-Control"] == "no-store"


def test_a_press_request_has_the_shape_of_every_personal_record(app):
    """What the generic erasure, export marks, tombstones and retention rely on."""
    columns = {c.name for c in inspect(PressRequest).columns}
    signup_columns = {c.name for c in inspect(Signup).columns}
    shared = {"uuid", "event_id", "email", "idempotency_key", "created_at"}
    shared |= {"consent_version", "consent_text", "consent_at"}
    assert shared <= columns and shared <= signup_columns


def test_erasing_a_person_erases_their_press_requests(app, client):
    client.post("/press/request", data=REQUEST)
    with app.app_context():
        erased = erasure.erase_person("jo@daily.example.com")
        assert erased.press_requests == 1
        assert db.session.scalar(select(func.count()).select_from(PressRequest)) == 0


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.one_of(st.just(""), hostile_text()),
    website=st.one_of(st.just(""), hostile_text(), st.just("example.org")),
    past=st.one_of(st.just(""), hostile_text()),
    deadline=st.one_of(st.just(""), hostile_text(), st.just("2026-02-30")),
    topics=hostile_text(),
    commissioned=st.sampled_from(["yes", "no", "", "<b>"]),
    htmx=st.booleans(),
)
def test_the_press_form_takes_any_text_calmly(
    app, client, name, website, past, deadline, topics, commissioned, htmx
):
    before = database_snapshot(app)
    data = REQUEST | {
        "name": name,
        "website": website,
        "past_work": past,
        "deadline": deadline,
        "topics": topics,
        "commissioned": commissioned,
    }
    response = client.post("/press/request", data=data, headers=HX if htmx else {})
    assert response.status_code in (200, 303, 413, 422)
    assert_nothing_unescaped(response.get_data(as_text=True))
    if response.status_code in (413, 422):
        assert database_snapshot(app) == before


# ---- True to the seeds: the desk speaks for the team only (issue 24) ----------------------


def _main(page: str) -> str:
    return page.split('<main id="main"')[1].split("</main>")[0]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_desk_sends_interview_requests_to_connect_north_korea_directly(client, language):
    """Seeds 000/001: journalists contact Connect: North Korea themselves; the seeds give it no
    address here, and the team neither speaks for it nor passes requests on."""
    client.set_cookie(LANG_COOKIE, language)
    main = _main(client.get("/press").get_data(as_text=True))
    direct = {
        "en": "use the media enquiries page on Connect: North Korea’s own website",
        "ko": "Connect: North Korea 웹사이트의 언론 문의 페이지로 직접 요청해 주세요",
    }[language]
    assert direct in main
    for promise in ("will answer you", "answer you by email", "pass it on", "답해 드려요"):
        assert promise not in main
    # The only address on the desk is the team's own, read through services/team.team_contact().
    assert set(re.findall(r"[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", main)) == {
        "rescueteams@libertyinnorthkorea.org"
    }
    assert "connectnk" not in main.lower() and "http" not in re.sub(r'href="[^"]*"', "", main)


def test_the_desk_reads_the_teams_contact_through_one_function(client, monkeypatch):
    monkeypatch.setattr(team, "team_contact", lambda: "hello@our-team.example.org")
    for url in ("/press", "/press/request"):
        page = client.get(url).get_data(as_text=True)
        assert "hello@our-team.example.org" in page and "rescueteams@" not in page, url


def test_a_request_names_the_team_by_the_name_its_lead_saved(app, client, monkeypatch):
    monkeypatch.setattr(team, "team_name", lambda: "Riverside Rescue Team")
    client.post("/press/request", data=REQUEST)
    [stored] = press_requests(app)
    assert stored.recipient == "Riverside Rescue Team"


def test_the_team_contact_defaults_to_the_packs_contact_email(copy_pack):
    from kiosk.content import load_pack

    pack = load_pack(
        copy_pack(lambda t: t.replace('team_contact = "rescueteams@libertyinnorthkorea.org"\n', ""))
    )
    assert pack.press.team_contact == pack.org["contact_email"]


@pytest.mark.parametrize(
    ("language", "caution"),
    [
        ("en", "Questions about past trauma, escape routes or life under the dictatorship"),
        ("ko", "지난 트라우마, 탈출 경로, 독재 아래의 삶에 대한 질문은"),
    ],
)
def test_seed_000s_caution_is_on_the_desk_and_the_hint_of_the_topics_field(
    client, language, caution
):
    client.set_cookie(LANG_COOKIE, language)
    desk = client.get("/press").get_data(as_text=True)
    assert caution in desk.split('id="press_caution"')[1].split("</p>")[0]
    form = client.get("/press/request").get_data(as_text=True)
    hint = form.split('id="topics-hint"')[1].split("</")[0]
    assert caution in hint and 'aria-describedby="topics-hint' in form


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_request_form_and_its_thanks_claim_nothing_for_connect_north_korea(client, language):
    client.set_cookie(LANG_COOKIE, language)
    form = _main(client.get("/press/request").get_data(as_text=True))
    intro = form.split("<h1")[1].split("</p>")[0]
    assert "For Connect: North Korea" not in intro and "에 보내는 요청" not in intro
    assert "rescueteams@libertyinnorthkorea.org" in intro
    client.post("/press/request", data=REQUEST | {"idempotency_key": uuid.uuid4().hex})
    thanks = _main(client.get("/press/thanks").get_data(as_text=True))
    for promise in ("who will answer you", "We pass it on", "전달", "답할 거예요"):
        assert promise not in thanks
    assert {"en": "Our team lead reads it", "ko": "팀 리더가 읽고"}[language] in thanks


@pytest.mark.parametrize(
    ("language", "restored", "gone"),
    [
        (
            "en",
            [
                "they can end the interview at once",
                "ideally at least a week ahead",
                "time to weigh the risks and give informed consent",
                "a fee to the person",
            ],
            ["crossing one ends the interview"],
        ),
        (
            "ko",
            [
                "인터뷰를 바로 끝낼 수 있어요",
                "되도록 일주일 이상 앞서",
                "충분히 알고서 동의할 시간",
                "사례비를 드릴 수 있다면",
            ],
            ["인터뷰는 바로 끝나요", "통역비와 사례비는 매체가 부담해요"],
        ),
    ],
)
def test_the_guidelines_say_what_seed_001_says(client, language, restored, gone):
    """Guideline 7: the person *can* end the interview; 6: ideally a week before; the
    separate interview day gives time to assess risks and consent; 10: a fee only if any."""
    client.set_cookie(LANG_COOKIE, language)
    page = client.get("/press").get_data(as_text=True)
    guidelines = page.split('id="press-guidelines"')[1].split("</ol>")[0]
    assert [text for text in restored if text not in guidelines] == []
    assert [text for text in gone if text in guidelines] == []
