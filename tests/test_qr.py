"""QR codes: only the content pack's links, with the event's tracking source."""

from kiosk.content import Link
from kiosk.services import events
from kiosk.services.qr import link_url, qr_svg


def test_tracked_links_carry_the_events_tracking_source():
    donate = Link(
        "donate", "Donate", "https://example.org/donate/?lang=en&trackingSource=Old", True
    )
    assert link_url(donate, "Fall Fair 2026") == (
        "https://example.org/donate/?lang=en&trackingSource=Fall+Fair+2026"
    )
    assert link_url(donate, "") == donate.url


def test_untracked_links_are_left_as_they_are():
    blog = Link("blog", "Blog", "https://example.org/blog", False)
    assert link_url(blog, "Fall Fair") == "https://example.org/blog"


def test_qr_svg_is_an_svg_image():
    svg = qr_svg("https://example.org/")
    assert svg.startswith(b"<svg") and b"</svg>" in svg and b"<path" in svg


def test_the_qr_endpoint_serves_a_content_link_as_svg(client):
    response = client.get("/qr/donate.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Cache-Control"] == "no-cache"
    again = client.get("/qr/donate.svg", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_the_qr_endpoint_refuses_keys_outside_the_content_pack(client):
    for key in ("evil", "https:--evil.example", "..%2F..%2Fetc"):
        assert client.get(f"/qr/{key}.svg").status_code == 404
    assert (
        client.get("/qr/donate.svg?url=https://evil.example").data
        == client.get("/qr/donate.svg").data
    )


def test_the_qr_code_changes_with_the_active_events_tracking_source(app, client):
    before = client.get("/qr/donate.svg").data
    with app.app_context():
        events.create_event("Spring", tracking_source="spring-fair", activate=True)
    after = client.get("/qr/donate.svg").data
    assert before != after
    assert client.get("/qr/instagram.svg").data == client.get("/qr/instagram.svg").data
