"""404, 405 and 500 are the kiosk's own calm pages: the visitor navigation, a way back, the
idle reset, no framework text; for htmx the same panel is swapped into <main>."""

from html import unescape

import pytest

from tests.helpers import HX


@pytest.fixture
def boom(app):
    """A view that fails as a bug would, with exceptions handled as in production."""

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    return "/boom"


def assert_kiosk_page(html: str) -> None:
    assert "<html" in html
    assert 'aria-label="Main"' in html  # the visitor navigation
    assert 'class="brand" href="/"' in html
    # The idle reset goes through visitor.start: the opener in the event's language.
    assert 'data-idle-seconds="60"' in html and 'data-idle-home="/start"' in html
    assert 'id="offline_banner"' in html
    for framework_words in ("Not Found</h1>", "Method Not Allowed</h1>", "requested URL"):
        assert framework_words not in html


def test_an_unknown_address_gets_a_calm_page_with_the_way_back(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert_kiosk_page(html)
    assert "We can't find that page" in unescape(html)
    assert '<a class="button button-primary" href="/">Back to the start</a>' in html
    assert response.headers["Cache-Control"] == "no-store"


def test_an_unknown_faq_entry_is_the_same_calm_page(client):
    response = client.get("/faq/no-such-question")
    assert response.status_code == 404
    assert_kiosk_page(response.get_data(as_text=True))


def test_a_wrong_method_gets_a_calm_page_and_says_what_is_allowed(client):
    response = client.get("/opener")  # answering the opener is a POST
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"].split(", ")
    html = response.get_data(as_text=True)
    assert_kiosk_page(html)
    assert "That didn't work" in unescape(html) and "nothing was changed" in html


def test_a_lost_lead_address_leads_back_to_the_lead_pages(client):
    response = client.get("/lead/no-such-page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert 'href="/lead/">Back to the team lead\'s pages</a>' in unescape(html)


def test_a_failure_gets_a_calm_page_with_navigation_and_idle_reset(client, boom):
    response = client.get(boom)
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert_kiosk_page(html)
    assert "Something went wrong" in html
    assert "secret internals" not in html and "Traceback" not in html


@pytest.mark.parametrize(
    ("path", "method", "status"), [("/nope", "get", 404), ("/faq", "post", 405)]
)
def test_htmx_gets_the_panel_swapped_into_main(client, path, method, status):
    response = getattr(client, method)(path, headers=HX)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="error_panel"' in html
    assert response.headers["HX-Retarget"] == "#main"
    assert "HX-Request" in response.headers["Vary"]
