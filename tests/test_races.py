"""Every check-then-act closed by the database, not by the process: the same request many
times at the same instant, on each engine, through the app as the server runs it (one thread
per tablet, each with its own connection). On PostgreSQL these are true races; on SQLite the
writers take turns. tests/test_hub.py runs the same probes across two server processes."""

import contextlib
import io
import json
import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

import kiosk.clock
from kiosk.extensions import db
from kiosk.models import AuditEntry, CheckBudget, Event, LeadSession, Signup, Tally
from kiosk.services import events, imports, lead_auth, volunteers
from tests.data_helpers import with_email
from tests.lead_helpers import PASSPHRASE, log_in, set_passphrase
from tests.served import one_busy_cpu
from tests.test_imports import signup, tablet_bundle

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines

T = TypeVar("T")


def at_once(count: int, act: Callable[[int], T], timeout: float = 120) -> list[T]:
    """`act(0)` ... `act(count - 1)`, each in its own thread, released together."""
    barrier = threading.Barrier(count)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[number] = act(number)
        except BaseException as error:  # noqa: BLE001 - raised again below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    if errors:
        raise errors[0]
    assert len(results) == count, "every thread finished"
    return [results[n] for n in range(count)]


def scalar(app, query):
    with app.app_context():
        return db.session.scalar(query)


def signup_form(number: int, email: str = "same@example.org") -> dict[str, object]:
    return {
        "first_name": f"Tablet {number}",
        "email": email,
        "consent": "y",
        "interests": ["events"] if number % 2 else ["fundraising"],
        "idempotency_key": uuid.uuid4().hex,
    }


def test_the_same_email_from_16_tablets_at_once_is_one_sign_up_and_16_thanks(app, dialect, figure):
    statuses = at_once(16, lambda n: app.test_client().post("/signup", data=signup_form(n)))
    codes = Counter(response.status_code for response in statuses)
    with app.app_context():
        rows = list(
            db.session.scalars(select(Signup).where(with_email(Signup, "same@example.org")))
        )
    figure(f"[{dialect}] same email from 16 tablets at once: {len(rows)} row(s), {codes}")
    assert codes == {303: 16}
    assert len(rows) == 1
    # Nobody's answer was lost: both tablets' interests are merged into the one sign-up.
    assert set(rows[0].interests.split(",")) == {"events", "fundraising"}


def test_visitors_signing_up_after_the_lead_closed_the_last_event_are_all_stored(
    app, dialect, figure
):
    with app.app_context():
        events.close_event(events.active_event())
    responses = at_once(
        8, lambda n: app.test_client().post("/signup", data=signup_form(n, f"v{n}@example.org"))
    )
    codes = Counter(response.status_code for response in responses)
    with app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(Signup))
        active = list(db.session.scalars(select(Event).where(Event.status == Event.ACTIVE)))
        on_events = set(db.session.scalars(select(Signup.event_id)))
    figure(f"[{dialect}] walk-up race, 8 visitors: {stored} stored, {codes}")
    assert codes == {303: 8}
    assert stored == 8
    assert len(active) == 1 and on_events == {active[0].id}, "one walk-up event took them all"


def test_taps_after_the_lead_closed_the_last_event_all_count_on_one_walk_up_event(app):
    with app.app_context():
        events.close_event(events.active_event())
    responses = at_once(8, lambda n: app.test_client().post("/opener", data={"choice": "people"}))
    assert [r.status_code for r in responses] == [303] * 8
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Tally)) == 8
        assert len(set(db.session.scalars(select(Tally.event_id)))) == 1


def test_the_setup_link_posted_8_times_at_once_is_accepted_once(app, dialect, figure):
    with app.app_context():
        token = lead_auth.new_setup_token()
    form = {"passphrase": PASSPHRASE, "confirmation": PASSPHRASE}
    responses = at_once(8, lambda n: app.test_client().post(f"/lead/setup/{token}", data=form))
    accepted = [r for r in responses if r.status_code == 303]
    sessions = scalar(
        app,
        select(func.count()).select_from(LeadSession).where(LeadSession.revoked_at.is_(None)),
    )
    figure(
        f"[{dialect}] setup link posted 8 times at once: {len(accepted)} accepted, "
        f"{sessions} session(s); {Counter(r.status_code for r in responses)}"
    )
    assert len(accepted) == 1
    assert sessions == 1
    # The others are told the link was used already (422) or find it gone (404).
    assert all(r.status_code in (303, 404, 422) for r in responses)


def failed_logins(app) -> int:
    return scalar(
        app,
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == lead_auth.LOGIN_FAILED),
    )


def wrong_passphrase(app, address: str):
    return app.test_client().post(
        "/lead/login", data={"passphrase": "not it at all"}, environ_base={"REMOTE_ADDR": address}
    )


def test_wrong_passphrases_in_parallel_from_one_address_are_checked_as_if_one_by_one(
    app, dialect, figure, monkeypatch
):
    set_passphrase(app)
    # All in one instant, as the race is meant: on a loaded machine the thirty requests
    # could otherwise spread over more than the first slow-down's two seconds.
    instant = kiosk.clock.now()
    monkeypatch.setattr(kiosk.clock, "now", lambda: instant)
    responses = at_once(30, lambda n: wrong_passphrase(app, "10.9.0.1"))
    checked = failed_logins(app)
    codes = Counter(r.status_code for r in responses)
    figure(
        f"[{dialect}] 30 wrong passphrases at once from one address: {checked} checked "
        f"(one after another: {lead_auth.CLIENT_SLOWDOWN_AFTER}); {codes}"
    )
    # One after another in the same second, the fourth already waits (the slow-down).
    assert checked == lead_auth.CLIENT_SLOWDOWN_AFTER
    assert set(codes) <= {422, 429}


def test_wrong_passphrases_in_parallel_from_many_addresses_stop_at_the_account_limit(
    app, dialect, figure
):
    set_passphrase(app)
    responses = at_once(30, lambda n: wrong_passphrase(app, f"10.9.1.{n}"))
    checked = failed_logins(app)
    codes = Counter(r.status_code for r in responses)
    figure(
        f"[{dialect}] 30 wrong passphrases at once from 30 addresses: {checked} checked "
        f"(the account locks at {lead_auth.ACCOUNT_LOCKOUT_AFTER}); {codes}"
    )
    assert checked == lead_auth.ACCOUNT_LOCKOUT_AFTER
    assert set(codes) <= {422, 429}
    assert log_in(app.test_client()).status_code == 429, "the account is locked"


def test_wrong_pins_in_parallel_from_many_addresses_never_exceed_the_hours_budget(
    app, dialect, figure, monkeypatch
):
    with app.app_context():
        volunteers.set_volunteer_pin("4821")
    monkeypatch.setattr(volunteers, "BUDGET_CHECKS", 8)
    checked = []
    real_verify = volunteers.verify_secret

    def counting_verify(stored, secret):
        checked.append(secret)
        return real_verify(stored, secret)

    monkeypatch.setattr(volunteers, "verify_secret", counting_verify)
    responses = at_once(
        24,
        lambda n: app.test_client().post(
            "/volunteer/unlock", data={"pin": "0000"}, environ_base={"REMOTE_ADDR": f"127.0.1.{n}"}
        ),
    )
    codes = Counter(r.status_code for r in responses)
    figure(f"[{dialect}] 24 wrong PINs at once from 24 addresses, budget 8: {len(checked)} checked")
    assert len(checked) == 8
    assert codes == Counter({422: 8, 429: 16})
    assert scalar(app, select(func.count()).select_from(CheckBudget)) == 8


# ---- Imports --------------------------------------------------------------------------------

PEOPLE = 500  # enough for both files to take many short transactions each, interleaved


@pytest.fixture
def lead_clients(app):
    """Logged-in lead browsers, one per tablet file being merged. The tablets' event is
    known here (taken on first), so each file merges at once: a file of an unknown event
    would be previewed first (issue 11)."""
    set_passphrase(app)
    with app.app_context():
        imports.import_bundle(json.dumps(tablet_bundle()))

    def make(count: int) -> list:
        clients = []
        for _ in range(count):
            client = app.test_client()
            assert log_in(client).status_code == 303
            clients.append(client)
        return clients

    return make


def upload(client, raw: bytes) -> tuple[int, str]:
    """(status, page) of an import. The body is encoded here, in memory: the test client
    would spool a large one to a temporary file that nothing closes."""
    boundary, body = encode_multipart({"bundle": FileStorage(io.BytesIO(raw), "tablet.json")})
    answer = client.post(
        "/lead/import", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    return answer.status_code, answer.get_data(as_text=True)


def two_tablets_of_the_same_people() -> list[bytes]:
    """Two tablets' files of one event holding the same people, each with its own UUIDs."""
    files = []
    for tablet in ("A", "B"):
        people = [signup(f"p{n}@example.org", f"Person {n} {tablet}") for n in range(PEOPLE)]
        files.append(json.dumps(tablet_bundle(people)).encode())
    return files


@pytest.mark.crash
@pytest.mark.xdist_group("kiosk_serve")
def test_two_tablets_files_of_the_same_people_merged_at_once_are_one_sign_up_each(
    app, dialect, figure, lead_clients
):
    files = two_tablets_of_the_same_people()
    clients = lead_clients(2)
    responses = at_once(2, lambda n: upload(clients[n], files[n]), timeout=600)
    stored = scalar(app, select(func.count()).select_from(Signup).where(Signup.email != ""))
    healthy = app.test_client().get("/healthz").status_code
    codes = [status for status, _page in responses]
    figure(
        f"[{dialect}] two files of the same {PEOPLE} people merged at once: {stored} sign-ups; "
        f"answers {codes}; /healthz {healthy}"
    )
    assert codes == [200, 200]
    assert stored == PEOPLE
    assert healthy == 200


def four_imports_of_one_file_at_once(app, dialect, figure, lead_clients, load: str = "") -> None:
    people = [signup(f"q{n}@example.org", f"Person {n}") for n in range(200)]
    raw = json.dumps(tablet_bundle(people, tallies=50)).encode()
    clients = lead_clients(4)
    responses = at_once(4, lambda n: upload(clients[n], raw))
    codes = [status for status, _page in responses]
    pages = [page for _status, page in responses]
    signups = scalar(app, select(func.count()).select_from(Signup))
    tallies = scalar(app, select(func.count()).select_from(Tally))
    healthy = app.test_client().get("/healthz")
    figure(
        f"[{dialect}{load}] one file imported 4 times at once: {signups} sign-ups, {tallies} "
        f"taps; answers {codes}; /healthz {healthy.status_code}"
    )
    assert codes == [200] * 4
    assert not any("UniqueViolation" in page or "volunteer" in page for page in pages)
    assert signups == 200 and tallies == 50
    assert healthy.status_code == 200, healthy.get_json()


def test_four_imports_of_one_file_at_once_store_one_copy_and_answer_cleanly(
    app, dialect, figure, lead_clients
):
    four_imports_of_one_file_at_once(app, dialect, figure, lead_clients)


@pytest.fixture
def busy_cpu() -> Iterator[int]:
    """This process's threads (the app's, as a server's) on one CPU that another process
    burns: what a loaded Raspberry Pi feels like. Restored afterwards."""
    tasks = Path("/proc/self/task")
    before = {int(task.name): os.sched_getaffinity(int(task.name)) for task in tasks.iterdir()}
    try:
        with one_busy_cpu(os.getpid()) as cpu:
            yield cpu
    finally:
        for thread, cpus in before.items():
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.sched_setaffinity(thread, cpus)


# Among the slow tests, on one worker: the burner would slow the rest of the suite too.
@pytest.mark.crash
@pytest.mark.xdist_group("kiosk_serve")
def test_four_imports_of_one_file_at_once_answer_cleanly_on_a_busy_cpu(
    app, dialect, figure, lead_clients, busy_cpu
):
    """Issue 25: on a loaded CPU one of the four answered 503 (it waited for the write lock
    longer than the busy timeout while the others held it, transaction after transaction)."""
    four_imports_of_one_file_at_once(app, dialect, figure, lead_clients, ", one busy CPU")
