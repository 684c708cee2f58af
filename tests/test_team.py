"""Our team (/lead/team, services/team.py): the team's own page, checked, previewed, saved,
audited; shown on Get involved in both languages; its links in the QR codes; travelling to
other kiosks in the event's files; the paper sheet's public sign-up link. The saves, the
files between kiosks and the screens kept per generation run on both engines."""

import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kiosk import clock, page_cache
from kiosk.extensions import db
from kiosk.fast_path import fast_path_of
from kiosk.models import AuditEntry, Event, TeamPage
from kiosk.rendering import link_href
from kiosk.services import events, exports, identity, imports, joining, team
from kiosk.services.qr import qr_svg
from tests.helpers import HX, assert_fragment, assert_full_page, csrf_token_of
from tests.lead_helpers import log_in, set_passphrase
from tests.test_join import kiosk_b, lead  # noqa: F401 (a fixture and a helper)

FUNDRAISING = "https://fundraise.libertyinnorthkorea.org/team/ucla-rescue-team"
SIGNUP = "https://forms.example.org/ucla-rescue-team"


@pytest.fixture
def lead_client(app, client):
    set_passphrase(app)
    assert log_in(client).status_code == 303
    return client


def in_days(days: int) -> str:
    return (clock.today() + timedelta(days=days)).isoformat()


def page_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "UCLA Rescue Team",
        "fundraising_url": FUNDRAISING,
        "goal": "6000",
        "contact_email": "ucla@example.org",
        "signup_url": SIGNUP,
        "event1_date": in_days(10),
        "event1_place": "Powell Library, room 2",
        "event1_text_en": "Film night: the journey to freedom",
        "event1_text_ko": "영화의 밤: 자유를 향한 여정",
    }
    return form | changes


def saved(client, **changes: str):
    return client.post("/lead/team", data=page_form(**changes) | {"step": "save"})


def versions(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(TeamPage))


# ---- The lead's form ---------------------------------------------------------------------


def test_the_team_page_is_a_page_and_a_fragment_and_in_the_lead_nav(lead_client):
    page = assert_full_page(lead_client.get("/lead/team"))
    assert 'href="/lead/team" aria-current="page"' in page
    assert 'id="team_form"' in page and "rescueteams@libertyinnorthkorea.org" in page
    assert_fragment(lead_client.post("/lead/team", data=page_form(), headers=HX))


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"fundraising_url": "http://fundraise.example.org/us"}, "fundraising_url", "https://"),
        ({"signup_url": "http://192.168.43.1:8000/signup"}, "signup_url", "https://"),
        ({"signup_url": "https://192.168.43.1/signup"}, "signup_url", "public address"),
        ({"signup_url": "https://kiosk.local/signup"}, "signup_url", "public address"),
        ({"name": "R" * 121}, "name", "under 120 characters"),
        ({"event1_text_en": "x" * 201}, "event1_text_en", "under 200 characters"),
        ({"event1_date": "2026-02-30"}, "event1_date", "YYYY-MM-DD"),
        ({"event1_date": ""}, "event1_date", "Give the event a date."),
        ({"event1_text_en": "", "event1_text_ko": ""}, "event1_text_en", "Say in a line"),
        ({"goal": "lots"}, "goal", "Enter an amount in dollars"),
        ({"contact_email": "not an address"}, "contact_email", "email address"),
    ],
)
def test_the_form_refuses_what_it_cannot_store_and_keeps_what_was_typed(
    app, lead_client, changes, field, message
):
    for step in ("preview", "save"):
        form = page_form(**changes) | {"step": step}
        response = lead_client.post("/lead/team", data=form, headers=HX)
        html = assert_fragment(response)
        assert response.status_code == 422
        assert f'id="{field}-error"' in html and message in html
        assert 'value="Powell Library, room 2"' in html  # nothing typed is lost
    assert versions(app) == 0


@pytest.mark.both_engines
def test_the_preview_shows_the_page_as_visitors_will_then_save_stores_it(app, lead_client):
    response = lead_client.post("/lead/team", data=page_form() | {"step": "preview"}, headers=HX)
    html = assert_fragment(response)
    assert response.status_code == 200
    assert "Preview: how visitors will see it" in html
    assert "Our fundraising goal: $6,000" in html and "Film night" in html
    assert 'name="step" value="save"' in html and f'value="{FUNDRAISING}"' in html
    assert versions(app) == 0  # a preview stores nothing
    # "Change" brings the form back with everything typed.
    again = lead_client.post("/lead/team", data=page_form() | {"step": "edit"}, headers=HX)
    assert 'value="Powell Library, room 2"' in again.get_data(as_text=True)
    assert versions(app) == 0
    answer = saved(lead_client)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/lead/team?saved=1")
    page = lead_client.get("/lead/team?saved=1").get_data(as_text=True)
    assert "Saved. Visitors see it now." in page and 'value="UCLA Rescue Team"' in page
    assert "UCLA Rescue Team" in page.split("</header>")[0]  # the console's brand line
    with app.app_context():
        shown = team.current_version()
        assert shown.revision == 1 and shown.goal_cents == 600_000
        assert shown.events[0].texts == {
            "en": "Film night: the journey to freedom",
            "ko": "영화의 밤: 자유를 향한 여정",
        }
        assert team.team_contact() == "ucla@example.org"
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "team.saved"))
        assert "revision 1" in entry.detail and FUNDRAISING in entry.detail
    saved(lead_client, name="UCLA Rescue Team (LA)")
    with app.app_context():
        assert team.current_version().revision == 2
        assert team.team_name() == "UCLA Rescue Team (LA)"


def test_the_journalists_desk_offers_the_teams_own_contact_once_saved(app, lead_client):
    desk = lead_client.get("/press").get_data(as_text=True)
    assert "rescueteams@libertyinnorthkorea.org" in desk  # the pack's, until the team sets one
    saved(lead_client)
    for path in ("/press", "/press/request"):
        page = lead_client.get(path).get_data(as_text=True)
        assert "ucla@example.org" in page and "rescueteams@" not in page


def test_an_htmx_save_answers_the_form_with_its_notice(app, lead_client):
    response = lead_client.post("/lead/team", data=page_form() | {"step": "save"}, headers=HX)
    assert "Saved. Visitors see it now." in assert_fragment(response)
    assert versions(app) == 1


def test_nothing_set_means_the_content_packs_team(app, client):
    with app.test_request_context():
        assert team.team_name() == "LiNK Rescue Team"
        assert team.team_contact() == "rescueteams@libertyinnorthkorea.org"
        assert team.public_signup_url() is None
    page = client.get("/involved").get_data(as_text=True)
    assert "Our fundraising goal" not in page and "Our next events" not in page


def test_visitors_never_reach_the_team_page(app, client):
    set_passphrase(app)
    answer = client.get("/lead/team")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/lead/login")
    answer = client.post("/lead/team", data=page_form() | {"step": "save"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/lead/login")
    assert client.post("/lead/team", data=page_form(), headers=HX).status_code == 401
    assert versions(app) == 0


def test_a_save_without_the_csrf_token_is_refused_and_stores_nothing(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    set_passphrase(app)
    token = csrf_token_of(client.get("/lead/login").get_data(as_text=True))
    client.post(
        "/lead/login", data={"passphrase": "correct horse battery staple", "csrf_token": token}
    )
    assert client.get("/lead/team").status_code == 200
    answer = client.post("/lead/team", data=page_form() | {"step": "save"})
    assert answer.status_code == 400
    assert versions(app) == 0
    token = csrf_token_of(client.get("/lead/team").get_data(as_text=True))
    answer = client.post("/lead/team", data=page_form() | {"step": "save", "csrf_token": token})
    assert answer.status_code == 303 and versions(app) == 1


# ---- What visitors see -------------------------------------------------------------------


def test_get_involved_shows_the_goal_and_next_event_in_both_languages(app, lead_client):
    saved(lead_client, event2_date=in_days(-2), event2_text_en="Bake sale, long over")
    visitor = app.test_client()
    page = visitor.get("/involved").get_data(as_text=True)
    assert "Our fundraising goal: $6,000" in page and "Our next events" in page
    assert "Film night: the journey to freedom" in page and "Powell Library" in page
    assert "Bake sale" not in page  # its day has passed
    assert page.count("UCLA Rescue Team") >= 2  # the brand line and the card
    visitor.get("/language/ko")
    korean = visitor.get("/involved").get_data(as_text=True)
    assert '<html lang="ko">' in korean
    assert "영화의 밤: 자유를 향한 여정" in korean and "Film night" not in korean
    assert "모금 목표" in korean


def test_an_event_without_korean_text_shows_its_english_line_to_korean_visitors(app, lead_client):
    saved(lead_client, event1_text_ko="")
    visitor = app.test_client()
    visitor.get("/language/ko")
    assert "Film night" in visitor.get("/involved").get_data(as_text=True)


@pytest.mark.both_engines
def test_a_save_shows_on_get_involved_at_once_in_every_process_and_the_fast_path(
    app, second, lead_client
):
    visitor, other = app.test_client(), second.test_client()
    for client in (visitor, other):
        for _ in range(2):  # the second answer comes from the fast path
            assert "Film night" not in client.get("/involved").get_data(as_text=True)
    hits = fast_path_of(app).hits
    saved(lead_client)
    assert "Film night" in visitor.get("/involved").get_data(as_text=True)
    assert "Film night" in visitor.get("/involved", headers=HX).get_data(as_text=True)
    assert "Film night" in other.get("/involved").get_data(as_text=True)
    assert fast_path_of(app).hits == hits  # the old screen was not sent again
    assert "Film night" in visitor.get("/involved").get_data(as_text=True)
    assert fast_path_of(app).hits == hits + 1  # the new one is
    with app.app_context():
        before = page_cache.generations()[page_cache.SETUP]
    saved(lead_client, event1_text_en="Film night, moved")
    with app.app_context():
        assert page_cache.generations()[page_cache.SETUP] > before
    assert "Film night, moved" in other.get("/involved").get_data(as_text=True)


def test_join_the_team_opens_the_sign_up_with_its_interest_chosen(app, client):
    involved = client.get("/involved").get_data(as_text=True)
    assert 'href="/signup?interest=team"' in involved
    form = client.get("/signup?interest=team").get_data(as_text=True)
    assert 'value="team" checked' in form
    assert form.count(" checked") == 1
    for made_up in ("teams", "x" * 500, "", "team,events"):
        page = client.get("/signup", query_string={"interest": made_up}).get_data(as_text=True)
        assert " checked" not in page.split('id="consent"')[0], made_up


def test_made_up_interests_grow_no_cache(app, client):
    layer = fast_path_of(app)
    client.get("/involved")
    client.get("/involved")
    recipes = len(layer.recipes)
    groups = app.extensions["kiosk_page_cache"]
    pages = sum(len(group.pages) for group in groups.values())
    for n in range(30):
        client.get(f"/signup?interest=made-up-{n}")
        client.get(f"/signup?interest=team&n={n}")
    assert len(layer.recipes) == recipes
    assert sum(len(group.pages) for group in groups.values()) == pages


def test_donate_and_fundraise_codes_lead_to_the_team_page_with_the_tracking_source(
    app, lead_client
):
    with app.app_context():
        events.create_event("Spring fair", tracking_source="SpringFair26", activate=True)
    with app.test_request_context():
        assert "libertyinnorthkorea.org/donate/" in link_href("donate")
    saved(lead_client)
    tracked = f"{FUNDRAISING}?trackingSource=SpringFair26"
    with app.test_request_context():
        assert link_href("donate") == tracked
        assert link_href("fundraise") == tracked
        assert "liberty-giving" in link_href("monthly")  # monthly giving stays LiNK's
        assert link_href("signup") == SIGNUP  # never tracked
    visitor = app.test_client()
    for key in ("donate", "fundraise"):
        svg = visitor.get(f"/qr/{key}.svg")
        assert svg.status_code == 200 and svg.data == qr_svg(tracked)
    assert visitor.get("/qr/signup.svg").data == qr_svg(SIGNUP)
    # Captions may break only between an address's parts (<wbr>), so read them without.
    involved = visitor.get("/involved").get_data(as_text=True).replace("<wbr>", "")
    assert "fundraise.libertyinnorthkorea.org/team/ucla-rescue-team" in involved
    # The plain Donate card's caption names the page its code opens, not LiNK's donate page.
    donate_card = involved.split('aria-labelledby="donate_title"')[1].split("</section>")[0]
    assert "fundraise.libertyinnorthkorea.org/team/ucla-rescue-team" in donate_card
    assert "libertyinnorthkorea.org/donate" not in donate_card
    assert 'src="/qr/signup.svg"' in involved  # the join card's public sign-up code
    pledge = visitor.get("/pledge/thanks?kind=once&cents=2500").get_data(as_text=True)
    assert "ucla-rescue-team" in pledge


def test_without_a_team_page_there_is_no_signup_code(app, client):
    assert client.get("/qr/signup.svg").status_code == 404


# ---- The paper sheet ------------------------------------------------------------------------


def test_the_sheet_points_at_the_public_signup_link(app, lead_client):
    saved(lead_client)
    sheet = lead_client.get("/volunteer/sheet").get_data(as_text=True)
    assert 'src="/volunteer/sheet/qr.svg"' in sheet and "forms.example.org" in sheet
    assert "No online sign-up link yet" not in sheet
    assert lead_client.get("/volunteer/sheet/qr.svg").data == qr_svg(SIGNUP)


def test_the_sheet_never_points_at_the_tables_own_network(app, client, monkeypatch):
    # The table's hotspot address is what the sheet used to print: a phone on mobile data
    # cannot open it. Without a public link the sheet says so in words.
    from kiosk.services import network

    monkeypatch.setattr(network, "kiosk_url", lambda path="/": f"http://192.168.43.1:8000{path}")
    sheet = client.get("/volunteer/sheet").get_data(as_text=True)
    assert "192.168" not in sheet and 'class="qr"' not in sheet
    assert "No online sign-up link yet" in sheet and "Our team" in sheet
    assert client.get("/volunteer/sheet/qr.svg").status_code == 404


def test_a_packs_signup_link_serves_when_it_is_public(app, monkeypatch):
    from kiosk.content import Link

    with app.test_request_context():
        links = dict(team.current_content().links)
        for url, expected in [
            ("https://rescue.example.org/join", "https://rescue.example.org/join"),
            ("http://rescue.example.org/join", None),
            ("https://10.0.0.2/join", None),
        ]:
            fake = links | {"signup": Link("signup", "Sign up", url, False)}
            monkeypatch.setattr(team, "current_content", lambda fake=fake: _Pack(fake))
            team.forget()
            assert team.public_signup_url() == expected, url


class _Pack:
    """A content pack with other links (the rest as the real one)."""

    def __init__(self, links):
        from kiosk.content import current_content

        self._real = current_content()
        self.links = links

    def __getattr__(self, name):
        return getattr(self._real, name)


# ---- Travelling with the event ----------------------------------------------------------------


def _bundle(app) -> bytes:
    with app.app_context():
        return exports.json_bundle(events.active_event()).encode()


@pytest.mark.both_engines
def test_the_bundle_carries_the_team_page_to_another_kiosk_once(app, kiosk_b, lead_client):  # noqa: F811
    with app.app_context():
        a_id = identity.kiosk_id()  # made when `kiosk serve` prepares the database
    saved(lead_client)
    raw = _bundle(app)
    data = json.loads(raw)
    assert data["team"]["name"] == "UCLA Rescue Team" and data["team"]["revision"] == 1
    assert data["team"]["events"][0]["texts"]["ko"] == "영화의 밤: 자유를 향한 여정"
    with kiosk_b.app_context():
        report = imports.import_bundle(raw)
        assert report.team == team.TAKEN and "team page taken" in report.describe()
        # Still named as saved on kiosk A.
        assert data["team"]["kiosk_id"] == a_id == team.current_version().kiosk_id
        again = imports.import_bundle(raw)
        assert again.team == team.KNOWN
        assert db.session.scalar(select(func.count()).select_from(TeamPage)) == 1
    page = kiosk_b.test_client().get("/involved").get_data(as_text=True)
    assert "Film night" in page and "$6,000" in page


@pytest.mark.both_engines
def test_a_newer_edit_here_is_never_replaced_by_an_older_file(app, kiosk_b, lead_client):  # noqa: F811
    saved(lead_client)
    first = _bundle(app)
    with kiosk_b.app_context():
        imports.import_bundle(first)
    b_lead = lead(kiosk_b)
    saved(b_lead, name="Team B's edit")  # made after seeing A's: revision 2
    with kiosk_b.app_context():
        assert imports.import_bundle(first).team == team.KNOWN
        assert team.current_version().name == "Team B's edit"
    # A takes B's edit: a higher revision.
    with kiosk_b.app_context():
        from_b = exports.json_bundle(events.active_event()).encode()
    with app.app_context():
        # B's event is another event here: map it onto A's own.
        report = imports.import_bundle(from_b, into=events.active_event())
        assert report.team == team.TAKEN
        assert team.current_version().name == "Team B's edit"


@pytest.mark.both_engines
def test_two_edits_made_apart_end_the_same_on_both_kiosks(app, kiosk_b, lead_client):  # noqa: F811
    saved(lead_client, name="A's edit")
    saved(lead(kiosk_b), name="B's edit")  # neither saw the other's: both revision 1
    from_a = _bundle(app)
    with kiosk_b.app_context():
        from_b = exports.json_bundle(events.active_event()).encode()
        imports.import_bundle(from_a)
        on_b = team.current_version().uuid
    with app.app_context():
        imports.import_bundle(from_b, into=events.active_event())
        assert team.current_version().uuid == on_b  # the same choice, by UUID
        assert db.session.scalar(select(func.count()).select_from(TeamPage)) == 2


@pytest.mark.both_engines
def test_the_join_file_carries_the_team_page(app, kiosk_b, lead_client):  # noqa: F811
    saved(lead_client)
    with app.app_context():
        raw = joining.join_file(events.active_event())
    assert json.loads(raw)["team"]["signup_url"] == SIGNUP
    b_lead = lead(kiosk_b)
    for _ in range(2):
        answer = b_lead.post(
            "/lead/join",
            data={"join_file": (io.BytesIO(raw.encode()), "join.json")},
            content_type="multipart/form-data",
            headers=HX,
        )
        assert answer.status_code == 200
    with kiosk_b.app_context():
        assert db.session.scalar(select(func.count()).select_from(TeamPage)) == 1
        assert team.current_version().name == "UCLA Rescue Team"
        assert db.session.scalar(select(func.count()).select_from(Event)) == 2


@pytest.mark.both_engines
@pytest.mark.parametrize(
    "changes",
    [
        {"fundraising_url": "http://evil.example.org"},
        {"revision": 0},
        {"revision": "2"},
        {"events": [{"date": "2026-13-01", "place": "", "texts": {"en": "x"}}]},
        {"events": "none"},
        {"uuid": "not-a-uuid"},
        {"goal_cents": -5},
    ],
)
def test_a_file_with_a_broken_team_page_is_refused_whole(app, lead_client, changes):
    saved(lead_client)
    data = json.loads(_bundle(app))
    data["team"] |= changes
    with app.app_context():
        with pytest.raises(imports.ImportRefused, match="team"):
            imports.import_bundle(json.dumps(data))
        assert db.session.scalar(select(func.count()).select_from(TeamPage)) == 1
