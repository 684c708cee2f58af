"""Exports: every format's columns, CSV safety, and the `kiosk export` command."""

import csv
import io
import json
import uuid

import pytest

from kiosk.extensions import db
from kiosk.models import Event, Signup, Tally
from kiosk.services import events, exports, pledges, questions, sealing, signups, tallies
from kiosk.services.hashing import verify_secret
from kiosk.services.settings import VOLUNTEER_PIN_HASH, get_setting
from tests.conftest import opened_values

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines


def read_csv(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff"), "CSV must start with a BOM so Excel reads UTF-8"
    return list(csv.reader(io.StringIO(text[1:])))


def export_text(event: Event, name: str) -> str:
    return "".join(exports.export_chunks(event, name))


@pytest.fixture
def filled(app):
    """The active event with one of each record; yields inside an app context."""
    with app.app_context():
        event = events.active_event()
        signups.record_signup(
            first_name='=HYPERLINK("http://evil")',
            last_name="김",
            email="eve@example.org",
            phone="+44 20 7946 0000",
            interests=["team", "jobs"],
            consent=True,
            idempotency_key=uuid.uuid4().hex,
        )
        signups.record_signup(
            first_name="민지",
            email="minji@example.org",
            consent=True,
            source=Signup.VOLUNTEER,
        )
        pledges.record_pledge(kind="monthly", amount="15", name="@Sam", email="")
        questions.record_question(question="-1 + 1?", email="q@example.org", consent=True)
        tallies.record_tally(Tally.OPENER, "people")
        tallies.record_tally(Tally.OPENER, "people")
        tallies.record_tally(Tally.CONVERSATION, "table")
        yield event


def test_a_cell_that_looks_like_a_formula_is_neutralised():
    for value in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert exports.neutralise(value) == "'" + value
    assert exports.neutralise("Min-ji") == "Min-ji"
    assert exports.neutralise(None) == ""


def test_the_signup_csv_names_every_field_and_neutralises_a_formula_name(filled):
    rows = read_csv(export_text(filled, "csv"))
    assert rows[0] == exports.SIGNUP_COLUMNS
    assert rows[0] == [
        "First Name",
        "Last Name",
        "Email",
        "Phone",
        "Organisation",
        "Interests",
        "Source",
        "Language",
        "Consent Version",
        "Consent Time",
        "Created",
        "Updated",
        "UUID",
    ]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["First Name"] == '\'=HYPERLINK("http://evil")'
    assert first["Last Name"] == "김"
    assert first["Phone"] == "+442079460000"  # a valid phone in E.164: no apostrophe
    assert first["Interests"] == "Joining the team; Jobs and internships"
    assert first["Source"] == "kiosk" and first["Consent Version"] == "2026-11-v1"
    assert len(first["UUID"]) == 36
    assert dict(zip(rows[0], rows[2], strict=True))["Source"] == "volunteer"


def test_the_mailchimp_csv_has_mailchimps_columns_and_consenting_people_only(app, filled):
    with app.app_context():
        unconsented = Signup(event_id=filled.id, first_name="No", email="no@example.org")
        db.session.add(unconsented)
        db.session.commit()
    rows = read_csv(export_text(filled, "mailchimp"))
    assert rows[0][:6] == [
        "Email Address",
        "First Name",
        "Last Name",
        "Phone Number",
        "Tags",
        "Language",
    ]
    assert [row[0] for row in rows[1:]] == ["eve@example.org", "minji@example.org"]
    assert rows[1][1].startswith("'=")
    assert rows[1][4] == "Demo event,Joining the team,Jobs and internships"


def test_the_pledges_questions_and_tallies_csvs_name_their_columns(filled):
    pledge_rows = read_csv(export_text(filled, "pledges"))
    assert pledge_rows[0] == exports.PLEDGE_COLUMNS
    assert pledge_rows[0][:4] == ["Kind", "Amount", "Name", "Email"]
    assert pledge_rows[1][:3] == ["monthly", "15.00", "'@Sam"]
    question_rows = read_csv(export_text(filled, "questions"))
    assert question_rows[0] == exports.QUESTION_COLUMNS
    assert question_rows[0][:3] == ["Question", "Email", "Answered"]
    assert question_rows[1][:3] == ["'-1 + 1?", "q@example.org", "no"]
    tally_rows = read_csv(export_text(filled, "tallies"))
    assert tally_rows == [
        ["Kind", "Key", "Count"],
        ["conversation", "table", "1"],
        ["opener", "people", "2"],
    ]


def test_the_json_bundle_carries_every_record_with_its_uuid(filled):
    # Personal fields travel sealed (services/sealing.py): opened here with the tests' key.
    bundle = opened_values(json.loads(export_text(filled, "json")))
    assert list(bundle) == [
        "format",
        "version",
        "exported_at",
        "event",
        "team_public_key",
        "tombstones",
        "erasures",
        "signups",
        "pledges",
        "questions",
        "press_requests",
        "tallies",
        "team",
    ]
    assert (bundle["format"], bundle["version"]) == ("rescue-team-kiosk/event", 2)
    assert bundle["team"] is None  # no team page saved: the content pack's team
    assert bundle["event"]["erasure_key"] == filled.erasure_key
    assert bundle["tombstones"] == [] and bundle["erasures"] == []
    assert bundle["event"]["uuid"] == filled.uuid
    assert bundle["event"]["tracking_source"] == "RescueTeamKiosk"
    assert [s["first_name"] for s in bundle["signups"]] == ['=HYPERLINK("http://evil")', "민지"]
    assert bundle["signups"][0]["interests"] == ["team", "jobs"]
    assert bundle["signups"][0]["consent_text"].startswith("I agree")
    assert bundle["pledges"][0]["amount_cents"] == 1500
    assert bundle["questions"][0]["text"] == "-1 + 1?"
    assert len(bundle["tallies"]) == 3
    every = [*bundle["signups"], *bundle["pledges"], *bundle["questions"], *bundle["tallies"]]
    assert all(len(record["uuid"]) == 36 for record in every)
    assert len({record["uuid"] for record in every}) == len(every)


def test_exports_hold_only_the_chosen_events_records(app, filled):
    with app.app_context():
        other = events.create_event("Other", activate=True)
        signups.record_signup(first_name="Elsewhere", email="else@example.org", consent=True)
        rows = read_csv(export_text(db.session.get(Event, filled.id), "csv"))
        assert "Elsewhere" not in str(rows)
        assert "Elsewhere" in export_text(other, "csv")


def test_a_signup_made_through_the_kiosk_appears_in_kiosk_export(app, client, runner):
    data = {
        "first_name": "Ha-eun",
        "last_name": "이",
        "email": "haeun@example.org",
        "interests": "events",
        "consent": "y",
        "idempotency_key": uuid.uuid4().hex,
    }
    assert client.post("/signup", data=data).status_code == 303
    result = runner.invoke(args=["export", "--format", "mailchimp"])
    assert result.exit_code == 0, result.output
    rows = read_csv(result.output)
    assert rows[1][:6] == ["haeun@example.org", "Ha-eun", "이", "", "Demo event,Events", "en"]


@pytest.mark.parametrize("name", list(exports.FORMATS))
def test_kiosk_export_writes_every_format_to_a_private_file_and_marks_the_event(
    app, runner, filled, tmp_path, name
):
    out = tmp_path / f"export.{name}"
    result = runner.invoke(
        args=["export", "--event", str(filled.id), "--format", name, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = out.read_bytes().decode("utf-8")
    if name == "json":
        # Sealing is randomised: the same values, each sealed anew.
        written = opened_values(json.loads(text))
        fresh = opened_values(json.loads(export_text(filled, name)))
        assert written | {"exported_at": ""} == fresh | {"exported_at": ""}
    else:
        assert text == export_text(filled, name)
        assert text.count("\r\n") == len(read_csv(text))
    assert out.stat().st_mode & 0o077 == 0
    db.session.refresh(filled)
    # A JSON file counts as the event's export only with --keep (test_export_marks.py).
    assert (filled.exported_at is not None) == (name not in ("tallies", "json"))


def test_kiosk_export_refuses_an_unknown_event(runner):
    result = runner.invoke(args=["export", "--event", "999", "--format", "csv"])
    assert result.exit_code != 0
    assert "no event 999" in result.output


def test_kiosk_pin_from_stdin_stores_only_a_hash(app, runner):
    result = runner.invoke(args=["pin", "--stdin"], input="2468\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        stored = get_setting(VOLUNTEER_PIN_HASH)
    assert stored and "2468" not in stored
    assert verify_secret(stored, "2468")


def test_kiosk_pin_asks_twice_and_refuses_a_pin_that_is_not_digits(runner):
    assert runner.invoke(args=["pin"], input="1357\n1357\n").exit_code == 0
    refused = runner.invoke(args=["pin", "--stdin"], input="abcd\n")
    assert refused.exit_code != 0 and "4 to 12 digits" in refused.output


def test_kiosk_event_create_takes_a_goal_a_tracking_source_and_activates(app, runner):
    result = runner.invoke(
        args=[
            "event",
            "create",
            "--name",
            "Fall fair",
            "--goal",
            "6000",
            "--tracking",
            "fall26",
            "--activate",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        event = events.active_event()
        assert (event.name, event.goal_cents, event.tracking_source) == (
            "Fall fair",
            600_000,
            "fall26",
        )
    assert "Fall fair" in runner.invoke(args=["event", "list"]).output


def test_the_signup_and_mailchimp_files_carry_each_persons_language(app, filled):
    signups.record_signup(first_name="지우", last_name="이", email="jiwoo@example.kr", consent=True)
    signups.record_signup(first_name="지우", email="jiwoo@example.kr", consent=True, locale="ko")
    rows = read_csv(export_text(filled, "csv"))
    languages = {row[2]: row[rows[0].index("Language")] for row in rows[1:]}
    assert languages == {
        "eve@example.org": "en",
        "minji@example.org": "en",
        "jiwoo@example.kr": "ko",
    }
    chimp = read_csv(export_text(filled, "mailchimp"))
    language = chimp[0].index("Language")  # before the consent columns
    assert {row[0]: (row[1], row[language]) for row in chimp[1:]}["jiwoo@example.kr"] == (
        "지우",
        "ko",
    )
    bundle = opened_values(json.loads(export_text(filled, "json")))  # emails travel sealed
    assert {s["email"]: s["locale"] for s in bundle["signups"]}["jiwoo@example.kr"] == "ko"


def test_the_streamed_json_is_the_bundle_as_json_dumps_writes_it(filled, monkeypatch):
    """Written a batch of records at a time, yet the same text as the whole dict dumped."""
    monkeypatch.setattr(exports, "EXPORT_BATCH", 1)
    moment = exports.utcnow()
    monkeypatch.setattr(exports, "utcnow", lambda: moment)
    # Sealing is randomised (a fresh ephemeral key per value): the same record seals to other
    # bytes each time, so each sealed value is compared as the text it opens to.
    monkeypatch.setattr(sealing, "seal", lambda text, public=None: text)
    pieces = list(exports.json_chunks(filled))
    assert len(pieces) > 8  # a piece per record at least
    whole = json.dumps(exports.bundle(filled), ensure_ascii=False, indent=2) + "\n"
    assert "".join(pieces) == whole
    assert exports.json_bundle(filled) == whole
