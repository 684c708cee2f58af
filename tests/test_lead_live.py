"""The lead's live dashboard never logs out silently: each refresh says how long the session
has left (the refresh itself does not extend it), "Stay signed in" does; every control in it
keeps its id across refreshes. "Connect a tablet" shows the kiosk's address as a QR code."""

import re
from datetime import timedelta

import pytest

from kiosk import clock
from kiosk.services import network
from kiosk.services.questions import record_question
from tests.helpers import HX
from tests.lead_helpers import log_in, set_passphrase

TABLE_ADDRESS = "192.168.43.7"


@pytest.fixture
def moment(monkeypatch):
    """The kiosk's clock, frozen; move it with moment[0] += timedelta(...)."""
    now = [clock.now()]
    monkeypatch.setattr(clock, "now", lambda: now[0])
    return now


@pytest.fixture
def lead(app, client, moment):
    set_passphrase(app)
    assert log_in(client).status_code == 303
    return client


def ends_in(html: str) -> int:
    found = re.search(r'data-session-ends-in="(\d+)"', html)
    assert found, "the block says how long the session has left"
    return int(found.group(1))


def test_the_dashboard_refresh_says_how_long_the_session_has_left_without_extending_it(
    lead, moment
):
    assert ends_in(lead.get("/lead/").get_data(as_text=True)) == 30 * 60
    moment[0] += timedelta(minutes=10)
    assert ends_in(lead.get("/lead/", headers=HX).get_data(as_text=True)) == 20 * 60
    moment[0] += timedelta(minutes=18, seconds=30)
    assert ends_in(lead.get("/lead/", headers=HX).get_data(as_text=True)) == 90
    moment[0] += timedelta(seconds=91)
    ended = lead.get("/lead/", headers=HX)
    assert ended.status_code == 401 and ended.headers["HX-Redirect"] == "/lead/login"


def test_stay_signed_in_pushes_the_end_back(lead, moment):
    moment[0] += timedelta(minutes=29)
    response = lead.post("/lead/session/stay", headers=HX)
    assert response.status_code == 200
    assert response.get_data(as_text=True).lstrip().startswith('<div id="session_status"')
    assert ends_in(response.get_data(as_text=True)) == 30 * 60
    moment[0] += timedelta(minutes=20)
    assert lead.get("/lead/", headers=HX).status_code == 200


def test_near_the_twelve_hour_limit_staying_cannot_help(lead, moment):
    for _ in range(24):  # a lead at work all day, half an hour at a time
        moment[0] += timedelta(minutes=29)
        lead.post("/lead/session/stay", headers=HX)
    html = lead.get("/lead/", headers=HX).get_data(as_text=True)
    assert 'data-session-renewable="false"' in html
    assert ends_in(html) == 12 * 3600 - 24 * 29 * 60


def test_the_page_has_the_prompt_and_its_script(lead):
    html = lead.get("/lead/").get_data(as_text=True)
    assert 'id="session_prompt"' in html and "Stay signed in" in html
    assert "/static/js/dashboard.js" in html
    assert 'id="announcer"' in html and 'aria-live="polite"' in html


def test_every_control_of_the_refreshed_block_has_an_id_to_keep_focus_on(app, lead):
    with app.app_context():
        record_question(question="Where does the money go?", email="a@example.org", consent=True)
    html = lead.get("/lead/", headers=HX).get_data(as_text=True)
    controls = re.findall(r"<(?:a|button|input|select|textarea)\b[^>]*>", html)
    assert len(controls) >= 3
    no_id = [c for c in controls if " id=" not in c and 'type="hidden"' not in c]
    assert no_id == []
    assert 'data-announce="signups"' in html and 'data-announce="questions"' in html


def test_connect_a_tablet_shows_the_kiosk_address_as_a_qr_code(lead, monkeypatch):
    monkeypatch.setattr(network, "lan_addresses", lambda: [TABLE_ADDRESS])
    html = lead.get("/lead/connect").get_data(as_text=True)
    assert f"<code>http://{TABLE_ADDRESS}/</code>" in html
    assert 'src="/lead/connect/qr.svg"' in html and "/volunteer/sheet?back=lead" in html
    assert "Connect a tablet" in lead.get("/lead/").get_data(as_text=True)  # in the menu
    svg = lead.get("/lead/connect/qr.svg")
    assert svg.mimetype == "image/svg+xml" and svg.headers["Cache-Control"] == "no-store"


def test_the_kiosk_address_never_comes_from_a_forged_host_header(app, monkeypatch):
    monkeypatch.setattr(network, "lan_addresses", lambda: [TABLE_ADDRESS])
    with app.test_request_context("/lead/connect", headers={"Host": "evil.example:8000"}):
        assert network.kiosk_url("/") == f"http://{TABLE_ADDRESS}:8000/"
    with app.test_request_context("/lead/connect", headers={"Host": f"{TABLE_ADDRESS}:8123"}):
        assert network.kiosk_url("/signup") == f"http://{TABLE_ADDRESS}:8123/signup"


def test_connect_says_how_to_let_tablets_in_when_the_kiosk_listens_on_loopback(app, lead):
    app.config["KIOSK_SERVE_HOST"] = "127.0.0.1"
    html = lead.get("/lead/connect").get_data(as_text=True)
    assert "HOST=0.0.0.0 make run" in html and "connect/qr.svg" not in html


def test_connect_needs_the_lead(client):
    assert client.get("/lead/connect").status_code == 303
    assert client.get("/lead/connect/qr.svg").status_code == 303
