"""The contention test: 8 visitors at once, 200 sign-ups each, against one `kiosk serve`:
every sign-up stored exactly once, no 5xx, no "database is locked"."""

import threading
import time

import pytest

from kiosk.services.database_health import CAUSES
from tests.served import Kiosk, Visitor, free_port, integrity, people_of, stored_signups

# One xdist worker runs the `kiosk serve` tests one after the other (their ports, two cores).
pytestmark = [pytest.mark.crash, pytest.mark.xdist_group("kiosk_serve")]

# How kiosk/errors.py words "database is locked" for the volunteer, in the server's log.
BUSY_CAUSE = str(dict(CAUSES)["locked"])
CLIENTS = 8
SIGNUPS_EACH = 200


def test_eight_visitors_signing_up_at_once_are_all_stored_once_without_errors(tmp_path, figure):
    kiosk = Kiosk(tmp_path / "instance", free_port())
    kiosk.start()
    visitors = [Visitor(kiosk.port, f"client{n}") for n in range(CLIENTS)]
    thanked: list[str] = []
    failures: list[str] = []

    def sign_up_many(visitor: Visitor) -> None:
        for number in range(SIGNUPS_EACH):
            try:
                submission = visitor.fill_in_signup(number)
                if visitor.send(submission):
                    thanked.append(submission.email)
                else:
                    failures.append(f"{submission.email}: {visitor.statuses[-1]}")
            except Exception as error:  # noqa: BLE001 - counted and reported below
                failures.append(f"{visitor.name}-{number}: {error!r}")

    try:
        kiosk.wait_ready()
        started = time.monotonic()
        threads = [threading.Thread(target=sign_up_many, args=(v,)) for v in visitors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        elapsed = time.monotonic() - started
    finally:
        kiosk.stop()

    statuses = [status for visitor in visitors for status in visitor.statuses]
    server_errors = [s for s in statuses if s >= 500]
    locked = [body for v in visitors for body in v.bodies_with_errors if "locked" in body]
    log = kiosk.log.read_text()
    busy = log.count("database is locked") + log.count(BUSY_CAUSE)
    stored = stored_signups(kiosk.database)
    figure(  # the counts show in `make test` and CI, not only on failure
        f"contention test: {CLIENTS} clients x {SIGNUPS_EACH} sign-ups in {elapsed:.1f} s; "
        f"{len(statuses)} requests, {len(thanked)} thanked, {len(stored)} rows stored, "
        f"{len(server_errors)} 5xx, {len(locked) + busy} "
        f"'database is locked', {len(failures)} failures"
    )
    assert failures == []
    assert server_errors == []
    assert locked == [] and busy == 0
    assert len(thanked) == CLIENTS * SIGNUPS_EACH
    person = people_of(kiosk.database)  # the emails are sealed: people by their digests
    assert sorted(digest for digest, _ in stored) == sorted(person(email) for email in thanked)
    assert integrity(kiosk.database) == ["ok"]
