"""Property-based tests: arbitrary text at the opener, the FAQ and the QR endpoint never
causes a 500, never stores anything when invalid, and never renders unescaped; no QR code
points anywhere but the content pack's own hosts."""

from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.content import current_content
from kiosk.extensions import db
from kiosk.fast_path import MAX_TARGET
from kiosk.services.events import active_event
from kiosk.services.qr import link_url
from tests.helpers import HX, database_snapshot
from tests.hostile import assert_nothing_unescaped, hostile_text, storable

HOSTILE = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def valid_choices(app) -> set[str]:
    with app.app_context():
        return {choice.key for choice in current_content().choices}


# What is stored from hostile text: both engines.
@pytest.mark.both_engines
@HOSTILE
@given(choice=hostile_text(), htmx=st.booleans())
def test_any_opener_answer_is_counted_if_known_and_refused_calmly_if_not(app, client, choice, htmx):
    before = database_snapshot(app)
    response = client.post("/opener", data={"choice": choice}, headers=HX if htmx else {})
    assert response.status_code < 500
    assert_nothing_unescaped(response.get_data(as_text=True))
    if choice not in valid_choices(app):
        assert response.status_code in (400, 413)
        assert database_snapshot(app) == before


@HOSTILE
@given(key=hostile_text())
def test_any_reframe_address_is_a_page_or_a_404(client, key):
    path = "/opener/" + quote(key, safe="")
    response = client.get(path)
    # An address longer than any the kiosk makes is refused unread (issue 20).
    assert response.status_code in (200, 404, 308) or (
        response.status_code == 414 and len(path) > MAX_TARGET
    )
    assert_nothing_unescaped(response.get_data(as_text=True))


@HOSTILE
@given(slug=hostile_text(), depth=hostile_text(), view=hostile_text())
def test_any_faq_address_or_depth_is_shown_or_refused_and_stores_nothing_unknown(
    app, client, slug, depth, view
):
    before = database_snapshot(app)
    path = "/faq/" + quote(slug, safe="")
    shown = client.get(path, query_string={"view": view})
    opened = client.post(path, data={"depth": depth})
    for response in (shown, opened):
        assert response.status_code < 500
        assert_nothing_unescaped(response.get_data(as_text=True))
    with app.app_context():
        known = current_content().faq_entry(slug) is not None
    if not known:
        assert opened.status_code in (404, 308, 413) or (
            opened.status_code == 414 and len(path) > MAX_TARGET
        )
        assert database_snapshot(app) == before


@HOSTILE
@given(key=hostile_text())
def test_the_qr_endpoint_serves_only_the_content_packs_links(app, client, key):
    path = "/qr/" + quote(key, safe="") + ".svg"
    response = client.get(path)
    with app.app_context():
        known = key in current_content().links
    assert (
        response.status_code == (200 if known else 404)
        or response.status_code == 308
        or (response.status_code == 414 and len(path) > MAX_TARGET)
    )


# What is stored from hostile text: both engines.
@pytest.mark.both_engines
@HOSTILE
@given(source=hostile_text())
def test_no_tracking_source_can_move_a_qr_code_to_another_host(app, client, dialect, source):
    with app.app_context():
        event = active_event()
        event.tracking_source = storable(source, dialect)[:80]
        db.session.commit()
        links = current_content().links
        expected_hosts = {urlsplit(link.url).hostname for link in links.values()}
        for link in links.values():
            url = link_url(link, event.tracking_source)
            parts = urlsplit(url)
            assert parts.scheme == urlsplit(link.url).scheme
            assert parts.hostname == urlsplit(link.url).hostname in expected_hosts
            assert parts.netloc == urlsplit(link.url).netloc
    response = client.get("/qr/donate.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"


@pytest.mark.parametrize("key", ["donate", "instagram"])
def test_qr_images_are_svg_with_no_script(client, key):
    svg = client.get(f"/qr/{key}.svg").get_data(as_text=True)
    assert "<script" not in svg and "onload" not in svg
