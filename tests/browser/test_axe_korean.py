"""axe-core (axe-playwright-python, bundled, nothing downloaded) on Learn, the journalists'
desk and the press request form, in English and in Korean: no serious or critical finding."""

import pytest
from axe_playwright_python.sync_playwright import Axe

pytestmark = pytest.mark.browser

SCREENS = ["/learn", "/press", "/press/request", "/press/request#refused", "/"]


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


def serious(results) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("screen", SCREENS)
def test_no_serious_accessibility_finding(live_server, page, axe, language, screen):
    path, _, state = screen.partition("#")
    page.goto(f"{live_server.url}/language/{language}?next={path}")
    assert page.evaluate("document.documentElement.lang") == language
    if state == "refused":
        page.locator("#press_form button[type=submit]").click()
        page.locator("#name-error").wait_for()
    found = serious(axe.run(page))
    assert found == [], found
