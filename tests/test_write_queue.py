"""Writing requests take turns on a lock in the process; reads and commands never queue."""

import threading
import time

import pytest
from flask import Flask
from sqlalchemy import text

from kiosk.extensions import db

# The write queue exists for SQLite's single writer; PostgreSQL has none.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def turn(app: Flask) -> threading.Lock:
    lock = app.extensions["kiosk_write_turn"]
    assert lock is not None
    return lock


def test_a_post_requests_transaction_holds_the_turn_until_it_commits(app, turn) -> None:
    with app.test_request_context("/signup", method="POST"):
        db.session.execute(text("SELECT 1"))
        assert turn.locked()
        db.session.commit()
        assert not turn.locked()


def test_a_rolled_back_transaction_gives_the_turn_back(app, turn) -> None:
    with app.test_request_context("/signup", method="POST"):
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        assert not turn.locked()


def test_get_requests_and_commands_never_take_the_turn(app, turn) -> None:
    with app.test_request_context("/", method="GET"):
        db.session.execute(text("SELECT 1"))
        assert not turn.locked()
        db.session.rollback()
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        assert not turn.locked()
        db.session.rollback()


def test_a_served_tap_leaves_the_turn_free(app, client, turn) -> None:
    response = client.post("/opener", data={"choice": "people"})

    assert response.status_code == 303
    assert not turn.locked()


def test_a_second_writer_waits_until_the_first_has_committed(app, turn) -> None:
    order: list[str] = []
    second_started = threading.Event()

    def second_writer() -> None:
        with app.test_request_context("/signup", method="POST"):
            second_started.set()
            db.session.execute(text("SELECT 1"))
            order.append("second began")
            db.session.commit()

    with app.test_request_context("/signup", method="POST"):
        db.session.execute(text("SELECT 1"))
        thread = threading.Thread(target=second_writer)
        thread.start()
        second_started.wait(timeout=5)
        # Time for the second writer to get in, were it not made to wait its turn.
        time.sleep(0.2)
        order.append("first commits")
        db.session.commit()
    thread.join(timeout=10)

    assert order == ["first commits", "second began"]
