"""kill -9 on a hub: sign-ups over HTTP to `kiosk serve` on PostgreSQL while, in turn, the
kiosk's server process and the PostgreSQL server itself are SIGKILLed and started again.
Every sign-up the kiosk thanked a visitor for is stored, exactly once.

The cluster is one of its own with synchronous_commit on, as a real server has it (the
session's test cluster trades it for speed): a commit is acknowledged only once its WAL is
written. fsync stays off: the machine itself does not crash here, only processes do.
"""

import functools
import os
import random
import time
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text

from kiosk.emails import digest_of_record
from tests.postgres import Cluster, find_bindir
from tests.served import Kiosk, free_port
from tests.test_crash import Typist

pytestmark = [pytest.mark.crash, pytest.mark.xdist_group("kiosk_serve"), pytest.mark.postgresql]

ROUNDS = int(os.environ.get("KIOSK_HUB_CRASH_ROUNDS", "12"))


@pytest.fixture
def durable_cluster():
    cluster = Cluster(find_bindir(), synchronous_commit="on")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def stored_signups(url: str) -> tuple[list[tuple[str, str]], Callable[[str], str]]:
    """(email digest, idempotency key) of each stored sign-up, and an address's digest as
    they keep it: the emails are sealed, so a person is her digest (kiosk/emails.py)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT email_digest, idempotency_key FROM signup"))
            stored = [(row.email_digest, row.idempotency_key) for row in rows]
            keys = connection.execute(
                text(
                    "SELECT DISTINCT e.erasure_key FROM event e JOIN signup s ON s.event_id = e.id"
                )
            ).all()
    finally:
        engine.dispose()
    assert len(keys) == 1, keys
    return stored, functools.partial(digest_of_record, keys[0][0])


def test_no_thanked_sign_up_is_lost_when_the_kiosk_or_postgresql_is_killed(
    durable_cluster, tmp_path, figure
):
    rng = random.Random(os.environ.get("KIOSK_CRASH_SEED", "hub"))
    url = durable_cluster.url(durable_cluster.create_database(name="hub"))
    kiosk = Kiosk(
        tmp_path / "instance",
        free_port(),
        env={"KIOSK_DATABASE_URL": url, "KIOSK_SECRET_KEY": "k" * 64},
    )
    started = time.monotonic()
    kiosk.start()
    kiosk.wait_ready(timeout=90)
    typist = Typist(kiosk.port)
    typist.start()
    kills = {"kiosk": 0, "postgresql": 0}
    try:
        for round_number in range(ROUNDS):
            time.sleep(rng.uniform(0.2, 1.2))
            if round_number % 2:
                durable_cluster.kill_server()
                kills["postgresql"] += 1
                time.sleep(rng.uniform(0, 0.5))  # the kiosk answers 503 meanwhile
                durable_cluster.start_server()
            else:
                kiosk.kill()
                kills["kiosk"] += 1
                kiosk.start()
                kiosk.wait_ready(timeout=90)
        typist.drain(timeout=90)
    finally:
        typist.stop.set()
        kiosk.stop()

    thanked = [s for s in typist.submissions if s.acknowledged]
    stored, person = stored_signups(url)
    stored_people = [digest for digest, _key in stored]
    unavailable = sum(1 for status in typist.visitor.statuses if status == 503)
    figure(
        f"[hub] kill -9 on PostgreSQL: {kills['kiosk']} kiosk and {kills['postgresql']} "
        f"PostgreSQL SIGKILLs in {time.monotonic() - started:.0f} s; "
        f"{len(typist.submissions)} sign-ups filled in, {len(thanked)} thanked, "
        f"{unavailable} answered 503 while PostgreSQL was down (not thanked, sent again); "
        f"{len(stored)} rows stored, {len(set(stored_people))} distinct"
    )
    assert typist.pending() == [], "every form was thanked in the end"
    assert len(thanked) >= ROUNDS, "enough sign-ups went through to mean something"
    for submission in thanked:
        assert stored_people.count(person(submission.email)) == 1, submission.email
    assert len(stored) == len(set(stored_people)) == len(typist.submissions)
    assert len({key for _digest, key in stored}) == len(stored)
    assert [s for s in typist.visitor.statuses if s >= 500 and s != 503] == [], (
        typist.visitor.bodies_with_errors
    )
