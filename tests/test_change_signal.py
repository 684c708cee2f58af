"""The change signal across a hub's processes (kiosk/change_signal.py): on PostgreSQL each
process keeps the generations in memory, told of every commit by a NOTIFY, and reads
nothing per answer; a change committed in one process shows in the other's next answer
after its notification; while the listener is not sure, answers read the database (never a
stale screen).

Two app instances with engines of their own on one database stand for two `kiosk serve`
processes. PostgreSQL only: SQLite has no NOTIFY (its answers read the generations, as
tests/test_page_cache.py shows on both engines).
"""

import re
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text

from kiosk import change_signal, page_cache
from kiosk.extensions import db
from kiosk.services import settings
from tests.helpers import HX

pytestmark = pytest.mark.postgresql_only

WAIT_S = 5.0


def eventually(check: Callable[[], bool]) -> bool:
    """Whether `check()` comes true within WAIT_S, asked every few milliseconds."""
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def idle_shown(client: FlaskClient) -> str:
    match = re.search(r'data-idle-seconds="(\d+)"', client.get("/faq").get_data(as_text=True))
    assert match
    return match.group(1)


def famine(client: FlaskClient) -> int:
    html = client.get("/opener/chart", headers=HX).get_data(as_text=True)
    match = re.search(r">Famine</span>.*?bar-count\">(\d+)<", html, re.S)
    assert match
    return int(match.group(1))


def tap(client: FlaskClient) -> None:
    assert client.post("/opener", data={"choice": "famine"}, headers=HX).status_code == 200


def set_idle(app: Flask, seconds: str) -> None:
    with app.app_context():
        settings.set_setting(settings.IDLE_SECONDS, seconds)


@pytest.fixture
def generation_reads(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement of `app`'s engine that reads the generations."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        if "FROM generation" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    # The fast path's own read, on a DBAPI cursor of a pooled connection.
    real = page_cache.read_generations

    def counted(engine_):
        seen.append(page_cache.READ)
        return real(engine_)

    monkeypatch.setattr(page_cache, "read_generations", counted)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


def listening(app: Flask, client: FlaskClient) -> change_signal.ChangeSignal:
    """`app`'s signal once its listener trusts it (the first answer starts it)."""
    client.get("/faq")
    signal = change_signal.signal_of(app)
    assert eventually(lambda: signal.trusted), "the listener connects and trusts"
    return signal


def test_a_change_in_one_process_shows_in_the_others_next_answer_after_its_notification(
    app, second, generation_reads
):
    here, there = app.test_client(), second.test_client()
    listening(app, here)
    assert idle_shown(here) == idle_shown(here)
    generation_reads.clear()
    for _ in range(3):
        idle_shown(here)
        famine(here)
    assert generation_reads == [], "no read of the generations per answer"

    set_idle(second, "123")
    assert eventually(lambda: idle_shown(here) == "123"), "the other process's change shows"
    # A tap here shows in this process's very next answer (its own commit bumps its memory);
    # a tap there, once its notification arrived.
    before = famine(here)
    tap(here)
    assert famine(here) == before + 1
    tap(there)
    assert eventually(lambda: famine(here) == before + 2)
    assert generation_reads == []


def test_a_dropped_listener_makes_every_answer_read_until_it_is_back(app, second, generation_reads):
    here = app.test_client()
    signal = listening(app, here)
    set_idle(app, "30")
    assert idle_shown(here) == "30"
    # The listener's connection ends and cannot come back for now.
    connect = signal.connect

    def refused():
        raise OSError("the server is away")

    signal.connect = refused
    with second.app_context():
        db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": signal.connected_pid})
        db.session.commit()
    assert eventually(lambda: not signal.trusted), "the lost listener is noticed"
    generation_reads.clear()
    # Changes made meanwhile (no notification reaches this process): the next answer reads.
    set_idle(second, "31")
    assert idle_shown(here) == "31"
    tap(second.test_client())
    assert famine(here) == 1
    assert generation_reads, "answers read the generations while the listener is down"

    signal.connect = connect
    assert eventually(lambda: signal.trusted), "the listener connects again"
    set_idle(second, "32")
    assert eventually(lambda: idle_shown(here) == "32")
    generation_reads.clear()
    idle_shown(here)
    assert generation_reads == []


def test_without_the_notifying_trigger_the_signal_is_never_trusted(app, second, monkeypatch):
    """A database whose `generation` does not notify (an older schema, a migration that
    made the table again without the trigger): every answer reads, and stays fresh."""
    monkeypatch.setattr(change_signal, "RETRY_S", 0.02)
    here = app.test_client()
    signal = listening(app, here)
    tried = signal.attempts
    with second.app_context():
        db.session.execute(text(f"DROP TRIGGER {change_signal.TRIGGER} ON generation"))
        db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": signal.connected_pid})
        db.session.commit()
    # It connects again, finds no trigger, and tries again later.
    assert eventually(lambda: signal.attempts >= tried + 2), "the listener tries again"
    assert not signal.trusted
    set_idle(second, "77")
    assert idle_shown(here) == "77"


def test_a_rolled_back_change_is_not_announced(app, second):
    """PostgreSQL delivers a notification only on commit: a rolled-back bump changes
    nothing in another process's memory (its kept screens stay)."""
    here = app.test_client()
    signal = listening(app, here)
    assert signal.caught_up()
    before = signal.counters()
    with second.app_context():
        db.session.execute(text("UPDATE setting SET value = '99' WHERE key = 'idle_seconds'"))
        db.session.rollback()
    assert signal.caught_up()
    assert signal.counters() == before
    set_idle(second, "98")
    assert signal.caught_up()
    after = signal.counters()
    assert after is not None and before is not None
    assert after[page_cache.SETUP] == before[page_cache.SETUP] + 1
