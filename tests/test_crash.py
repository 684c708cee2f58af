"""The crash test: sign-ups over HTTP from four tablets at once while `kiosk serve` is SIGKILLed
at random moments, 50 times in `make test` and 200 in `make test-crash`, which CI runs after it
(KIOSK_CRASH_KILLS=1000 for a longer night run).
Every sign-up the kiosk thanked a visitor for is stored exactly once, the retries (same
idempotency key) duplicate nothing, and SQLite's integrity_check is ok.

Four tablets, not one: a kill that lands while a sign-up is on its way is what the test is
for, and one tablet had one in flight at about one kill in twelve (10 of 120).

Runs in `make test` (about a minute and a half on two cores, beside the other tests).
"""

import http.client
import os
import random
import threading
import time

import pytest

from tests.served import (
    Kiosk,
    Submission,
    Visitor,
    free_port,
    integrity,
    people_of,
    stored_signups,
)

# One xdist worker runs the `kiosk serve` tests one after the other (their ports, two cores).
pytestmark = [pytest.mark.crash, pytest.mark.xdist_group("kiosk_serve")]

KILLS = int(os.environ.get("KIOSK_CRASH_KILLS", "50"))
TABLETS = 4
# Each run of the server is killed at a moment drawn uniformly from its start to this long
# after it first answered: while it starts (imports, checks, migrations) or while it serves.
SERVING_WINDOW = 0.45


class Typist(threading.Thread):
    """One visitor after another filling in the sign-up form, resending what wasn't thanked."""

    def __init__(self, port: int, name: str = "crash") -> None:
        super().__init__(daemon=True)
        self.visitor = Visitor(port, name)
        self.submissions: list[Submission] = []
        self.stop = threading.Event()
        # No new visitors; resend what is still unthanked, then end. The typist decides when
        # it is drained: a watcher reading pending() could look between "not closing yet"
        # and the append of a freshly filled-in form, and stop it before it is ever sent.
        self.closing = threading.Event()
        self.connection_failures = 0
        self.odd_answers: list[str] = []

    def pending(self) -> list[Submission]:
        return [s for s in self.submissions if not s.acknowledged]

    def drain(self, timeout: float) -> None:
        """Stop taking new visitors and wait until every form filled in so far is thanked."""
        self.closing.set()
        self.join(timeout=timeout)
        self.stop.set()
        self.join(timeout=30)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                waiting = self.pending()
                if waiting:
                    self.visitor.send(waiting[0])  # the same form, the same key: a retry
                elif not self.closing.is_set():
                    self.submissions.append(self.visitor.fill_in_signup(len(self.submissions)))
                else:
                    return  # closing, and every form it filled in was thanked
            except (OSError, http.client.HTTPException):
                self.connection_failures += 1  # the server was killed mid-request
                time.sleep(0.03)
            except AssertionError as error:  # an answer that was not the form: noted, retried
                self.odd_answers.append(str(error))
                time.sleep(0.03)


def test_no_thanked_sign_up_is_lost_or_duplicated_when_the_server_is_killed(tmp_path, figure):
    rng = random.Random(os.environ.get("KIOSK_CRASH_SEED", "kiosk"))
    kiosk = Kiosk(tmp_path / "instance", free_port())
    started = time.monotonic()
    kiosk.start()
    kiosk.wait_ready()  # first start: migrations and the demo event
    # A kill may land anywhere in a restart or in serving: the window is a restart's length,
    # not the first start's (its migrations would stretch every wait of the test).
    kiosk.kill()
    restarted = time.monotonic()
    kiosk.start()
    kiosk.wait_ready()
    start_up = time.monotonic() - restarted
    typists = [Typist(kiosk.port, f"crash-{n}") for n in range(TABLETS)]
    for typist in typists:
        typist.start()
    kills = 0
    try:
        while kills < KILLS:
            if kills:
                kiosk.start()
            time.sleep(rng.uniform(0, start_up + SERVING_WINDOW))
            kiosk.kill()
            kills += 1
        # Calm again: let every unthanked form be resent until the kiosk thanks it.
        kiosk.start()
        kiosk.wait_ready()
        for typist in typists:
            typist.drain(timeout=60)
    finally:
        for typist in typists:
            typist.stop.set()
        kiosk.stop()

    submissions = [s for typist in typists for s in typist.submissions]
    statuses = [status for typist in typists for status in typist.visitor.statuses]
    thanked = [s for s in submissions if s.acknowledged]
    stored = stored_signups(kiosk.database)
    stored_people = [person for person, _ in stored]  # digests: the emails are sealed
    person = people_of(kiosk.database)
    retried = sum(1 for s in submissions if s.attempts > 1)
    cut = sum(typist.connection_failures for typist in typists)
    odd = sum(len(typist.odd_answers) for typist in typists)
    figure(  # the counts show in `make test` and CI, not only on failure
        f"crash test: {KILLS} SIGKILLs in {time.monotonic() - started:.0f} s, {TABLETS} "
        f"tablets; {len(submissions)} sign-ups filled in, {len(thanked)} thanked, "
        f"{retried} resent after a kill, {cut} connections cut, {odd} odd answers; "
        f"{len(stored)} rows stored, {len(set(stored_people))} distinct; "
        f"integrity_check: {integrity(kiosk.database)}"
    )
    assert kills == KILLS
    assert [status for status in statuses if status >= 500] == []
    assert [typist.pending() for typist in typists] == [[]] * TABLETS, "every form thanked"
    assert len(thanked) >= KILLS // 4, "enough sign-ups went through to mean something"
    assert retried > 0, "some kills cut a sign-up off, so retries were exercised"
    for submission in thanked:
        assert stored_people.count(person(submission.email)) == 1, submission.email
    assert len(stored) == len(set(stored_people)) == len(submissions)
    assert len({key for _, key in stored}) == len(stored)
    assert integrity(kiosk.database) == ["ok"]
