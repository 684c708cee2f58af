"""Request-level tests of the visitor's screens: opener, FAQ, Get involved, QR codes."""

import re

import pytest
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import Tally
from kiosk.rendering import link_href
from kiosk.services import events
from tests.helpers import HX, assert_fragment, assert_full_page


def tallies_of(app, kind: str) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.scalars(select(Tally).where(Tally.kind == kind).order_by(Tally.id))
        return [(t.event_id, t.key) for t in rows]


@pytest.mark.parametrize(
    ("url", "block_id"),
    [
        ("/", 'id="opener_panel"'),
        ("/opener/people", 'id="opener_panel"'),
        ("/opener/chart", 'id="opener_chart"'),
        ("/faq", 'id="faq_list"'),
        ("/faq/what-we-do", 'id="faq_entry-what-we-do"'),
        ("/faq/what-we-do?view=more", 'id="faq_entry-what-we-do"'),
        ("/faq/what-we-do?view=closed", 'id="faq_entry-what-we-do"'),
        ("/involved", 'id="involved_ways"'),
    ],
)
def test_every_view_answers_a_full_page_and_an_htmx_fragment(client, url, block_id):
    page = assert_full_page(client.get(url))
    assert block_id in page
    fragment = assert_fragment(client.get(url, headers=HX))
    assert fragment.lstrip().startswith(f"<{'section' if 'opener_panel' in block_id else ''}") or (
        block_id in fragment
    )
    assert block_id in fragment


def test_boosted_and_history_restore_requests_get_the_whole_page(client):
    for header in ("HX-Boosted", "HX-History-Restore-Request"):
        response = client.get("/faq", headers=HX | {header: "true"})
        assert_full_page(response)


def test_the_opener_offers_six_to_eight_large_choices(client, app):
    page = client.get("/").get_data(as_text=True)
    assert "What comes to mind when you hear" in page
    with app.app_context():
        from kiosk.content import current_content

        choices = current_content().choices
    assert 6 <= len(choices) <= 8
    for choice in choices:
        assert f'value="{choice.key}"' in page


def test_tapping_an_opener_choice_counts_it_for_the_active_event_and_shows_the_reframe(app, client):
    response = client.post("/opener", data={"choice": "famine"}, headers=HX)
    html = assert_fragment(response)
    assert response.status_code == 200
    assert 'class="reframe"' in html
    assert "Ask a question" in html and "How can I help?" in html
    # "Ask a question" leaves a question (the Ask screen), not the list of questions
    assert re.search(r'href="/ask">Ask a question</a>', html)
    # the chart no longer rides along (a tap's answer stays small): the answer asks the
    # chart to refresh itself, and the chart it gets counts this tap
    assert "opener_chart" not in html and len(response.get_data()) <= 2000
    assert response.headers["HX-Trigger"] == "tallied"
    assert 'hx-trigger="every 30s, tallied from:body"' in client.get("/").get_data(as_text=True)
    chart = client.get("/opener/chart", headers=HX).get_data(as_text=True)
    assert re.search(r"Famine.*?bar-count\">1<", chart, re.S)
    with app.app_context():
        active = events.active_event().id
    assert tallies_of(app, Tally.OPENER) == [(active, "famine")]


def test_opener_answers_without_javascript_redirect_to_the_reframe_page(client):
    response = client.post("/opener", data={"choice": "leader"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/opener/leader")
    assert 'class="reframe"' in client.get(response.headers["Location"]).get_data(as_text=True)


def test_an_unknown_opener_choice_is_refused_and_not_counted(app, client):
    assert client.post("/opener", data={"choice": "<script>"}, headers=HX).status_code == 400
    assert client.get("/opener/nonsense").status_code == 404
    assert tallies_of(app, Tally.OPENER) == []


def test_tallies_belong_to_the_event_active_when_they_were_made(app, client):
    client.post("/opener", data={"choice": "people"}, headers=HX)
    with app.app_context():
        second = events.create_event("Second", tracking_source="second", activate=True).id
    client.post("/opener", data={"choice": "unsure"}, headers=HX)
    rows = tallies_of(app, Tally.OPENER)
    assert rows[0][1] == "people" and rows[0][0] != second
    assert rows[1] == (second, "unsure")


def test_the_opener_chart_shows_this_events_counts(app, client):
    for choice in ("nukes", "nukes", "leader"):
        client.post("/opener", data={"choice": choice}, headers=HX)
    chart = assert_fragment(client.get("/opener/chart", headers=HX))
    assert chart.count("<li>") == 8
    nukes = chart.split("Nuclear weapons", 1)[1]
    assert 'width="100"' in nukes.split("</li>")[0] and '<span class="bar-count">2</span>' in nukes


def test_the_faq_lists_every_question_of_the_guide_grouped(app, client):
    page = client.get("/faq").get_data(as_text=True)
    with app.app_context():
        from kiosk.content import current_content

        pack = current_content()
    assert len(pack.faq_entries) >= 18
    for group in pack.faq_groups:
        assert f'id="group-{group.key}"' in page
    for entry in pack.faq_entries:
        assert f'id="faq_entry-{entry.slug}"' in page


def test_opening_an_answer_and_tell_me_more_are_counted_and_swap_the_entry(app, client):
    short = assert_fragment(client.post("/faq/rescue-cost", data={"depth": "short"}, headers=HX))
    assert 'class="faq-short"' in short and 'class="faq-more"' not in short
    assert "Tell me more" in short
    more = assert_fragment(client.post("/faq/rescue-cost", data={"depth": "more"}, headers=HX))
    assert 'class="faq-more"' in more
    assert [k for _, k in tallies_of(app, Tally.FAQ_OPEN)] == ["rescue-cost"]
    assert [k for _, k in tallies_of(app, Tally.FAQ_MORE)] == ["rescue-cost"]


def test_closing_an_answer_is_one_tap_and_counts_nothing(app, client):
    closed = assert_fragment(client.get("/faq/rescue-cost?view=closed", headers=HX))
    assert 'aria-expanded="false"' in closed and 'class="faq-short"' not in closed
    assert tallies_of(app, Tally.FAQ_OPEN) == []


def test_an_unknown_faq_slug_is_a_404(client):
    assert client.get("/faq/not-a-question").status_code == 404
    assert client.post("/faq/not-a-question", data={"depth": "short"}).status_code == 404


def test_get_involved_shows_four_ways_and_the_follow_links_with_qr_codes(app, client):
    page = client.get("/involved").get_data(as_text=True)
    for key in ("fundraise", "monthly", "jobs", "instagram", "x", "youtube", "blog"):
        assert f'src="/qr/{key}.svg"' in page
    assert page.count('class="way card"') == 4
    # "Join the team" is taken here, on the kiosk's own sign-up: no code sends people away.
    assert 'href="/signup?interest=team"' in page
    assert 'src="/qr/website.svg"' not in page


def test_get_involved_has_a_plain_donate_qr_code_carrying_the_events_tracking_source(app, client):
    page = client.get("/involved").get_data(as_text=True)
    assert 'data-qr-key="donate"' in page
    card = page.split('aria-labelledby="donate_title"')[1].split("</section>")[0]
    assert ">Donate</h2>" in card and 'src="/qr/donate.svg"' in card
    with app.test_request_context():
        tracking = events.active_event().tracking_source
        assert f"trackingSource={tracking}" in link_href("donate").replace("+", " ")


def test_qr_captions_break_only_between_the_parts_of_an_address(client):
    page = client.get("/involved").get_data(as_text=True)
    assert '<span class="qr-url">libertyinnorthkorea.<wbr>org/<wbr>donate</span>' in page
