"""Erasing a person sticks: a tombstone (a keyed hash, no plaintext) that every import honours
and every JSON export carries, and one canonical email to find them by (issue 10, point 3)."""

import json

import pytest
from sqlalchemy import select

from kiosk import create_app
from kiosk.extensions import db
from kiosk.models import Event, Pledge, Question, Signup
from kiosk.services import events, exports, imports
from kiosk.services.events import ensure_demo_event
from tests.data_helpers import (
    count,
    lead_erases_person,
    lead_imports,
    lead_looks_up_person,
    visitor_signs_up,
    with_email,
)
from tests.test_imports import signup, tablet_bundle

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


@pytest.fixture
def other_kiosk(more_databases):
    """A second tablet: its own database (of the test's engine), and its own secret key."""
    other = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "another-secret",
            "SQLALCHEMY_DATABASE_URI": more_databases(),
            "WTF_CSRF_ENABLED": False,
        }
    )
    with other.app_context():
        ensure_demo_event()
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def json_export(app, event_uuid: str | None = None) -> str:
    """The JSON bundle of an event (the active one by default) as another tablet gets it."""
    with app.app_context():
        event = (
            db.session.scalar(select(Event).where(Event.uuid == event_uuid))
            if event_uuid
            else events.active_event()
        )
        return "".join(exports.export_chunks(event, "json"))


def test_an_erased_person_is_not_brought_back_by_the_next_merge(app, lead, clock):
    bundle = json.dumps(
        tablet_bundle([signup("minji@example.org", "Minji"), signup("ana@example.org", "Ana")])
    ).encode()
    assert lead_imports(lead, bundle).status_code == 200
    assert "Erased: 1 sign-up" in lead_erases_person(lead, "minji@example.org").get_data(
        as_text=True
    )

    again = lead_imports(lead, bundle)

    assert again.status_code == 200
    assert "1 erased person was not restored" in again.get_data(as_text=True)
    assert count(app, Signup, with_email(Signup, "minji@example.org")) == 0
    assert count(app, Signup) == 1


def test_an_erased_person_is_not_restored_from_another_event_or_in_another_form(app, lead, clock):
    """The same person in a tablet's file of another event, their email typed otherwise."""
    first = json.dumps(tablet_bundle([signup("jürgen@bücher.de", "Jürgen")])).encode()
    lead_imports(lead, first)
    lead_erases_person(lead, "jürgen@bücher.de")
    other_event = tablet_bundle([signup("JU\u0308RGEN@xn--bcher-kva.de", "Jürgen")])
    other_event["event"]["uuid"] = "5f0c3d53-8c1e-4b53-9b43-3a1f3f2f0a11"
    other_event["event"]["name"] = "Winter fair"

    report = lead_imports(lead, json.dumps(other_event).encode()).get_data(as_text=True)

    assert "1 erased person was not restored" in report
    assert count(app, Signup) == 0


@pytest.mark.parametrize(
    "typed",
    ["jürgen@xn--bcher-kva.de", "JU\u0308RGEN@BU\u0308CHER.DE", "  Jürgen@Bücher.de  "],
)
def test_the_erase_lookup_finds_an_address_typed_in_punycode_or_decomposed(
    app, client, lead, typed
):
    visitor_signs_up(client, "jürgen@bücher.de", first_name="Jürgen")

    found = lead_looks_up_person(lead, typed)

    assert "Yes, erase this person" in found and "1 sign-up" in found
    lead_erases_person(lead, typed)
    assert count(app, Signup) == 0


def test_the_same_person_typed_in_punycode_on_another_tablet_merges_into_one_signup(
    app, client, lead
):
    lead_imports(lead, json.dumps(tablet_bundle([signup("bora@example.org", "Bora")])).encode())
    with app.app_context():
        imported = db.session.scalar(select(Event).order_by(Event.id.desc()))
        events.activate_event(imported)
    visitor_signs_up(client, "jürgen@bücher.de", first_name="Jürgen")
    tablet = tablet_bundle(
        [signup("JU\u0308RGEN@xn--bcher-kva.de", "Jürgen", phone="(202) 555-0101")]
    )

    report = lead_imports(lead, json.dumps(tablet).encode()).get_data(as_text=True)

    assert "Merged sign-ups: 1" in report
    assert count(app, Signup, with_email(Signup, "jürgen@bücher.de")) == 1


def test_a_json_export_carries_the_tombstone_so_the_other_tablet_forgets_too(
    app, other_kiosk, lead, clock
):
    """B erases Minji; A imports B's file: A forgets her, and no later file brings her back."""
    with other_kiosk.app_context():  # tablet A takes the sign-up
        from kiosk.services import signups

        signups.record_signup(first_name="Minji", email="minji@example.org", consent=True)
        signups.record_signup(first_name="Ana", email="ana@example.org", consent=True)
        old_file_of_a = "".join(exports.export_chunks(events.active_event(), "json"))
    lead_imports(lead, old_file_of_a.encode())  # B merges A
    lead_erases_person(lead, "minji@example.org")  # and erases Minji
    with app.app_context():
        event_uuid = json.loads(old_file_of_a)["event"]["uuid"]
    file_of_b = json_export(app, event_uuid)
    assert "minji@example.org" not in file_of_b

    with other_kiosk.app_context():
        report = imports.import_bundle(file_of_b)
        assert report.forgotten == 1
        assert (
            db.session.scalar(select(Signup).where(with_email(Signup, "minji@example.org"))) is None
        )
        assert db.session.scalar(select(Signup).where(with_email(Signup, "ana@example.org")))
        # A third tablet's old file of the same event does not bring her back to A either.
        third = json.loads(old_file_of_a)
        third["signups"] = [signup("Minji@Example.org", "Minji")]
        again = imports.import_bundle(json.dumps(third))
        assert again.not_restored == 1
        assert (
            db.session.scalar(select(Signup).where(with_email(Signup, "minji@example.org"))) is None
        )


def test_tombstones_hold_no_plaintext_and_the_bundle_carries_no_instance_secret(app, lead, clock):
    bundle = tablet_bundle([signup("minji@example.org", "Minji")])
    lead_imports(lead, json.dumps(bundle).encode())
    lead_erases_person(lead, "minji@example.org")
    with app.app_context():
        from kiosk.models import Tombstone

        stones = db.session.scalars(select(Tombstone)).all()
        assert stones, "erasing leaves tombstones"
        for stone in stones:
            assert len(stone.digest) == 64 and int(stone.digest, 16) >= 0
            assert "minji" not in stone.digest
        exported = json.loads(json_export(app, bundle["event"]["uuid"]))
    assert exported["tombstones"] and all(len(d) == 64 for d in exported["tombstones"])
    assert "minji" not in json.dumps(exported)
    with app.app_context():
        from kiosk.services import tombstones

        assert tombstones.instance_key() not in json.dumps(exported)


def test_an_erased_persons_pledge_from_another_tablet_keeps_its_amount_but_not_its_name(
    app, lead, clock
):
    bundle = tablet_bundle([signup("minji@example.org", "Minji")], pledges=[2500])
    bundle["pledges"][0] |= {
        "name": "Minji",
        "email": "minji@example.org",
        "consent_version": "v1",
        "consent_text": "ok",
        "consent_at": bundle["signups"][0]["created_at"],
    }
    bundle["questions"] = []
    lead_imports(lead, json.dumps(tablet_bundle([signup("minji@example.org", "Minji")])).encode())
    lead_erases_person(lead, "minji@example.org")

    lead_imports(lead, json.dumps(bundle).encode())

    with app.app_context():
        pledge = db.session.scalar(select(Pledge))
        assert pledge.amount_cents == 2500
        assert (pledge.name, pledge.email, pledge.consent_text) == ("", "", None)
    assert count(app, Signup) == 0 and count(app, Question) == 0


def test_kiosk_erase_person_leaves_a_tombstone_the_next_import_honours(app, runner, tmp_path):
    bundle = tmp_path / "tablet.json"
    bundle.write_text(json.dumps(tablet_bundle([signup("minji@example.org", "Minji")])))
    assert runner.invoke(args=["import", str(bundle)]).exit_code == 0

    erased = runner.invoke(args=["erase", "person", "Minji@xn--exmple-cua.org", "--yes"])
    assert "Nothing here belongs" in erased.output  # exämple.org: another address
    erased = runner.invoke(args=["erase", "person", "MINJI@example.org", "--yes"])

    assert erased.exit_code == 0, erased.output
    assert "Erased: 1 sign-up" in erased.output
    again = runner.invoke(args=["import", str(bundle)])
    assert "1 erased person was not restored" in again.output
    assert count(app, Signup) == 0


def test_kiosk_erase_event_names_what_to_export_first(app, runner, client):
    from tests.data_helpers import active_event_id, visitor_signs_up

    visitor_signs_up(client, "minji@example.org")
    event_id = active_event_id(app)
    assert runner.invoke(args=["event", "create", "--name", "Next", "--activate"]).exit_code == 0

    refused = runner.invoke(args=["erase", "event", str(event_id)])

    assert refused.exit_code != 0
    assert "Not in any export yet: 1 sign-up" in refused.output
    assert "kiosk export --event" in refused.output and "mailchimp" in refused.output
    assert (
        runner.invoke(args=["export", "--event", str(event_id), "--format", "csv"]).exit_code == 0
    )
    done = runner.invoke(args=["erase", "event", str(event_id)])
    assert done.exit_code == 0, done.output
    assert count(app, Signup) == 0
    reopened = runner.invoke(args=["event", "activate", str(event_id)])
    assert reopened.exit_code != 0 and "stays closed" in reopened.output


def test_a_file_whose_event_key_differs_still_makes_this_kiosk_forget(app, clock):
    """A file made before its event had a shared key (each kiosk's migration made its own):
    its tombstones are checked with the file's own key."""
    from kiosk.services import tombstones

    bundle = tablet_bundle([signup("minji@example.org", "Minji"), signup("ana@example.org", "A")])
    with app.app_context():
        imports.import_bundle(json.dumps(bundle))
        other_key = "ab" * 32
        bundle["event"]["erasure_key"] = other_key
        bundle["signups"] = []
        bundle["tombstones"] = [tombstones.digest(other_key, "minji@example.org")]
        report = imports.import_bundle(json.dumps(bundle))
        assert report.forgotten == 1
        assert db.session.scalar(select(Signup.email)) == "ana@example.org"
        # and this kiosk keeps tombstones of its own for her
        stale = tablet_bundle([signup("minji@example.org", "Minji")])
        assert imports.import_bundle(json.dumps(stale)).not_restored == 1


def test_a_version_1_file_without_keys_or_tombstones_still_imports(app):
    bundle = tablet_bundle([signup("minji@example.org", "Minji")])
    with app.app_context():
        report = imports.import_bundle(json.dumps(bundle))
        assert report.added == {"signups": 1}
        event = db.session.scalar(select(Event).where(Event.uuid == bundle["event"]["uuid"]))
        assert len(event.erasure_key) == 64


def _questions_of(app, email: str) -> int:
    return count(app, Question, with_email(Question, email))


def test_a_second_erasure_of_the_same_person_reaches_the_other_tablet(app, other_kiosk, clock):
    """Each erasure request is its own fact. Minji is erased on B, and B's file reaches A.
    She comes back to A's table and asks a question. Then she asks B to erase her again. A
    must forget that question too, though it already held a tombstone with the same digest.
    (The stateful erasure test found this: A's merge applied only digests it had not seen.)"""
    from kiosk.services import erasure, questions

    with app.app_context():  # B: the event A will join
        shared = events.active_event().uuid
        questions.record_question(question="First", email="minji@example.org", consent=True)
        erasure.erase_person("minji@example.org")
    with other_kiosk.app_context():  # A joins the event and learns the erasure
        imports.import_bundle(json_export(app, shared))
        events.activate_event(db.session.scalar(select(Event).where(Event.uuid == shared)))
        questions.record_question(question="Back again", email="minji@example.org", consent=True)
    assert _questions_of(other_kiosk, "minji@example.org") == 1

    # Merging B's file again changes nothing: the erasure it carries was applied already,
    # and Minji came back after it.
    with other_kiosk.app_context():
        assert imports.import_bundle(json_export(app, shared)).forgotten == 0
    assert _questions_of(other_kiosk, "minji@example.org") == 1

    with app.app_context():
        erasure.erase_person("minji@example.org")  # she asks again, at B
    with other_kiosk.app_context():
        report = imports.import_bundle(json_export(app, shared))
    assert report.forgotten == 1
    assert _questions_of(other_kiosk, "minji@example.org") == 0


def test_applying_another_tablets_erasure_is_not_a_new_request_sent_back(app, other_kiosk, clock):
    """When A applies B's erasure it records B's request, not one of its own: otherwise the
    file A sends back would erase Minji's new sign-up on B, which she never asked for."""
    from kiosk.services import erasure, signups

    with app.app_context():
        shared = events.active_event().uuid
        signups.record_signup(first_name="Minji", email="minji@example.org", consent=True)
        erasure.erase_person("minji@example.org")
    with other_kiosk.app_context():
        imports.import_bundle(json_export(app, shared))
    with app.app_context():  # she signs up again at B
        signups.record_signup(first_name="Minji", email="minji@example.org", consent=True)
    with app.app_context():
        report = imports.import_bundle(json_export(other_kiosk, shared))
        assert report.forgotten == 0
    assert count(app, Signup, with_email(Signup, "minji@example.org")) == 1
