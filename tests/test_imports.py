"""Merging tablets: importing JSON bundles by UUID, idempotently, refusing bad files whole."""

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import AuditEntry, Event, Pledge, Question, Signup, Tally
from kiosk.services import events, imports

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines

EVENT_UUID = str(uuid.uuid4())
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def signup(email: str, first: str, minutes: int = 0, **extra) -> dict:
    return {
        "uuid": str(uuid.uuid4()),
        "first_name": first,
        "last_name": "",
        "email": email,
        "phone": "",
        "organisation": "",
        "interests": [],
        "source": "kiosk",
        "consent_version": "2026-01",
        "consent_text": "You may email me.",
        "consent_at": at(minutes),
        "created_at": at(minutes),
        "updated_at": at(minutes),
    } | extra


def tablet_bundle(signups=(), tallies=0, pledges=(), questions=()) -> dict:
    return {
        "format": "rescue-team-kiosk/event",
        "version": 1,
        "exported_at": at(300),
        "event": {
            "uuid": EVENT_UUID,
            "name": "Autumn fair",
            "date": "2026-11-20",
            "place": "Quad",
            "goal_cents": 300000,
            "rescue_cost_cents": 300000,
            "tracking_source": "autumn",
            "status": "active",
            "created_at": at(-60),
            "closed_at": None,
        },
        "signups": list(signups),
        "pledges": [
            {
                "uuid": str(uuid.uuid4()),
                "kind": "once",
                "amount_cents": cents,
                "name": "",
                "email": "",
                "consent_version": None,
                "consent_text": None,
                "consent_at": None,
                "created_at": at(5),
            }
            for cents in pledges
        ],
        "questions": [
            {
                "uuid": str(uuid.uuid4()),
                "text": text,
                "email": "",
                "answered": False,
                "consent_version": None,
                "consent_text": None,
                "consent_at": None,
                "created_at": at(6),
            }
            for text in questions
        ],
        "tallies": [
            {"uuid": str(uuid.uuid4()), "kind": "opener", "key": "people", "created_at": at(n)}
            for n in range(tallies)
        ],
    }


def snapshot() -> dict:
    """Everything an import could change, to compare before and after."""
    return {
        model.__name__: sorted(
            tuple(str(v) for v in row)
            for row in db.session.execute(select(*model.__table__.columns)).all()
        )
        for model in (Event, Signup, Pledge, Question, Tally)
    }


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def signups_starting(prefix: str) -> list[tuple[str, str]]:
    """(uuid, email) of the sign-ups whose email starts with `prefix`, read opened (the tests'
    key): a sealed column cannot be matched in SQL."""
    rows = db.session.execute(select(Signup.uuid, Signup.email))
    return [(uuid_, email) for uuid_, email in rows if email.startswith(prefix)]


def test_importing_a_bundle_adds_its_event_and_records(app):
    bundle = tablet_bundle(
        [signup("a@example.org", "Ana")], tallies=3, pledges=[2500], questions=["Why?"]
    )
    with app.app_context():
        report = imports.import_bundle(json.dumps(bundle), actor="test")
        assert report.event_created
        assert report.added == {"signups": 1, "pledges": 1, "questions": 1, "tallies": 3}
        event = db.session.scalar(select(Event).where(Event.uuid == EVENT_UUID))
        # An imported event never takes over as the active one.
        assert event.status == Event.PLANNED
        assert count(Tally, Tally.event_id == event.id) == 3
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "import"))
        assert "added 1 signups" in entry.detail


def test_importing_the_same_file_twice_changes_nothing(app):
    bundle = json.dumps(tablet_bundle([signup("a@example.org", "Ana")], tallies=4, pledges=[1000]))
    with app.app_context():
        imports.import_bundle(bundle)
        before = snapshot()
        report = imports.import_bundle(bundle)
        assert report.added == {} and report.merged == 0
        assert report.skipped == {"signups": 1, "pledges": 1, "tallies": 4}
        assert snapshot() == before


def test_two_tablets_files_merge_and_the_same_person_becomes_one_signup(app):
    first = signup("jisoo@example.org", "Jisoo", 10, interests=["events"], phone="(202) 555-0101")
    second = signup("JISOO@example.org", "Ji-soo", 40, interests=["fundraising"], last_name="Kim")
    tablet_a = tablet_bundle([first, signup("ana@example.org", "Ana")], tallies=2)
    tablet_b = tablet_bundle([second, signup("ben@example.org", "Ben")], tallies=3)
    tablet_b["tallies"][0] = tablet_a["tallies"][0]  # a record both tablets carry
    with app.app_context():
        imports.import_bundle(json.dumps(tablet_a))
        report = imports.import_bundle(json.dumps(tablet_b))
        assert report.merged == 1
        assert report.added == {"signups": 1, "tallies": 2}
        assert report.skipped == {"tallies": 1}
        # Ordered by the opened addresses: sealed ones have no order in SQL.
        people = sorted(db.session.scalars(select(Signup)), key=lambda p: p.email)
        assert [p.email for p in people] == [
            "ana@example.org",
            "ben@example.org",
            "jisoo@example.org",
        ]
        jisoo = people[2]
        assert jisoo.uuid == first["uuid"]
        assert (jisoo.first_name, jisoo.last_name, jisoo.phone) == ("Ji-soo", "Kim", "+12025550101")
        assert set(jisoo.interests.split(",")) == {"events", "fundraising"}
        assert count(Tally) == 4
        # and importing B again is a no-op, reported as skipped
        again = imports.import_bundle(json.dumps(tablet_b))
        assert again.merged == 0 and again.added == {}


def test_a_bundle_merges_into_signups_made_on_this_kiosk(app):
    with app.app_context():
        imports.import_bundle(json.dumps(tablet_bundle([signup("a@example.org", "Ana")])))
        event = db.session.scalar(select(Event).where(Event.uuid == EVENT_UUID))
        local = Signup(event_id=event.id, first_name="Ana", email="b@example.org")
        db.session.add(local)
        db.session.commit()
        later = signup("b@example.org", "Anabel", 120, organisation="Uni")
        report = imports.import_bundle(json.dumps(tablet_bundle([later])))
        assert report.merged == 1
        assert count(Signup) == 2
        assert db.session.get(Signup, local.id).organisation == "Uni"


def tampered(mutate) -> str:
    bundle = tablet_bundle([signup("a@example.org", "Ana")], tallies=2, pledges=[500])
    mutate(bundle)
    return json.dumps(bundle)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x89PNG\r\n\x1a\n", "not valid JSON"),
        ('{"format": "rescue-team-kiosk/event", ', "not valid JSON"),
        (json.dumps([1, 2, 3]), "not a Rescue Team Kiosk event export"),
        (json.dumps({"format": "mailchimp", "version": 1}), "not a Rescue Team Kiosk event export"),
        (tampered(lambda b: b.update(version=3)), "version 3"),
        (tampered(lambda b: b.update(tombstones=["not hex"])), "tombstones"),
        (tampered(lambda b: b.update(tombstones=["a" * 64])), "no key for them"),
        (tampered(lambda b: b.update(erasures=[["a" * 64]])), "erasures: expected"),
        (tampered(lambda b: b.update(erasures=[["a" * 64, "DROP TABLE"]])), "erasures: expected"),
        (tampered(lambda b: b.update(erasures={"a": 1})), "erasures: expected"),
        (tampered(lambda b: b.update(erasures=[["a" * 64, "1-2"]])), "no key for them"),
        (tampered(lambda b: b["event"].update(erasure_key="short")), "event.erasure_key"),
        (tampered(lambda b: b["event"].pop("uuid")), "event.uuid"),
        (tampered(lambda b: b.update(signups={"a": 1})), "signups: expected a list"),
    ],
    # The tampered bundles carry fresh UUIDs: ids from the message keep every xdist
    # worker collecting the same test names.
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else "file",
)
def test_a_malformed_foreign_or_tampered_file_is_refused_and_changes_nothing(app, raw, message):
    with app.app_context():
        imports.import_bundle(json.dumps(tablet_bundle([signup("z@example.org", "Zoe")])))
        before = snapshot()
        audit_before = count(AuditEntry)
        with pytest.raises(
            imports.ImportRefused, match=message.replace("[", r"\[").replace("]", r"\]")
        ):
            imports.import_bundle(raw)
        assert snapshot() == before
        assert count(AuditEntry) == audit_before


@pytest.mark.parametrize(
    ("mutate", "where", "reason"),
    [
        (lambda b: b["signups"][0].update(uuid="not-a-uuid"), "signups[0]", "uuid: not a UUID"),
        (lambda b: b["signups"][0].update(email="nobody"), "signups[0]", "email"),
        (lambda b: b["signups"][0].update(email="@"), "signups[0]", "email"),
        (lambda b: b["signups"][0].update(email="a b@ex ample.com"), "signups[0]", "email"),
        (lambda b: b["signups"][0].update(first_name="x" * 81), "signups[0]", "under 80"),
        (lambda b: b["signups"][0].update(first_name="\u202e\x00"), "signups[0]", "first_name"),
        (lambda b: b["signups"][0].update(first_name="\ud800"), "signups[0]", "first_name"),
        (
            lambda b: b["signups"][0].update(created_at="9999-12-31T23:59:59-01:00"),
            "signups[0]",
            "created_at",
        ),
        (lambda b: b["pledges"][0].update(amount_cents="500"), "pledges[0]", "amount_cents"),
        (lambda b: b["pledges"][0].update(amount_cents=-5), "pledges[0]", "amount_cents"),
        (lambda b: b["pledges"][0].update(email="x@"), "pledges[0]", "email"),
        (lambda b: b["tallies"][1].update(kind="signup"), "tallies[1]", "kind"),
        (lambda b: b["tallies"][1].update(created_at="yesterday"), "tallies[1]", "created_at"),
        (lambda b: b["tallies"].append(copy.deepcopy(b["tallies"][0])), "tallies[2]", "twice"),
        (lambda b: b["tallies"].append("not an object"), "tallies[2]", "expected an object"),
    ],
)
def test_a_record_that_fails_its_checks_is_reported_and_the_rest_merge(app, mutate, where, reason):
    bundle = tablet_bundle([signup("a@example.org", "Ana")], tallies=2, pledges=[500])
    mutate(bundle)
    with app.app_context():
        report = imports.import_bundle(json.dumps(bundle))
        [(place, why)] = report.invalid
        assert place == where and reason in why
        kind = where.split("[")[0]
        stored = {"signups": count(Signup), "pledges": count(Pledge), "tallies": count(Tally)}
        expected = {"signups": 1, "pledges": 1, "tallies": 2}
        if not where.endswith("[2]"):
            expected[kind] -= 1
        assert stored == expected
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "import"))
        assert "1 invalid" in entry.detail


def test_imported_text_is_cleaned_like_the_forms(app):
    dirty = signup(" ANA@Example.ORG ", "An\u202ea\x1b", last_name="Kim\x00", phone="")
    with app.app_context():
        imports.import_bundle(json.dumps(tablet_bundle([dirty])))
        person = db.session.scalar(select(Signup))
        assert (person.first_name, person.last_name, person.email) == (
            "Ana",
            "Kim",
            "ana@example.org",
        )


def test_a_file_whose_last_record_clashes_is_refused_whole(app):
    """Validation passes, but a UUID here belongs to another event: nothing is written."""
    with app.app_context():
        other = events.new_event(name="Elsewhere", status=Event.PLANNED)
        db.session.add(other)
        db.session.flush()
        clash = Tally(event_id=other.id, kind="opener", key="people")
        db.session.add(clash)
        db.session.commit()
        bundle = tablet_bundle([signup("a@example.org", "Ana")], tallies=3)
        bundle["tallies"][-1]["uuid"] = clash.uuid
        before = snapshot()
        with pytest.raises(imports.ImportRefused, match="belongs to another event"):
            imports.import_bundle(json.dumps(bundle))
        assert snapshot() == before


def test_an_erased_event_is_not_brought_back_by_an_import(app):
    bundle = json.dumps(tablet_bundle([signup("a@example.org", "Ana")]))
    with app.app_context():
        imports.import_bundle(bundle)
        event = db.session.scalar(select(Event).where(Event.uuid == EVENT_UUID))
        db.session.execute(Signup.__table__.delete())
        event.erased_at = datetime.now(UTC)
        db.session.commit()
        with pytest.raises(imports.ImportRefused, match="erased"):
            imports.import_bundle(bundle)
        assert count(Signup) == 0


def test_kiosk_import_reports_and_refuses_clearly(app, runner, tmp_path):
    good = tmp_path / "tablet-a.json"
    good.write_text(json.dumps(tablet_bundle([signup("a@example.org", "Ana")], tallies=2)))
    result = runner.invoke(args=["import", str(good)])
    assert result.exit_code == 0, result.output
    assert "added 1 signups, 2 tallies" in result.output
    again = runner.invoke(args=["import", str(good)])
    assert "skipped 1 signups, 2 tallies" in again.output
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    refused = runner.invoke(args=["import", str(bad)])
    assert refused.exit_code != 0
    assert "not valid JSON" in refused.output and "Nothing was imported" in refused.output


@pytest.mark.parametrize(
    ("batch_takes", "transactions"),
    [
        (0.4, 4),  # a quick CPU: three batches pass the budget, so 10 batches in 4 commits
        (2.0, 10),  # a loaded one: each batch alone spends the budget, a commit after each
    ],
)
def test_an_import_commits_when_its_time_is_spent_not_after_a_count_of_records(
    app, monkeypatch, batch_takes, transactions
):
    """Issue 25: the same file makes shorter transactions on a slower CPU, not longer ones.
    The import's clock is a fake one that only each batch moves (by a share of the budget)."""
    people = [signup(f"slow{n}@example.org", f"Person {n}") for n in range(10 * imports.BATCH)]
    now = [0.0]
    real_write_batch = imports._write_batch

    def batch_taking_its_time(*args, **kwargs) -> None:
        real_write_batch(*args, **kwargs)
        now[0] += batch_takes * imports.CHUNK_BUDGET_S

    monkeypatch.setattr(imports, "_write_batch", batch_taking_its_time)
    # The import's own clock only: the pool's and the threads' keep the real one.
    fake_time = SimpleNamespace(monotonic=lambda: now[0], sleep=lambda _seconds: None)
    monkeypatch.setattr(imports, "time", fake_time)
    transactions_made = []
    real_write_for_a_while = imports._write_for_a_while

    def counted(*args, **kwargs) -> int:
        transactions_made.append(1)
        return real_write_for_a_while(*args, **kwargs)

    monkeypatch.setattr(imports, "_write_for_a_while", counted)
    with app.app_context():
        imports.import_bundle(json.dumps(tablet_bundle()))  # the event, known here
        report = imports.import_bundle(json.dumps(tablet_bundle(people)))
        assert len(signups_starting("slow")) == 10 * imports.BATCH
    assert report.added == {"signups": 10 * imports.BATCH}
    assert len(transactions_made) == transactions


def test_a_bundle_with_a_5000_digit_integer_is_refused_in_one_line(app, runner, tmp_path):
    bundle = json.dumps(tablet_bundle([signup("a@example.org", "Ana")]))
    huge = tmp_path / "huge.json"
    huge.write_text(bundle.replace('"version": 1', '"version": ' + "9" * 5000))
    refused = runner.invoke(args=["import", str(huge)])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "a number of 5,000 digits" in refused.output
    assert "Nothing was imported" in refused.output
    assert len(refused.output.strip().splitlines()) <= 3
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Signup)) == 0


def test_an_import_cut_short_completes_when_run_again_with_no_duplicates(app, monkeypatch):
    people = [signup(f"cut{n}@example.org", f"Person {n}") for n in range(450)]
    bundle = tablet_bundle(people, tallies=30, pledges=[500] * 20)
    raw = json.dumps(bundle)
    written = []
    real_write_batch = imports._write_batch
    # Ten batches per transaction, whatever the time they take.
    monkeypatch.setattr(imports, "CHUNK_BUDGET_S", float("inf"))
    per_transaction = 10
    real_write_for_a_while = imports._write_for_a_while
    monkeypatch.setattr(
        imports,
        "_write_for_a_while",
        lambda bundle, event, batches, *rest: real_write_for_a_while(
            bundle, event, batches[:per_transaction], *rest
        ),
    )

    def power_cut_amid_the_third_transaction(*args, **kwargs) -> None:
        if len(written) == 2 * per_transaction + 3:
            raise RuntimeError("the plug was pulled")
        real_write_batch(*args, **kwargs)
        written.append(1)

    with app.app_context():
        monkeypatch.setattr(imports, "_write_batch", power_cut_amid_the_third_transaction)
        with pytest.raises(RuntimeError):
            imports.import_bundle(raw)
        monkeypatch.setattr(imports, "_write_batch", real_write_batch)
        # The two transactions committed before the cut stayed; the third left nothing.
        committed = 2 * per_transaction * imports.BATCH
        assert len(signups_starting("cut")) == committed

        report = imports.import_bundle(raw)
        assert report.added == {"signups": 50, "pledges": 20, "tallies": 30}
        assert report.skipped == {"signups": committed}
        stored = signups_starting("cut")
        assert sorted(stored) == sorted((p["uuid"], p["email"]) for p in people)
        assert count(Pledge) == 20 and count(Tally) == 30
        assert count(Event, Event.uuid == EVENT_UUID) == 1

        # And once more: the whole file is here, so nothing changes.
        before = snapshot()
        again = imports.import_bundle(raw)
        assert again.added == {} and again.merged == 0
        assert snapshot() == before
