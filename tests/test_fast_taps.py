"""Taps counted and answered by the fast path (kiosk/fast_path.py) in front of Flask.

An opener tap or an FAQ open whose answer Flask gave before is counted in the tap batch and
answered with that answer, after every check Flask's path makes: the session and its CSRF
token, the lost-database-file check, the idempotency key. Anything else goes to Flask. The
fast path's count of its answers (`hits`) says which requests it answered.
"""

import os
import sqlite3
from pathlib import Path
from uuid import uuid4

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from kiosk.content import current_content
from kiosk.extensions import db
from kiosk.fast_path import FastPath, fast_path_of
from kiosk.models import Tally
from kiosk.services import counts
from kiosk.services.events import active_event, close_event
from tests.helpers import HX, csrf_token_of, settled
from tests.test_fast_path import masked, same_headers


def fast(app: Flask) -> FastPath:
    layer = fast_path_of(app)
    assert layer is not None, "the app has a fast path"
    return layer


@pytest.fixture
def tablet(client: FlaskClient) -> FlaskClient:
    """A tablet whose session has its CSRF token, kept as `client.token`."""
    client.token = csrf_token_of(client.get("/").get_data(as_text=True))
    return client


def tap(client: FlaskClient, path: str = "/opener", headers=HX, **fields: str):
    form = {"csrf_token": client.token, "idempotency_key": uuid4().hex} | fields
    return client.post(path, data={k: v for k, v in form.items() if v is not None}, headers=headers)


def tallied(app: Flask, kind: str, key: str) -> int:
    with app.app_context():
        event = active_event()
        return counts.tallies_by_key(event.id, kind).get(key, 0) if event else 0


def answered_fast(app: Flask, client: FlaskClient, path: str = "/opener", **fields) -> bool:
    """Whether the fast path answered this tap (with a 200)."""
    hits = fast(app).hits
    response = tap(client, path, **fields)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return fast(app).hits == hits + 1


@pytest.mark.both_engines
def test_a_tap_is_counted_and_answered_in_front_of_flask_as_flask_answers(app, tablet):
    with app.app_context():
        slug = current_content().faq_entries[0].slug
    for path, fields, kind, key in [
        ("/opener", {"choice": "people"}, Tally.OPENER, "people"),
        (f"/faq/{slug}", {"depth": "short"}, Tally.FAQ_OPEN, slug),
        (f"/faq/{slug}", {"depth": "more"}, Tally.FAQ_MORE, slug),
    ]:
        by_flask = tap(tablet, path, **fields)
        hits = fast(app).hits
        by_fast_path = tap(tablet, path, **fields)
        assert fast(app).hits == hits + 1, f"{path} {fields} came from the fast path"
        assert by_fast_path.status == by_flask.status == "200 OK"
        assert same_headers(by_fast_path) == same_headers(by_flask), path
        assert masked(by_fast_path.get_data(as_text=True)) == masked(
            by_flask.get_data(as_text=True)
        )
        assert tallied(app, kind, key) == 2, f"{path} {fields}: both taps counted"


def test_a_tap_sent_again_with_its_key_is_counted_once(app, tablet):
    assert not answered_fast(app, tablet, choice="famine")  # Flask's answer teaches it
    again = uuid4().hex
    assert answered_fast(app, tablet, choice="famine", idempotency_key=again)
    assert answered_fast(app, tablet, choice="famine", idempotency_key=again)
    assert tallied(app, Tally.OPENER, "famine") == 2


def test_taps_flask_must_judge_go_to_flask_and_count_as_flask_counts(app, tablet):
    with app.app_context():
        slug = current_content().faq_entries[0].slug
    assert not answered_fast(app, tablet, choice="people")
    assert answered_fast(app, tablet, choice="people")
    other_session = csrf_token_of(app.test_client().get("/").get_data(as_text=True))
    judged_by_flask = [
        {"choice": "people", "idempotency_key": None},  # no key: Flask counts it, keyless
        {"choice": "people", "idempotency_key": "not-a-key"},
        {"choice": "people", "csrf_token": "not-a-token"},  # CSRF is off in these tests
        {"choice": "people", "csrf_token": other_session},
        {"choice": "people", "csrf_token": None},
        {"choice": "people", "extra": "with space"},  # escaped: Flask parses it
        {"choice": "people", "extra": "x" * 3000},  # longer than a tap's form
    ]
    for fields in judged_by_flask:
        assert not answered_fast(app, tablet, **fields), fields
    assert tallied(app, Tally.OPENER, "people") == 2 + len(judged_by_flask)
    hits = fast(app).hits
    assert tap(tablet, "/opener?x=1", choice="people").status_code == 200
    assert tap(tablet, headers={}, choice="people").status_code == 303  # no htmx: a redirect
    assert tap(tablet, choice="made-up").status_code == 400
    # A depth no tablet sends is the short answer, from Flask, and never kept under its value.
    assert tap(tablet, f"/faq/{slug}", depth="deeper").status_code == 200
    assert tap(tablet, f"/faq/{slug}", depth="deeper").status_code == 200
    assert fast(app).hits == hits
    assert tallied(app, Tally.OPENER, "people") == 4 + len(judged_by_flask)
    assert tallied(app, Tally.FAQ_OPEN, slug) == 2


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_a_kept_tap_still_refuses_a_foreign_or_forged_token_and_counts_nothing(app, tablet):
    assert not answered_fast(app, tablet, choice="people")
    assert answered_fast(app, tablet, choice="people")
    other_session = csrf_token_of(app.test_client().get("/").get_data(as_text=True))
    hits = fast(app).hits
    for token in (other_session, "not-a-token", None):
        assert tap(tablet, choice="people", csrf_token=token).status_code == 400
    assert fast(app).hits == hits
    assert tallied(app, Tally.OPENER, "people") == 2


@pytest.mark.sqlite_only
def test_a_kept_tap_is_refused_when_the_database_file_was_replaced(app, tablet):
    assert not answered_fast(app, tablet, choice="people")
    assert answered_fast(app, tablet, choice="people")
    with app.app_context():
        path = Path(db.engine.url.database)
        db.engine.dispose()
    copy = path.with_name("copy.db")
    with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    os.replace(copy, path)
    hits = fast(app).hits
    response = tap(tablet, choice="people")
    assert response.status_code == 503
    assert "Please tell a volunteer" in response.get_data(as_text=True)
    assert fast(app).hits == hits


def test_a_kept_tap_with_no_active_event_goes_to_flask_which_opens_one(app, tablet):
    assert not answered_fast(app, tablet, choice="people")
    assert answered_fast(app, tablet, choice="people")
    with app.app_context():
        close_event(active_event())
    assert not answered_fast(app, tablet, choice="people")
    assert tallied(app, Tally.OPENER, "people") == 1  # in the walk-up event Flask opened


@pytest.mark.sqlite_only
def test_a_tap_that_cannot_be_written_is_answered_by_flask_the_kiosks_way(app, tablet):
    assert not answered_fast(app, tablet, choice="people")
    assert answered_fast(app, tablet, choice="people")
    failing = (
        "CREATE TRIGGER no_taps BEFORE INSERT ON tally "
        "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    )
    with app.app_context():
        db.session.execute(text(failing))
        db.session.commit()
    hits = fast(app).hits
    response = tap(tablet, choice="people")
    # The database refused the row: Flask's own answer to that (its conflict page), not 5xx.
    assert response.status_code == 409
    assert fast(app).hits == hits
    assert tallied(app, Tally.OPENER, "people") == 2


@pytest.mark.both_engines
def test_a_tap_after_a_setup_change_is_counted_once_and_answered_afresh(app, tablet):
    """The fast path counts first and answers under the generations its batch saw: when the
    setup moved, Flask answers (its count of the same key counts nothing more)."""
    assert not answered_fast(app, tablet, choice="people")
    assert answered_fast(app, tablet, choice="people")
    with app.app_context():
        event = active_event()
        event.name = "Renamed at the table"
        db.session.commit()
    settled(app)  # PostgreSQL: its notification arrived (kiosk/change_signal.py)
    assert not answered_fast(app, tablet, choice="people")
    assert tallied(app, Tally.OPENER, "people") == 3
    assert answered_fast(app, tablet, choice="people")
    assert tallied(app, Tally.OPENER, "people") == 4
