"""Personal data sealed at rest (kiosk/services/sealing.py): what visitors type is never in a
file in clear; only the lead's passphrase (or the recovery code) opens it.

These tests read only through keys the kiosk itself opened (`only_real_keys`)."""

import contextlib
import re
import sqlite3
import subprocess  # nosec B404
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import make_url, select, text
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from kiosk import create_app
from kiosk.emails import (
    DIGEST_MEMLIMIT,
    DIGEST_OPSLIMIT,
    argon2_digest,
    digest_of_record,
)
from kiosk.extensions import db
from kiosk.models import Event, Question, Signup
from kiosk.schema import downgrade, upgrade
from kiosk.services import (
    counts,
    erasure,
    exports,
    imports,
    joining,
    lead_auth,
    safety,
    sealing,
    signups,
    tombstones,
)
from tests.data_helpers import lead_exports
from tests.lead_helpers import PASSPHRASE, log_in, session_cookie, set_passphrase

pytestmark = pytest.mark.usefixtures("only_real_keys")

# Distinctive values: ASCII, Korean, full-width.
FIRST = "Zyxwquorra"
LAST = "탈북민가나다라"
ORG = "ＦＵＬＬＷＩＤＴＨ組織"
QUESTION = "Qvxplorith 질문입니다 ＱＵＥＳＴ"
PLEDGER = "Pledgornax 후원자"
REPORTER = "Reportixel 기자님"
OUTLET = "Ｏｕｔｌｅｔｚｙｘ"
PAPER = "Paperquillon 종이"
# Email addresses as typed: mixed case, a Korean domain, a full-width local part. Each is
# searched for whole and by its local part (the distinctive part; a domain is no secret),
# as typed and in its one stored form (kiosk/emails.py), the Korean domain in IDNA too.
EMAIL = "ZyxMailbox@Example.org"
PLEDGE_EMAIL = "ｐｌｅｄｇｅｍａｉｌｏ@example.org"  # full-width: stored "pledgemailo@..."
QUESTION_EMAIL = "AskQuorrix@example.org"
PRESS_EMAIL = "PressQuillix@daily.example.com"
PAPER_EMAIL = "papermailo@예시.kr"
EMAILS = (EMAIL, PLEDGE_EMAIL, QUESTION_EMAIL, PRESS_EMAIL, PAPER_EMAIL)
EMAIL_TERMS = (
    *EMAILS,
    "pledgemailo@example.org",
    "papermailo@xn--vv4b11d.kr",
    *{email.split("@")[0] for email in EMAILS},
    "pledgemailo",
)
VALUES = (FIRST, LAST, ORG, QUESTION, PLEDGER, REPORTER, OUTLET, PAPER, *EMAIL_TERMS)


REAL_COST = (DIGEST_OPSLIMIT, DIGEST_MEMLIMIT)
HEX_64 = re.compile(r"[0-9a-f]{64}")


def byte_forms(value: str) -> list[bytes]:
    """Every way a file may hold `value` or a word of it: UTF-8 and UTF-16, any case."""
    forms = []
    for variant in {value, value.lower(), value.upper()}:
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            forms.append(variant.encode(encoding))
    return forms


def hits(raw: bytes) -> dict[str, int]:
    return {v: sum(raw.count(form) for form in byte_forms(v)) for v in VALUES}


def none_of_them() -> dict[str, int]:
    return dict.fromkeys(VALUES, 0)


def visitors_type_everything(app, client, pin: str = "2468") -> None:
    form_key = lambda: uuid.uuid4().hex  # noqa: E731
    assert (
        client.post(
            "/signup",
            data={
                "first_name": FIRST,
                "last_name": LAST,
                "organisation": ORG,
                "email": EMAIL,
                "consent": "y",
                "idempotency_key": form_key(),
            },
        ).status_code
        == 303
    )
    assert (
        client.post(
            "/pledge",
            data={
                "kind": "once",
                "amount": "other",
                "amount_other": "25",
                "name": PLEDGER,
                "email": PLEDGE_EMAIL,
                "consent": "y",
            },
        ).status_code
        == 303
    )
    question = {"question": QUESTION, "email": QUESTION_EMAIL, "consent": "y"}
    assert client.post("/ask", data=question).status_code == 303
    press = {
        "name": REPORTER,
        "outlet": OUTLET,
        "website": "daily.example.com/jo",
        "past_work": "https://daily.example.com/a",
        "commissioned": "yes",
        "outline": "An outline",
        "deadline": "2026-12-20",
        "topics": "Jobs",
        "email": PRESS_EMAIL,
        "agree": "y",
    }
    assert client.post("/press/request", data=press).status_code == 303
    with app.app_context():
        from kiosk.services import volunteers

        volunteers.set_volunteer_pin(pin)
    assert client.post("/volunteer/unlock", data={"pin": pin}).status_code == 303
    paper = {
        "first_name": PAPER,
        "email": PAPER_EMAIL,
        "consent": "y",
        "idempotency_key": form_key(),
    }
    assert client.post("/volunteer/signup", data=paper).status_code in (200, 303)


def sqlite_files(tmp_path) -> bytes:
    raw = b""
    for name in ("kiosk.db", "kiosk.db-wal"):
        path = tmp_path / name
        if path.exists():
            raw += path.read_bytes()
    return raw


def test_sealing_is_a_sealed_box_that_only_the_private_key_opens():
    key = sealing.PrivateKey.generate()
    blob = sealing.seal("김민지 Minji", key.public_key)
    assert blob.startswith(sealing.PREFIX) and "Minji" not in blob
    assert sealing.open_sealed(blob, key) == "김민지 Minji"
    assert sealing.seal("", key.public_key) == ""
    other = sealing.PrivateKey.generate()
    with pytest.raises(sealing.nacl.exceptions.CryptoError):
        sealing.open_sealed(blob, other)


def test_nothing_visitors_type_is_in_the_database_file_or_its_wal(app, client, tmp_path, figure):
    visitors_type_everything(app, client)
    raw = sqlite_files(tmp_path)
    found = hits(raw)
    figure(f"clear values in kiosk.db + WAL ({len(raw)} bytes): {sum(found.values())}")
    assert found == none_of_them()
    with app.app_context():
        stored = db.session.execute(text("SELECT first_name FROM signup")).scalars().all()
        assert stored and all(value.startswith(sealing.PREFIX) for value in stored)
        # Read without a key: the sealed value itself, never the clear one.
        signup = db.session.scalars(select(Signup).order_by(Signup.id)).first()
        assert isinstance(signup.first_name, sealing.Sealed)


def test_a_json_bundle_and_a_backup_hold_only_sealed_values(app, client, runner, tmp_path, figure):
    visitors_type_everything(app, client)
    log_in_browser = app.test_client()
    set_passphrase(app)
    assert log_in(log_in_browser).status_code == 303
    with app.app_context():
        event_id = db.session.scalar(text("SELECT id FROM event WHERE status = 'active'"))
    bundle = lead_exports(log_in_browser, event_id, "json")
    figure(f"clear values in an event bundle ({len(bundle)} bytes): {sum(hits(bundle).values())}")
    assert hits(bundle) == none_of_them()
    assert b"team_public_key" in bundle
    # The lead's own CSV and Mailchimp file, opened through the session's key, hold them.
    assert FIRST.encode() in lead_exports(log_in_browser, event_id, "csv")
    assert EMAIL.lower().encode() in lead_exports(log_in_browser, event_id, "csv")
    assert EMAIL.lower().encode() in lead_exports(log_in_browser, event_id, "mailchimp")
    result = runner.invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    backup = Path(result.output.split("Backup written: ")[1].strip())
    raw = backup.read_bytes()
    figure(f"clear values in a kiosk backup ({len(raw)} bytes): {sum(hits(raw).values())}")
    assert hits(raw) == none_of_them()


def test_the_lead_sees_them_on_records_and_logout_leaves_no_opened_key(app, client):
    visitors_type_everything(app, client)
    set_passphrase(app)
    lead = app.test_client()
    assert log_in(lead).status_code == 303
    token = session_cookie(lead)
    assert sealing.opened_keys.session_ids() == [lead_auth._sha256(token)]
    page = lead.get("/lead/records?q=").get_data(as_text=True)
    for value in (FIRST, LAST, QUESTION, PLEDGER):
        assert value in page, value
    found = lead.get("/lead/records?q=zyxwq").get_data(as_text=True)
    assert FIRST in found
    lead.post("/lead/logout")
    assert sealing.opened_keys.session_ids() == []


def test_a_wrong_passphrase_opens_nothing(app, client):
    visitors_type_everything(app, client)
    set_passphrase(app)
    stranger = app.test_client()
    assert log_in(stranger, "not the passphrase at all").status_code == 422
    assert sealing.opened_keys.session_ids() == []
    with app.app_context(), pytest.raises(sealing.WrongSecret):
        sealing.open_with_passphrase("not the passphrase at all")
    # The visitor's own pages never read through a key.
    with app.app_context():
        question = db.session.scalars(select(Question)).one()
        assert isinstance(question.text, sealing.Sealed)


def test_cli_export_opens_with_the_passphrase_from_stdin_and_refuses_a_wrong_one(
    app, client, runner
):
    visitors_type_everything(app, client)
    set_passphrase(app)
    wrong = runner.invoke(args=["export", "--format", "csv", "--passphrase-stdin"], input="no\n")
    assert wrong.exit_code != 0 and "opens nothing" in wrong.output
    assert FIRST not in wrong.output
    result = runner.invoke(
        args=["export", "--format", "csv", "--passphrase-stdin"], input=f"{PASSPHRASE}\n"
    )
    assert result.exit_code == 0, result.output
    assert FIRST in result.output and LAST in result.output and ORG in result.output
    assert EMAIL.lower() in result.output and PAPER_EMAIL in result.output


def test_setup_wraps_the_key_with_the_passphrase_and_shows_a_recovery_code_that_opens_it(
    app, client
):
    visitors_type_everything(app, client)
    with app.app_context():
        token = lead_auth.new_setup_token()
        assert sealing.wrapped_by() == {"setup"}
    form = {"passphrase": PASSPHRASE, "confirmation": PASSPHRASE}
    lead = app.test_client()
    assert lead.post(f"/lead/setup/{token}", data=form).status_code == 303
    first = lead.get("/lead/").get_data(as_text=True)
    code = first.split("<code>")[1].split("</code>")[0]
    assert "<code>" not in lead.get("/lead/").get_data(as_text=True)  # shown once
    with app.app_context():
        assert sealing.wrapped_by() == {"passphrase", "recovery"}
        key = sealing.open_with_recovery_code(code)
        assert bytes(key) == bytes(sealing.open_with_passphrase(PASSPHRASE))
        with pytest.raises(sealing.WrongSecret):
            sealing.open_with_setup_secret(token)  # spent: its copy is gone
    page = lead.get("/lead/records?q=").get_data(as_text=True)
    assert FIRST in page


@pytest.mark.both_engines
def test_the_upgrade_seals_clear_records_and_leaves_no_clear_byte(
    more_databases, dialect, tmp_path, capsys
):
    url = more_databases()
    app = create_app({"TESTING": True, "SECRET_KEY": "old", "SQLALCHEMY_DATABASE_URI": url})
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    with app.app_context():
        downgrade(revision="b3e9d7a5c2f1")  # the schema before sealing
        db.session.execute(text("DELETE FROM setting WHERE key LIKE 'team_key%'"))
        db.session.execute(text("DELETE FROM setting WHERE key = 'team_public_key'"))
        db.session.execute(
            text("INSERT INTO setting (key, value, updated_at) VALUES (:k, :v, :t)"),
            {"k": lead_auth.PASSPHRASE_HASH, "v": "$argon2id$v=19$m=1024,t=1,p=1$x$y", "t": moment},
        )
        event_id = db.session.execute(
            text(
                "INSERT INTO event (uuid, name, place, goal_cents, rescue_cost_cents, "
                "tracking_source, status, created_at, erasure_key) "
                "VALUES ('e1', 'Fair', '', 1, 1, '', 'planned', :now, :key) RETURNING id"
            ),
            {"now": moment, "key": "ab" * 32},
        ).scalar()
        db.session.execute(
            text(
                "INSERT INTO signup (uuid, event_id, first_name, last_name, email, phone, "
                "organisation, interests, source, created_at, updated_at) VALUES ('old', "
                ":event, :first, :last, :email, '', :org, '', 'kiosk', :now, :now)"
            ),
            {
                "event": event_id,
                "first": FIRST,
                "last": LAST,
                "email": OLD_EMAIL,
                "org": ORG,
                "now": moment,
            },
        )
        db.session.execute(
            text(
                "INSERT INTO question (uuid, event_id, text, email, answered, created_at) "
                "VALUES ('q1', :event, :text, :email, :no, :now)"
            ),
            {"event": event_id, "text": QUESTION, "email": OLD_ASKER, "no": False, "now": moment},
        )
        db.session.commit()
        upgrade()
        assert sealing.scrub_database()
        printed = capsys.readouterr().out
        code = printed.split("RECOVERY CODE (shown once):")[1].split()[0]
        key = sealing.open_with_recovery_code(code)
        with sealing.reading_with(key):
            signup = db.session.scalars(select(Signup)).one()
            assert (signup.first_name, signup.last_name, signup.organisation) == (FIRST, LAST, ORG)
            assert signup.email == OLD_EMAIL
            assert db.session.scalars(select(Question)).one().email == OLD_ASKER
        # Recognised without the key: the digest under the event's key, Mailchimp's refusal.
        stored = db.session.execute(text("SELECT email, email_digest FROM signup")).one()
        assert stored.email.startswith(sealing.PREFIX)
        assert stored.email_digest == digest_of_record("ab" * 32, OLD_EMAIL)
        assert erasure.person_records(OLD_EMAIL.upper()).signups == 1
        assert erasure.person_records(OLD_ASKER).questions == 1
        asked = db.session.execute(text("SELECT email FROM question")).scalar_one()
        assert asked.startswith(sealing.PREFIX)
        # The widened tables kept the triggers that keep the counts (SQLite's batch copy
        # would drop them): a sign-up deleted after the upgrade is counted out.
        db.session.execute(text("DELETE FROM signup"))
        db.session.commit()
        assert counts.kept(event_id) == counts.recount(event_id)
        db.session.remove()
        db.engine.dispose()
    if dialect == "sqlite":
        path = url.removeprefix("sqlite:///")
        raw = Path(path).read_bytes()
        wal = Path(path + "-wal")
        if wal.exists():
            raw += wal.read_bytes()
        typed = (FIRST, LAST, ORG, QUESTION, OLD_EMAIL, OLD_ASKER, "oldmailquorra", "oldasker")
        found = {v: sum(raw.count(form) for form in byte_forms(v)) for v in typed}
        assert found == dict.fromkeys(typed, 0)


OLD_EMAIL = "oldmailquorra@example.org"
OLD_ASKER = "oldasker@예시.kr"


def test_a_form_sent_twice_is_stored_once_though_no_key_can_compare_it(app, client):
    form = {"question": QUESTION, "idempotency_key": uuid.uuid4().hex}
    assert client.post("/ask", data=form).status_code == 303
    assert client.post("/ask", data=form).status_code == 303
    pledge = {"kind": "once", "amount": "other", "amount_other": "25", "name": PLEDGER}
    pledge["idempotency_key"] = uuid.uuid4().hex
    assert client.post("/pledge", data=pledge).status_code == 303
    assert client.post("/pledge", data=pledge).status_code == 303
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM question")) == 1
        assert db.session.scalar(text("SELECT count(*) FROM pledge")) == 1


def test_kiosk_check_names_a_backup_made_before_sealing(app, client, runner):
    visitors_type_everything(app, client)
    assert runner.invoke(args=["backup"]).exit_code == 0
    backups = Path(app.instance_path) / "backups"
    old = backups / "kiosk-before-sealing.db"
    with contextlib.closing(sqlite3.connect(old)) as copy:
        copy.execute("CREATE TABLE signup (id INTEGER PRIMARY KEY, first_name TEXT)")
        copy.execute("INSERT INTO signup (first_name) VALUES (?)", (FIRST,))
        copy.commit()
    with app.app_context():
        problems = safety.clear_backup_problems()
    assert len(problems) == 1 and "kiosk-before-sealing.db" in problems[0]


def test_a_join_file_and_the_server_log_hold_none_of_them(app, client, caplog, figure):
    caplog.set_level("DEBUG")
    visitors_type_everything(app, client)
    with app.app_context():
        event = db.session.scalars(select(Event).where(Event.status == "active")).one()
        joined = joining.join_file(event)
    figure(f"clear values in a join file: {sum(hits(joined.encode()).values())}")
    figure(f"clear values in the log: {sum(hits(caplog.text.encode()).values())}")
    assert hits(joined.encode()) == none_of_them()
    assert hits(caplog.text.encode()) == none_of_them()


@pytest.mark.both_engines
def test_merge_same_person_and_erasure_work_on_sealed_records_without_a_key(
    app, client, more_databases, dialect
):
    visitors_type_everything(app, client)
    again = {
        "first_name": "Zy",
        "email": EMAIL.upper().replace("@", "＠"),  # the same person, typed another way
        "consent": "y",
        "idempotency_key": uuid.uuid4().hex,
    }
    assert client.post("/signup", data=again).status_code == 303
    with app.app_context():
        rows = db.session.execute(text("SELECT email, email_digest FROM signup")).all()
        assert len(rows) == 2  # the visitor's, merged, and the paper one
        assert all(e.startswith(sealing.PREFIX) and HEX_64.fullmatch(d) for e, d in rows)
        event = db.session.scalars(select(Event).where(Event.status == "active")).one()
        bundle = exports.json_bundle(event)
        assert erasure.person_records(PRESS_EMAIL).press_requests == 1
        assert erasure.person_records(PLEDGE_EMAIL).pledges == 1
        assert erasure.erase_person(EMAIL.lower()).signups == 1
        report = imports.import_bundle(bundle)  # the file from before does not restore her
        assert "signups" not in report.added
        assert db.session.scalar(text("SELECT count(*) FROM signup")) == 1
        # Her tombstone is the digest her record kept: no address in it.
        assert hits(str(tombstones.digests_of(event.uuid)).encode()) == none_of_them()
    assert hits(bundle.encode()) == none_of_them()
    other = create_app(
        {"TESTING": True, "SECRET_KEY": "other", "SQLALCHEMY_DATABASE_URI": more_databases()}
    )
    with other.app_context():
        imports.import_bundle(bundle)
        stored = db.session.execute(text("SELECT first_name, email FROM signup")).all()
        assert len(stored) == 2 and all(v.startswith(sealing.PREFIX) for r in stored for v in r)
        # The same person signing up at this kiosk too is recognised by the digest she
        # brought: merged into her row, never a second one.
        imported = db.session.scalars(select(Event)).one()
        imported.status = Event.ACTIVE  # the table takes sign-ups at the imported event
        db.session.commit()
        fields = signups.form_fields(MultiDict(again))
        with other.test_request_context():
            assert signups.record_signup(event=imported, **fields) is not None
        assert db.session.scalar(text("SELECT count(*) FROM signup")) == 2
        assert erasure.person_records(EMAIL).signups == 1
        db.session.remove()
        db.engine.dispose()


@pytest.mark.both_engines
def test_the_database_itself_keeps_one_sign_up_per_person_per_event(app, client, dialect):
    visitors_type_everything(app, client)
    with app.app_context():
        row = db.session.execute(text("SELECT event_id, email_digest FROM signup LIMIT 1")).one()
        # Whatever a process checked before: a second row of the same digest is refused.
        with pytest.raises(IntegrityError):
            db.session.execute(
                text(
                    "INSERT INTO signup (uuid, event_id, first_name, last_name, email, "
                    "email_digest, phone, organisation, interests, source, created_at, "
                    "updated_at, mailchimp_refuses) VALUES ('twin', :event, 'x', '', 'nacl1:x', "
                    ":digest, '', '', '', 'kiosk', :now, :now, :no)"
                ),
                {
                    "event": row.event_id,
                    "digest": row.email_digest,
                    "now": datetime.now(UTC),
                    "no": False,
                },
            )
        db.session.rollback()


def test_not_sent_to_mailchimp_is_counted_without_opening_an_address(app, client):
    visitors_type_everything(app, client)
    refused = {
        "first_name": "Ji",
        "email": "지수@example.org",  # a local part Mailchimp refuses
        "consent": "y",
        "idempotency_key": uuid.uuid4().hex,
    }
    assert client.post("/signup", data=refused).status_code == 303
    with app.app_context():
        event = db.session.scalars(select(Event).where(Event.status == "active")).one()
        assert isinstance(db.session.scalars(select(Signup)).first().email, sealing.Sealed)
        assert exports.not_for_mailchimp(event) == 1


def test_an_email_digest_costs_a_guesser_milliseconds_of_cpu(figure):
    key = "cd" * 32
    rounds = []
    for round_ in range(3):
        start = time.process_time()
        for n in range(10):
            # The real cost (the suite's kiosks use the least): never cached, all new.
            argon2_digest(key, f"guess{round_}.{n}@example.org", *REAL_COST)
        rounds.append((time.process_time() - start) / 10)
    per_guess = min(rounds)
    figure(
        f"one guessed address tested against an event's digests: {per_guess * 1000:.1f} ms CPU "
        f"and {DIGEST_MEMLIMIT // 2**20} MiB; a million guesses "
        f"{per_guess * 1e6 / 3600:.1f} CPU-hours per event"
    )
    assert per_guess > 0.002  # thousands of times an HMAC's microseconds


def test_records_say_so_when_this_process_has_not_opened_the_key(app, client):
    visitors_type_everything(app, client)
    set_passphrase(app)
    lead = app.test_client()
    assert log_in(lead).status_code == 303
    assert "sealed on this server" not in lead.get("/lead/records?q=").get_data(as_text=True)
    sealing.opened_keys.forget_all()  # as on a hub's other process, or after a restart
    page = lead.get("/lead/records?q=").get_data(as_text=True)
    assert "sealed on this server" in page and FIRST not in page


@pytest.mark.postgresql_only
def test_a_pg_dump_of_the_hub_holds_none_of_them(app, client, dialect, postgres, figure):
    visitors_type_everything(app, client)
    database = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
    dump = subprocess.run(  # noqa: S603  # the test cluster's own pg_dump
        [
            str(postgres.bindir / "pg_dump"),
            "-h",
            str(postgres.folder),
            "-p",
            str(postgres.port),
            "-U",
            "postgres",
            database,
        ],
        capture_output=True,
        check=True,
    ).stdout
    found = hits(dump)
    figure(f"clear values in a pg_dump of the hub ({len(dump)} bytes): {sum(found.values())}")
    assert b"nacl1:" in dump and found == none_of_them()


def test_a_kiosk_whose_passphrase_came_before_its_key_gets_a_recovery_code_printed_once(app):
    with app.app_context():
        db.session.execute(text("DELETE FROM setting WHERE key LIKE 'team_%'"))
        db.session.commit()
        sealing.forget_public_key()
        from kiosk.services.settings import set_setting

        set_setting(lead_auth.PASSPHRASE_HASH, "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
        sealing.ensure_team_key()
        note = lead_auth.setup_note()
        code = note.split("RECOVERY CODE (shown once): ")[1].split()[0]
        assert "RECOVERY CODE" not in lead_auth.setup_note()  # once
        assert sealing.wrapped_by() == {"recovery"}
        key = sealing.open_with_recovery_code(code)
        assert bytes(key.public_key) == bytes(sealing.public_key())


def test_a_team_key_another_process_made_meanwhile_is_the_one_kept(app, monkeypatch):
    """Two hub processes starting at once both find no key: the second looks again once it
    holds the lock and keeps the first's (it once replaced it, or stopped at a
    UniqueViolation as its reads flushed its own insert into the first's key)."""
    with app.app_context():
        kept = sealing.public_key_text()
        looks = iter([False])  # its first look came before the other process's commit
        monkeypatch.setattr(sealing, "has_team_key", lambda: next(looks, True))
        sealing.ensure_team_key()
        db.session.remove()
        assert sealing.public_key_text() == kept
