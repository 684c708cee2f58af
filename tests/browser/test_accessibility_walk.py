"""axe-core on every screen (visitor, in English and in Korean; volunteer, lead, error pages;
the lead's dashboard and event form in Korean too) at three sizes: a landscape tablet, a
portrait tablet and a phone. No critical or serious violation; every tappable element at least
44 px each way. No screen scrolls sideways at any of the three sizes. axe runs from the copy inside
axe-playwright-python and makes no network request. The totals per size and language are
reported as figures."""

import re
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe

from kiosk import clock
from kiosk.services.volunteers import set_volunteer_pin
from tests.lead_helpers import PASSPHRASE, set_passphrase

pytestmark = pytest.mark.browser

VIEWPORTS = {"landscape": (1280, 800), "portrait": (800, 1280), "phone": (390, 844)}
VOLUNTEER_PIN = "2580"
MIN_TAP = 44
IMPACTS = ("critical", "serious", "moderate", "minor")

Screen = Callable[[object, str], None]
SCREENS: list[tuple[str, Screen]] = []


def screen(name: str) -> Callable[[Screen], Screen]:
    """Register a step of the walk: it brings the page to the screen `name`."""

    def register(step: Screen) -> Screen:
        SCREENS.append((name, step))
        return step

    return register


@pytest.fixture
def app_config() -> dict:
    return {"WTF_CSRF_ENABLED": True, "KIOSK_THANKS_SECONDS": 600, "PROPAGATE_EXCEPTIONS": False}


# How far ahead of the real clock the kiosk's runs: the walk moves it to show the lead's
# "session ends" prompt, and never back (a session seen "later" would look tampered with).
CLOCK_AHEAD = [timedelta(0)]


@pytest.fixture(autouse=True)
def movable_clock(monkeypatch):
    real_now = clock.now
    CLOCK_AHEAD[0] = timedelta(0)
    monkeypatch.setattr(clock, "now", lambda: real_now() + CLOCK_AHEAD[0])


@pytest.fixture(autouse=True)
def walkable(app):
    """A PIN, a passphrase, and one view that fails as a bug would (for the 500 page)."""
    with app.app_context():
        set_volunteer_pin(VOLUNTEER_PIN)
    set_passphrase(app)

    @app.get("/boom")
    def boom():
        raise RuntimeError("a bug")


# ---- Visitor -------------------------------------------------------------------------------


@screen("opener")
def opener(page, base: str) -> None:
    page.goto(base + "/")


@screen("reframe")
def reframe(page, base: str) -> None:
    page.get_by_role("button", name="The people").click()
    page.get_by_text("You said:").wait_for()


@screen("FAQ, an entry open")
def faq_open(page, base: str) -> None:
    page.goto(base + "/faq")
    page.locator("#faq_entry-rescue-cost").get_by_role("button").click()
    page.locator("#faq_entry-rescue-cost .faq-short").wait_for()


@screen("Get involved")
def involved(page, base: str) -> None:
    page.goto(base + "/involved")  # its QR codes are images: the load event waits for them


@screen("sign-up")
def signup(page, base: str) -> None:
    page.goto(base + "/signup")


@screen("sign-up with errors")
def signup_errors(page, base: str) -> None:
    page.get_by_label("First name").fill("Aiko")
    page.get_by_label("Email", exact=True).fill("aiko-at-example")
    page.get_by_role("button", name="Sign me up").click()
    page.locator(".field-error").first.wait_for()


@screen("sign-up, the kiosk out of reach (banner)")
def signup_offline(page, base: str) -> None:
    page.get_by_label("Email", exact=True).fill("aiko@example.org")
    page.get_by_label("I agree").check()
    page.context.set_offline(True)
    page.get_by_role("button", name="Sign me up").click()
    page.locator("#offline_banner").wait_for(state="visible")


@screen("sign-up thanks")
def signup_thanks(page, base: str) -> None:
    page.context.set_offline(False)
    page.locator("#signup_thanks").wait_for(timeout=10_000)
    page.locator("#offline_banner").wait_for(state="hidden")


@screen("still there? (idle countdown)")
def still_there(page, base: str) -> None:
    page.goto(base + "/involved")
    page.evaluate("document.getElementById('idle_overlay').hidden = false")


@screen("pledge")
def pledge(page, base: str) -> None:
    page.goto(base + "/pledge")


@screen("pledge thanks")
def pledge_thanks(page, base: str) -> None:
    page.get_by_label("One time").check()
    page.get_by_label("$50", exact=True).check()
    page.get_by_role("button", name=re.compile("Pledge and show")).click()
    page.locator("#pledge_thanks img.qr").wait_for()
    page.wait_for_function("() => [...document.images].every(image => image.complete)")


@screen("ask")
def ask(page, base: str) -> None:
    page.goto(base + "/ask")


@screen("ask thanks")
def ask_thanks(page, base: str) -> None:
    page.get_by_label("Your question").fill("How are rescues planned?")
    page.get_by_role("button", name="Send my question").click()
    page.locator("#ask_thanks").wait_for()


@screen("Learn")
def learn(page, base: str) -> None:
    page.goto(base + "/learn")


@screen("journalists' desk")
def press_desk(page, base: str) -> None:
    page.goto(base + "/press")


@screen("press request")
def press_request(page, base: str) -> None:
    page.get_by_role("link", name="Ask our team").click()
    page.locator("#press_form").wait_for()


@screen("press request with errors, the guidelines open")
def press_request_errors(page, base: str) -> None:
    page.get_by_label("Your name").fill("Jo Reporter")
    page.get_by_role("button", name="Send my request").click()
    page.locator("#agree-error").wait_for()
    page.get_by_text("Read the interview guidelines again").click()


@screen("press request thanks")
def press_request_thanks(page, base: str) -> None:
    page.get_by_label("Outlet or publication").fill("The Daily Example")
    page.get_by_label("Professional website").fill("daily.example.com")
    page.get_by_label("No", exact=True).check()
    page.get_by_label("Your questions or topics").fill("Work and friendships")
    page.get_by_label("Email", exact=True).fill("jo@daily.example.com")
    page.get_by_label("I have read the interview guidelines").check()
    page.get_by_role("button", name="Send my request").click()
    page.locator("#press_thanks").wait_for()


# The same screens in Korean: the switch on the opener, then every one of them.
@screen("opener, 한국어")
def opener_korean(page, base: str) -> None:
    page.goto(base + "/")
    page.get_by_role("link", name="한국어").click()
    page.get_by_role("heading", name="‘북한’ 하면 무엇이 먼저 떠오르나요?").wait_for()


@screen("reframe, 한국어")
def reframe_korean(page, base: str) -> None:
    page.get_by_role("button", name="사람들").click()
    page.get_by_text("내가 고른 답:").wait_for()


@screen("FAQ, 한국어, an entry open")
def faq_korean(page, base: str) -> None:
    page.goto(base + "/faq")
    page.locator("#faq_entry-rescue-cost").get_by_role("button").click()
    page.locator("#faq_entry-rescue-cost .faq-short").wait_for()


@screen("sign-up with errors, 한국어")
def signup_korean(page, base: str) -> None:
    page.goto(base + "/signup")
    page.get_by_role("button", name="가입하기").click()
    page.locator(".field-error").first.wait_for()


@screen("Learn, 한국어")
def learn_korean(page, base: str) -> None:
    page.goto(base + "/learn")


@screen("journalists' desk, 한국어")
def press_desk_korean(page, base: str) -> None:
    page.goto(base + "/press")


@screen("press request with errors, 한국어")
def press_request_korean(page, base: str) -> None:
    page.goto(base + "/press/request")
    page.get_by_role("button", name="요청 보내기").click()
    page.locator("#agree-error").wait_for()


@screen("press request thanks, 한국어")
def press_request_thanks_korean(page, base: str) -> None:
    page.fill("#name", "김기자")
    page.fill("#outlet", "한국일보")
    page.fill("#website", "news.example.kr/kim")
    page.get_by_label("아니요", exact=True).check()
    page.fill("#topics", "정착 이후의 일과 우정")
    page.fill("#email", "kim@news.example.kr")
    page.locator("#agree").check()
    page.get_by_role("button", name="요청 보내기").click()
    page.locator("#press_thanks").wait_for()


@screen("still there?, 한국어")
def still_there_korean(page, base: str) -> None:
    page.goto(base + "/involved")
    page.evaluate("document.getElementById('idle_overlay').hidden = false")


# ---- Error pages -----------------------------------------------------------------------------


@screen("404")
def not_found(page, base: str) -> None:
    page.goto(base + "/start")  # the next visitor: English again, for the screens below
    page.goto(base + "/no-such-page")


@screen("405")
def wrong_method(page, base: str) -> None:
    page.goto(base + "/opener")


@screen("500")
def failure(page, base: str) -> None:
    page.goto(base + "/boom")


# ---- Volunteer -------------------------------------------------------------------------------


@screen("volunteer PIN")
def volunteer_pin(page, base: str) -> None:
    page.goto(base + "/volunteer/")


@screen("volunteer PIN, a wrong one typed")
def volunteer_wrong_pin(page, base: str) -> None:
    page.get_by_label("PIN").fill("0000")
    page.get_by_role("button", name="Open").click()
    page.locator("#pin-error").wait_for()


@screen("volunteer, unlocked")
def volunteer_unlocked(page, base: str) -> None:
    page.get_by_label("PIN").fill(VOLUNTEER_PIN)
    page.get_by_role("button", name="Open").click()
    page.get_by_role("button", name="+1 conversation").wait_for()


@screen("volunteer, a conversation counted (Undo shown)")
def volunteer_counted(page, base: str) -> None:
    page.get_by_role("button", name="+1 conversation").click()
    page.get_by_role("button", name="Undo").wait_for()


@screen("paper sign-up sheet")
def paper_sheet(page, base: str) -> None:
    page.get_by_role("link", name="Paper sign-up sheet").click()
    page.get_by_role("button", name="Print this sheet").wait_for()


@screen("volunteer, locked again (PIN asked)")
def volunteer_locked(page, base: str) -> None:
    page.get_by_role("link", name="Back to the volunteer screen").click()
    page.get_by_role("button", name="Lock").click()
    page.wait_for_url(base + "/")
    page.goto(base + "/volunteer/")
    page.get_by_label("PIN").wait_for()


# ---- Team lead -------------------------------------------------------------------------------


@screen("lead login")
def lead_login(page, base: str) -> None:
    page.goto(base + "/lead/login")


@screen("lead dashboard")
def lead_dashboard(page, base: str) -> None:
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Log in").click()
    page.locator("#dashboard").wait_for()


@screen("lead dashboard, the session ends soon (Stay signed in)")
def lead_session_prompt(page, base: str) -> None:
    CLOCK_AHEAD[0] = timedelta(minutes=28, seconds=30)  # 90 s left; the next refresh says so
    # That refresh now rather than at the next 5-second tick: the dashboard's own request.
    page.evaluate(
        "htmx.ajax('GET', document.getElementById('dashboard').getAttribute('hx-get'),"
        " {source: '#dashboard', target: '#dashboard', swap: 'outerHTML'})"
    )
    page.locator("#session_prompt").wait_for(state="visible", timeout=9000)


@screen("lead events")
def lead_events(page, base: str) -> None:
    page.get_by_role("button", name="Stay signed in").click()
    page.locator("#session_prompt").wait_for(state="hidden")
    page.goto(base + "/lead/events")


@screen("lead event form")
def lead_event_form(page, base: str) -> None:
    page.goto(base + "/lead/events/new")


@screen("lead data")
def lead_data(page, base: str) -> None:
    page.goto(base + "/lead/data")


@screen("lead records")
def lead_records(page, base: str) -> None:
    page.goto(base + "/lead/records")
    page.locator(".records-table").first.wait_for()


@screen("lead records, a search")
def lead_records_search(page, base: str) -> None:
    page.get_by_label("Name, email, phone or words").fill("aiko")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state("networkidle")


@screen("lead record, correcting it with an error")
def lead_record(page, base: str) -> None:
    page.get_by_role("link", name=re.compile("Open")).first.click()
    page.get_by_label("Email").fill("not an email")
    page.get_by_role("button", name="Save").click()
    page.locator(".field-error").first.wait_for()


@screen("lead connect a tablet")
def lead_connect(page, base: str) -> None:
    page.goto(base + "/lead/connect")


@screen("paper sign-up sheet, from the lead console")
def lead_paper_sheet(page, base: str) -> None:
    page.get_by_role("link", name="Open the sheet to print").click()
    page.get_by_role("link", name="Back to the lead console").wait_for()


@screen("lead settings")
def lead_settings(page, base: str) -> None:
    page.goto(base + "/lead/settings")


@screen("lead our team")
def lead_team(page, base: str) -> None:
    page.goto(base + "/lead/team")


@screen("lead our team, an error")
def lead_team_error(page, base: str) -> None:
    page.get_by_label("Fundraising page").fill("http://fundraise.example.org/us")
    page.get_by_role("button", name="Preview").click()
    page.locator(".field-error").first.wait_for()


@screen("lead our team, the preview")
def lead_team_preview(page, base: str) -> None:
    page.get_by_label("Fundraising page").fill("https://fundraise.example.org/us")
    page.get_by_label("Fundraising goal (dollars)").fill("6000")
    page.locator("#event1_date").fill("2099-05-01")
    page.locator("#event1_text_en").fill("Film night")
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("button", name="Save").wait_for()


@screen("lead our team, saved")
def lead_team_saved(page, base: str) -> None:
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved. Visitors see it now.").wait_for()


@screen("lead audit")
def lead_audit(page, base: str) -> None:
    page.goto(base + "/lead/audit")


# The lead's new screens in Korean (the switch in the lead's menu): the dashboard with the
# press requests waiting, and the event form with the language new visitors meet.
@screen("lead dashboard, 한국어")
def lead_dashboard_korean(page, base: str) -> None:
    page.goto(base + "/lead/")
    page.get_by_role("link", name="한국어").click()
    page.get_by_role("heading", name="답할 언론 요청").wait_for()


@screen("lead event form, 한국어")
def lead_event_form_korean(page, base: str) -> None:
    page.goto(base + "/lead/events/new")
    page.get_by_label("새 방문자가 처음 보는 언어").wait_for()


# ---- The walk --------------------------------------------------------------------------------

# What a finger can tap. A checkbox or radio is tapped through its label.
TAP_TARGETS_JS = """(minimum) => {
  const small = [];
  const seen = new Set();
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary';
  for (const element of document.querySelectorAll(selector)) {
    let target = element;
    if (element.matches('input[type=checkbox], input[type=radio]')) {
      target = element.closest('label') || (element.labels && element.labels[0]) || element;
    }
    if (seen.has(target) || target.closest('.skip-link')) continue;  // keyboard only
    seen.add(target);
    const box = target.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;  // not shown (a closed overlay)
    if (box.width < minimum || box.height < minimum) {
      small.push(`${Math.round(box.width)}x${Math.round(box.height)} `
                 + target.outerHTML.replace(/\\s+/g, ' ').slice(0, 140));
    }
  }
  return small;
}"""


# How much wider than the window the page is: a phone must never scroll sideways.
OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"


def axe_findings(axe: Axe, page) -> list[tuple[str, str, int, str]]:
    """(impact, rule, nodes, first target) for each violation on the page as it is now."""
    results = axe.run(page)
    return [
        (v["impact"] or "minor", v["id"], len(v["nodes"]), str(v["nodes"][0]["target"]))
        for v in results.response["violations"]
    ]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_screen_passes_axe_and_has_big_enough_tap_targets(
    live_server, browser, viewport, figure
):
    width, height = VIEWPORTS[viewport]
    base = live_server.url
    context = browser.new_context(viewport={"width": width, "height": height})
    requests: list[str] = []  # what a script of the page could have asked for
    others: list[str] = []  # htmx's polling (live chart, dashboard), the browser's favicon

    def note(request) -> None:
        by_browser = request.resource_type == "other"
        (others if by_browser or request.headers.get("hx-request") else requests).append(
            request.url
        )

    context.on("request", note)
    page = context.new_page()
    axe = Axe()
    totals: dict[str, Counter[str]] = {"English": Counter(), "한국어": Counter()}
    serious: list[str] = []
    lesser: Counter[str] = Counter()  # moderate and minor, by rule: named in the output
    small: list[str] = []
    sideways: list[str] = []
    during_axe: list[str] = []
    try:
        for name, step in SCREENS:
            step(page, base)
            # A swap fades its content in: axe would measure the contrast of half-faded text.
            page.evaluate("Promise.all(document.getAnimations().map(a => a.finished))")
            page.wait_for_timeout(50)
            before = len(requests)
            findings = axe_findings(axe, page)
            during_axe += [f"{name}: {url}" for url in requests[before:]]
            language = "한국어" if "한국어" in name else "English"
            for impact, rule, nodes, target in findings:
                totals[language][impact] += 1
                if impact in ("critical", "serious"):
                    serious.append(f"{name}: {impact} {rule} ({nodes} nodes, e.g. {target})")
                else:
                    lesser[f"{impact} {rule} ({name})"] += 1
            small += [f"{name}: {found}" for found in page.evaluate(TAP_TARGETS_JS, MIN_TAP)]
            if (overflow := page.evaluate(OVERFLOW_JS)) > 0:
                sideways.append(f"{name}: {overflow} px wider than the {width} px window")
    finally:
        context.close()
    # The totals show in `make test` and CI (the figures section), not only on failure.
    for language, counted in totals.items():
        screens = sum(("한국어" in name) == (language == "한국어") for name, _step in SCREENS)
        counts = ", ".join(f"{counted[impact]} {impact}" for impact in IMPACTS)
        figure(f"axe walk {viewport} {width}x{height}, {language}: {screens} screens; {counts}")
    figure(f"axe walk {viewport}: {len(small)} tap targets under {MIN_TAP} px")
    figure(f"axe walk {viewport}: {len(sideways)} screens that scroll sideways")
    if lesser:
        figure("  on some screens: " + ", ".join(f"{k} x{n}" for k, n in sorted(lesser.items())))
    assert during_axe == [], "axe asked the network for something"
    assert [url for url in requests + others if not url.startswith((base, "data:"))] == []
    assert serious == [], "\n".join(serious)
    assert small == [], "\n".join(small)
    assert sideways == [], "\n".join(sideways)
