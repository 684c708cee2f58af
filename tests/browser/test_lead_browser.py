"""The team lead in a real browser: log in, watch the dashboard update by itself, export."""

import pytest

from tests.lead_helpers import PASSPHRASE, set_passphrase

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    # The real thing: every form must carry its CSRF token.
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def lead_page(app, live_server, page):
    set_passphrase(app)
    page.goto(live_server.url + "/lead/")
    assert page.url.endswith("/lead/login")
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Demo event").wait_for()
    return page


def bar_count(page, label: str):
    row = page.locator("#dashboard .bar-chart li").filter(has_text=label).first
    return row.locator(".bar-count")


def test_the_lead_logs_in_and_watches_the_dashboard_update_while_a_visitor_taps(
    live_server, browser, lead_page
):
    lead_page.evaluate("window.__leadMarker = 'same page'")
    assert bar_count(lead_page, "The people").inner_text() == "0"
    assert lead_page.locator(".stat-number").first.inner_text() == "0"
    visitor = browser.new_context(viewport={"width": 1280, "height": 800})
    kiosk = visitor.new_page()
    kiosk.goto(live_server.url + "/")
    kiosk.get_by_role("button", name="The people").click()
    kiosk.get_by_text("You said:").wait_for()
    kiosk.goto(live_server.url + "/signup")
    kiosk.get_by_label("First name").fill("Jisoo")
    kiosk.get_by_label("Email", exact=True).fill("jisoo@example.org")
    kiosk.get_by_label("I agree").check()
    kiosk.get_by_role("button", name="Sign me up").click()
    kiosk.locator("#signup_thanks").wait_for()
    visitor.close()
    # The dashboard polls every 5 s: the tap and the sign-up show up without a reload.
    from playwright.sync_api import expect

    expect(bar_count(lead_page, "The people")).to_have_text("1", timeout=9000)
    signups = lead_page.locator(".stat").filter(has_text="sign-ups").locator(".stat-number")
    expect(signups).to_have_text("1", timeout=9000)
    assert lead_page.evaluate("window.__leadMarker") == "same page"
    assert lead_page.console_errors == []


def test_logging_out_in_the_browser_ends_the_session(live_server, lead_page):
    lead_page.get_by_role("button", name="Log out").click()
    lead_page.get_by_label("Passphrase").wait_for()
    lead_page.goto(live_server.url + "/lead/settings")
    assert lead_page.url.endswith("/lead/login")


def test_the_lead_downloads_a_csv_export_of_the_active_event(app, lead_page, tmp_path):
    from kiosk.services import signups

    with app.app_context():
        signups.record_signup(first_name="지수", email="jisoo@example.org", consent=True)
    lead_page.get_by_role("link", name="Data").click()
    lead_page.get_by_role("heading", name="Export").wait_for()
    with lead_page.expect_download() as download_info:
        lead_page.get_by_role("button", name="Sign-ups CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("rescue-team_demo-event_")
    assert download.suggested_filename.endswith("_csv.csv")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = saved.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("First Name,")
    assert "지수" in text and "jisoo@example.org" in text
    assert lead_page.console_errors == []


def test_when_the_session_ends_the_polling_dashboard_goes_to_the_login(app, live_server, lead_page):
    from kiosk.services import lead_auth

    with app.app_context():
        lead_auth.revoke_all_sessions()
    # The next poll gets 401 with HX-Redirect, and htmx takes the browser to the login.
    lead_page.wait_for_url(live_server.url + "/lead/login", timeout=9000)
    assert lead_page.get_by_label("Passphrase").is_visible()


def test_the_lead_menu_keeps_one_row_at_tablet_width_with_log_out_top_right(lead_page):
    # Landscape tablet (1280 px): every menu link on one row; Log out beside the language switch.
    tops = lead_page.locator(".mainnav a").evaluate_all(
        "links => links.map(link => Math.round(link.getBoundingClientRect().top))"
    )
    assert len(tops) >= 8 and len(set(tops)) == 1, tops
    logout = lead_page.get_by_role("button", name="Log out").bounding_box()
    switch = lead_page.locator(".language-switch").bounding_box()
    assert logout is not None and switch is not None
    assert abs(logout["y"] - switch["y"]) < 24 and logout["x"] > switch["x"]
