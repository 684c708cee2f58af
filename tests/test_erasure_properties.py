"""Any sequence of sign-ups, questions, exports, merges between two tablets, closings,
erasures and retention purges never erases a record that is in no export, and never brings
back a person who was erased (issue 10)."""

import csv
import io
import json
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from kiosk import clock as kiosk_clock
from kiosk import create_app
from kiosk.content import current_content
from kiosk.extensions import db
from kiosk.models import Event, Question, Signup
from kiosk.services import erasure, events, exports, imports, questions, signups
from kiosk.services.events import ensure_demo_event
from kiosk.services.settings import RETENTION_DAYS, set_setting
from tests.conftest import opened_values
from tests.data_helpers import MovableClock

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines

# Ways to type five people's addresses: the second of a pair is the same person.
ADDRESSES = [
    ("minji@example.org", "minji"),
    ("MINJI@Example.org ", "minji"),
    ("ana@example.org", "ana"),
    ("jürgen@bücher.de", "jurgen"),
    ("JU\u0308RGEN@xn--bcher-kva.de", "jurgen"),
    ("bora@example.org", "bora"),
]
PEOPLE = sorted({person for _typed, person in ADDRESSES})
KIOSKS = ("A", "B")
INTERESTS = ["events", "team", "fundraising", "jobs"]
MARKING_FORMATS = ("csv", "mailchimp", "questions", "json-kept")


def _email(person: str) -> str:
    return {"minji": "minji@example.org", "ana": "ana@example.org", "jurgen": "jürgen@bücher.de",
            "bora": "bora@example.org"}[person]  # fmt: skip


class Tablets(RuleBasedStateMachine):
    """Two kiosks sharing one event, with a model of what was exported and who was erased."""

    # A fresh, migrated database of the test's engine (the `more_databases` fixture).
    new_database: Callable[[], str]

    def __init__(self) -> None:
        super().__init__()
        self.clock = MovableClock()
        self.apps = {
            name: create_app(
                {
                    "TESTING": True,
                    "SECRET_KEY": f"secret-of-{name}",
                    "SQLALCHEMY_DATABASE_URI": self.new_database(),
                }
            )
            for name in KIOSKS
        }
        # What each kiosk wrote into an export of record: sign-up and question contents.
        self.exported: dict[str, set[tuple]] = {name: set() for name in KIOSKS}
        # person -> the step of the latest erasure each kiosk knows of.
        self.erased: dict[str, dict[str, int]] = {name: {} for name in KIOSKS}
        # record UUID -> the step it was first stored at, on whichever kiosk.
        self.born: dict[str, int] = {}
        self.now = 0

    def teardown(self) -> None:
        for app in self.apps.values():
            with app.app_context():
                db.session.remove()
                db.engine.dispose()

    def tick(self) -> int:
        self.now += 1
        self.clock.move(seconds=1)
        return self.now

    def ctx(self, kiosk: str):
        return self.apps[kiosk].app_context()

    def event(self) -> Event:
        return db.session.scalar(select(Event).where(Event.uuid == self.event_uuid))

    @initialize()
    def share_one_event(self) -> None:
        kiosk_clock.now = self.clock  # restored by the test below
        with self.ctx("A"):
            set_setting(RETENTION_DAYS, "1")
            shared = ensure_demo_event()
            self.event_uuid = shared.uuid
            bundle = exports.json_bundle(shared)
        with self.ctx("B"):  # B joins A's event by importing its (empty) file
            set_setting(RETENTION_DAYS, "1")
            imports.import_bundle(bundle)
            events.activate_event(self.event())

    # ---- What happens at the table -------------------------------------------------------

    @rule(
        kiosk=st.sampled_from(KIOSKS),
        address=st.sampled_from(ADDRESSES),
        name=st.sampled_from(["Minji", "Ana", "Jürgen", "Bora", "M."]),
        phone=st.sampled_from(["", "+12025550101", "+12025550202"]),
        chosen=st.lists(st.sampled_from(INTERESTS), max_size=2, unique=True),
    )
    def sign_up(self, kiosk, address, name, phone, chosen) -> None:
        now = self.tick()
        with self.ctx(kiosk):
            record = signups.record_signup(
                first_name=name, email=address[0], phone=phone, interests=chosen, consent=True
            )
            self.born.setdefault(record.uuid, now)

    @rule(
        kiosk=st.sampled_from(KIOSKS),
        address=st.sampled_from(ADDRESSES),
        text=st.text(max_size=20),
    )
    def ask(self, kiosk, address, text) -> None:
        now = self.tick()
        with self.ctx(kiosk):
            record = questions.record_question(
                question=f"Question {now} {text}", email=address[0], consent=True
            )
            self.born.setdefault(record.uuid, now)

    # ---- What the lead does --------------------------------------------------------------

    @rule(kiosk=st.sampled_from(KIOSKS), name=st.sampled_from(MARKING_FORMATS + ("json",)))
    def export(self, kiosk, name) -> None:
        self.tick()
        keep = name == "json-kept"
        format_name = "json" if name.startswith("json") else name
        with self.ctx(kiosk):
            event = self.event()
            marks = exports.Marks()
            text = "".join(exports.export_chunks(event, format_name, marks))
            exports.mark_exported(event, format_name, marks=marks, keep=keep)
            if name in MARKING_FORMATS:
                self.exported[kiosk] |= contents_of_export(name, text)

    @rule(source=st.sampled_from(KIOSKS))
    def merge(self, source) -> None:
        target = "B" if source == "A" else "A"
        self.tick()
        with self.ctx(source):
            bundle = exports.json_bundle(self.event())
        with self.ctx(target):
            try:
                imports.import_bundle(bundle)
            except imports.ImportRefused as refused:
                assert "erased on this kiosk" in str(refused)
                return
        # The file carries every tombstone the source holds for the event.
        for person, when in self.erased[source].items():
            self.erased[target][person] = max(self.erased[target].get(person, 0), when)

    @rule(kiosk=st.sampled_from(KIOSKS), person=st.sampled_from(PEOPLE))
    def erase_person(self, kiosk, person) -> None:
        now = self.tick()
        with self.ctx(kiosk):
            erasure.erase_person(_email(person))
        self.erased[kiosk][person] = now

    @rule(kiosk=st.sampled_from(KIOSKS))
    def close(self, kiosk) -> None:
        self.tick()
        with self.ctx(kiosk):
            event = self.event()
            if event.status == Event.ACTIVE:
                events.close_event(event)

    @rule(kiosk=st.sampled_from(KIOSKS))
    def erase_event(self, kiosk) -> None:
        self.tick()
        with self.ctx(kiosk):
            event = self.event()
            before = personal_contents(event)
            try:
                erasure.erase_event(event)
            except erasure.ErasureRefused as refused:
                assert event.status == Event.ACTIVE or refused.unexported
                return
            self.assert_nothing_unexported_was_lost(kiosk, before, personal_contents(event))

    @precondition(lambda self: self.now > 0)
    @rule(kiosk=st.sampled_from(KIOSKS))
    def purge_after_the_retention_days(self, kiosk) -> None:
        self.tick()
        self.clock.move(days=2)
        with self.ctx(kiosk):
            event = self.event()
            before = personal_contents(event)
            erasure.purge_expired()
            self.assert_nothing_unexported_was_lost(kiosk, before, personal_contents(event))

    # ---- The promises ----------------------------------------------------------------------

    def assert_nothing_unexported_was_lost(self, kiosk, before: set, after: set) -> None:
        lost = before - after - self.exported[kiosk]
        assert not lost, f"{kiosk} erased records that were in no export: {lost}"

    @invariant()
    def no_erased_person_comes_back(self) -> None:
        if not self.now:
            return
        for kiosk in KIOSKS:
            with self.ctx(kiosk):
                for model in (Signup, Question):
                    for uuid, email in db.session.execute(select(model.uuid, model.email)):
                        person = next((p for p in PEOPLE if _email(p) == email), None)
                        erased_at = self.erased[kiosk].get(person, 0)
                        assert self.born[uuid] > erased_at, (
                            f"{kiosk} holds a {model.__name__} of {person} from step "
                            f"{self.born[uuid]}, erased at step {erased_at}"
                        )


def personal_contents(event: Event) -> set[tuple]:
    """The event's sign-ups and questions as an export shows them."""
    labels = {i.key: i.label for i in current_content().interests}
    found: set[tuple] = set()
    for s in db.session.scalars(select(Signup).where(Signup.event_id == event.id)):
        chosen = frozenset(labels[k] for k in s.interests.split(",") if k)
        found.add(("signup", s.email, s.first_name, s.last_name, s.phone, chosen))
    for q in db.session.scalars(select(Question).where(Question.event_id == event.id)):
        found.add(("question", q.email, q.text))
    return found


def cell(value: str) -> str:
    """A CSV cell as typed: without the ' that neutralised a formula."""
    if value.startswith("'") and value[1:].startswith(exports.FORMULA_STARTS):
        return value[1:]
    return value


def contents_of_export(name: str, text: str) -> set[tuple]:
    """What an export file holds, read back as a person would, in personal_contents' form."""
    if name == "json-kept":
        bundle = opened_values(json.loads(text))  # its personal fields travel sealed
        labels = {i.key: i.label for i in current_content().interests}
        people = {
            (
                "signup",
                s["email"],
                s["first_name"],
                s["last_name"],
                s["phone"],
                frozenset(labels[k] for k in s["interests"]),
            )
            for s in bundle["signups"]
        }
        return people | {("question", q["email"], q["text"]) for q in bundle["questions"]}
    rows = [
        {key: cell(value) for key, value in row.items()}
        for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    ]
    if name == "csv":
        return {
            (
                "signup",
                r["Email"],
                r["First Name"],
                r["Last Name"],
                r["Phone"],
                frozenset(x for x in r["Interests"].split("; ") if x),
            )
            for r in rows
        }
    if name == "mailchimp":
        return {
            (
                "signup",
                r["Email Address"],
                r["First Name"],
                r["Last Name"],
                r["Phone Number"],
                frozenset(r["Tags"].split(",")[1:]),
            )
            for r in rows
        }
    return {("question", r["Email"], r["Question"]) for r in rows}


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_no_sequence_loses_an_unexported_record_or_brings_back_an_erased_person(
    more_databases, monkeypatch
):
    monkeypatch.setattr(kiosk_clock, "now", kiosk_clock.now)  # the machine replaces it
    Tablets.new_database = staticmethod(more_databases)
    run_state_machine_as_test(
        Tablets,
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_the_model_reads_exports_back_as_the_records_read(app):
    """The property above compares exports with records: the two readings must agree."""
    with app.app_context():
        signups.record_signup(
            first_name="=Ana", email="ana@example.org", phone="+12025550100", consent=True,
            interests=["team", "jobs"],
        )  # fmt: skip
        questions.record_question(question="-1?", email="q@example.org", consent=True)
        event = events.active_event()
        records = personal_contents(event)
        for name, format_name in (("csv", "csv"), ("mailchimp", "mailchimp")):
            text = "".join(exports.export_chunks(event, format_name))
            assert {r for r in records if r[0] == "signup"} == contents_of_export(name, text)
        text = "".join(exports.export_chunks(event, "questions"))
        assert {r for r in records if r[0] == "question"} == contents_of_export("questions", text)
        text = "".join(exports.export_chunks(event, "json"))
        assert records == contents_of_export("json-kept", text)
