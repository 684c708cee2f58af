"""Group commit for taps (services/tallies.TapBatcher): taps that arrive together share one
transaction and one commit; each is answered only after that commit; all count, once."""

import threading
import uuid

import pytest
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import Tally
from kiosk.services import events, identity, tallies
from tests.helpers import HX

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


def taps(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Tally))


def tap_from_threads(app, count: int) -> list[int]:
    statuses: list[int] = []
    barrier = threading.Barrier(count)

    def tap() -> None:
        client = app.test_client()
        barrier.wait()
        form = {"choice": "people", "idempotency_key": uuid.uuid4().hex}
        statuses.append(client.post("/opener", data=form, headers=HX).status_code)

    threads = [threading.Thread(target=tap) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def test_taps_waiting_together_are_written_in_one_batch(app, monkeypatch):
    """While one batch commits, the taps that arrive wait and go together in the next."""
    sizes: list[int] = []
    first_batch_started, let_it_commit = threading.Event(), threading.Event()
    write = tallies.write_batch

    def slow_first(batch):
        sizes.append(len(batch))
        if len(sizes) == 1:
            first_batch_started.set()
            let_it_commit.wait(timeout=30)
        write(batch)

    monkeypatch.setattr(tallies, "write_batch", slow_first)
    statuses: list[int] = []

    def tap() -> None:
        form = {"choice": "people", "idempotency_key": uuid.uuid4().hex}
        statuses.append(app.test_client().post("/opener", data=form, headers=HX).status_code)

    leader = threading.Thread(target=tap)
    leader.start()
    assert first_batch_started.wait(timeout=30)
    followers = [threading.Thread(target=tap) for _ in range(5)]
    for thread in followers:
        thread.start()
    batcher = app.extensions[tallies.BATCHER]
    while len(batcher._waiting) < 5:  # noqa: SLF001 (the followers are queued, not written)
        threading.Event().wait(0.01)
    assert statuses == [] and taps(app) == 0  # nobody is answered before the commit
    let_it_commit.set()
    for thread in [leader, *followers]:
        thread.join(timeout=60)
    assert sizes == [1, 5]
    assert statuses == [200] * 6
    assert taps(app) == 6


def test_many_taps_at_once_all_count(app):
    assert tap_from_threads(app, 12) == [200] * 12
    assert taps(app) == 12


def test_a_failed_batch_fails_every_tap_in_it_and_counts_none(app, monkeypatch):
    def broken(batch):
        for tap in batch:
            tap.done, tap.error = True, RuntimeError("disk full")
        raise RuntimeError("disk full")

    monkeypatch.setattr(tallies, "write_batch", broken)
    client = app.test_client()
    form = {"choice": "people", "idempotency_key": uuid.uuid4().hex}
    with pytest.raises(RuntimeError, match="disk full"):  # a 500 when served (TESTING raises)
        client.post("/opener", data=form, headers=HX)
    assert taps(app) == 0
    monkeypatch.undo()
    assert client.post("/opener", data=form, headers=HX).status_code == 200  # the retry
    assert taps(app) == 1


def test_with_no_active_event_a_tap_opens_the_walk_up_event(app, client):
    with app.app_context():
        events.close_event(events.active_event())
    form = {"choice": "people", "idempotency_key": uuid.uuid4().hex}
    assert client.post("/opener", data=form, headers=HX).status_code == 200
    with app.app_context():
        assert events.active_event().name.startswith("Walk-up table")
    assert taps(app) == 1


def test_batched_taps_carry_this_kiosks_id(app):
    """The batch's Core INSERT still stores the kiosk id (models.FromKiosk), so the dashboard's
    per-kiosk counts and a merged bundle name the kiosk each tap came from."""
    with app.app_context():
        mine = identity.kiosk_id()  # made when `kiosk serve` prepares the database
    assert tap_from_threads(app, 4) == [200] * 4
    with app.app_context():
        stored = db.session.scalars(select(Tally.kiosk_id)).all()
    assert len(stored) == 4 and set(stored) == {mine}


def test_one_batch_counts_each_key_once_and_every_keyless_tap(app):
    """The batch's one statement tells its taps apart by what it returns: a key already
    counted (before, or earlier in the same batch) counts no more; a tap without a key is
    never a repeat."""
    key, counted_before = uuid.uuid4().hex, uuid.uuid4().hex
    batch = [
        tallies.Tap(Tally.OPENER, "people", counted_before),
        tallies.Tap(Tally.OPENER, "people", key),
        tallies.Tap(Tally.FAQ_OPEN, "people", key),  # the same key, another kind: counts
        tallies.Tap(Tally.OPENER, "people", key),
        tallies.Tap(Tally.OPENER, "people", None),
        tallies.Tap(Tally.OPENER, "people", None),
    ]
    with app.app_context():
        tallies.write_batch([tallies.Tap(Tally.OPENER, "people", counted_before)])
        tallies.write_batch(batch)
    assert [tap.counted for tap in batch] == [False, True, True, False, True, True]
    assert taps(app) == 5
