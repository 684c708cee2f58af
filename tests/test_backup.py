"""Copies forget too: backups, the database file's free pages and its WAL keep nothing of an
erased person, and a restore re-applies the tombstones (issue 10, point 4). SQLite only: these
are files in the instance folder."""

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from kiosk.emails import digest_of_record
from kiosk.models import Signup
from tests.data_helpers import (
    active_event_id,
    count,
    lead_closes,
    lead_erases_person,
    lead_exports,
    sealed_traces,
    visitor_signs_up,
    with_email,
)

# Files in the instance folder: SQLite's (PostgreSQL's files are the server's; see the
# docstring of kiosk/services/backup.py for what its VACUUM can and cannot promise).
pytestmark = pytest.mark.sqlite_only

ERASED = "minji.kim.erased@example.org"


@pytest.fixture
def app_config(migrated_db: Path, tmp_path: Path) -> dict[str, object]:
    """The database inside the instance folder, where a kiosk keeps it."""
    instance = tmp_path / "instance"
    instance.mkdir()
    shutil.copy(migrated_db, instance / "kiosk.db")
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'kiosk.db'}"}


def grep_instance(app, needle: str) -> list[str]:
    """`grep -ra -l`: the files under the instance folder that hold `needle`."""
    result = subprocess.run(
        ["grep", "-r", "-a", "-l", "-i", needle, app.instance_path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.split()


def fill(client, n: int = 30) -> None:
    for i in range(n):
        visitor_signs_up(client, f"person{i}@example.org", first_name=f"Person{i}")


def rows_of(path: Path, email: str) -> int:
    """Sign-ups of `email` in a backup: by its digest under each event's key, as the
    emails are sealed (kiosk/emails.py)."""
    with sqlite3.connect(path) as copy:
        keys = [key for (key,) in copy.execute("SELECT erasure_key FROM event")]
        digests = [digest_of_record(key, email) for key in keys]
        marks = ",".join("?" * len(digests))
        query = f"SELECT count(*) FROM signup WHERE email_digest IN ({marks})"  # noqa: S608
        found = copy.execute(query, digests).fetchone()[0] if digests else 0
    copy.close()
    return found


def test_after_an_erasure_the_email_is_nowhere_under_the_instance_folder(app, client, lead, runner):
    fill(client)
    visitor_signs_up(client, ERASED, first_name="Minji", organisation="Hanbit University")
    fill(client, 10)
    assert runner.invoke(args=["backup"]).exit_code == 0
    # Her address and organisation are sealed: what the files hold of her is their blobs.
    traces = sealed_traces(app, ERASED)
    assert len(traces) == 2
    assert all(grep_instance(app, t) for t in traces), "the test must see her before the erasure"

    response = lead_erases_person(lead, ERASED)

    assert "Erased: 1 sign-up" in response.get_data(as_text=True)
    assert [grep_instance(app, t) for t in traces] == [[], []]
    assert grep_instance(app, ERASED) == []
    assert grep_instance(app, "Hanbit University") == []
    backups = list((Path(app.instance_path) / "backups").glob("*.db"))
    assert len(backups) == 1
    assert rows_of(backups[0], ERASED) == 0
    assert rows_of(backups[0], "person3@example.org") == 1


def test_a_retention_purge_forgets_in_the_backups_too(app, client, lead, runner, clock):
    visitor_signs_up(client, ERASED, first_name="Minji")
    event_id = active_event_id(app)
    lead_closes(lead, event_id)
    lead_exports(lead, event_id, "csv")
    assert runner.invoke(args=["backup"]).exit_code == 0
    clock.move(days=120)

    result = runner.invoke(args=["purge"])

    assert "1 sign-up" in result.output, result.output
    backup = next((Path(app.instance_path) / "backups").glob("*.db"))
    assert rows_of(backup, ERASED) == 0
    assert grep_instance(app, ERASED) == []


def test_a_restore_reapplies_the_tombstones(app, client, lead, runner, tmp_path):
    visitor_signs_up(client, ERASED, first_name="Minji")
    visitor_signs_up(client, "ana@example.org", first_name="Ana")
    assert runner.invoke(args=["backup"]).exit_code == 0
    # A copy taken off the machine before the erasure (a USB stick), brought back later.
    stick = tmp_path / "usb-stick.db"
    shutil.copy(next((Path(app.instance_path) / "backups").glob("*.db")), stick)
    lead_erases_person(lead, ERASED)

    result = runner.invoke(args=["restore", str(stick), "--yes"])

    assert result.exit_code == 0, result.output
    assert "1 erased person" in result.output
    assert count(app, Signup, with_email(Signup, ERASED)) == 0
    assert count(app, Signup, with_email(Signup, "ana@example.org")) == 1
    assert grep_instance(app, ERASED) == []


def test_every_sqlite_connection_overwrites_what_it_deletes(app):
    from sqlalchemy import text

    from kiosk.extensions import db

    with app.app_context():
        assert db.session.execute(text("PRAGMA secure_delete")).scalar() == 1


def test_restore_refuses_a_file_that_is_not_a_kiosk_backup(app, runner, tmp_path):
    notes = tmp_path / "notes.db"
    notes.write_text("not a database")
    refused = runner.invoke(args=["restore", str(notes), "--yes"])
    assert refused.exit_code != 0
    assert "not a" in refused.output


def test_restore_into_a_fresh_instance_migrates_it_first(migrated_db, tmp_path, monkeypatch):
    from kiosk import create_app

    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "fresh"))
    backup = tmp_path / "usb-stick.db"
    shutil.copy(migrated_db, backup)
    fresh = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.db'}",
        }
    )
    result = fresh.test_cli_runner().invoke(args=["restore", str(backup), "--yes"])
    assert result.exit_code == 0, result.output
    assert "Restored usb-stick.db." in result.output
    assert count(fresh, Signup) == 0


def test_restore_is_refused_while_kiosk_serve_runs_on_the_database(
    app, runner, tmp_path, monkeypatch
):
    import waitress

    from kiosk.services import backup

    stick = tmp_path / "usb-stick.db"
    assert runner.invoke(args=["backup"]).exit_code == 0
    shutil.copy(next((Path(app.instance_path) / "backups").glob("*.db")), stick)
    refused = []

    def serving(*_args, **_kwargs):  # while `kiosk serve` runs, a restore is tried
        refused.append(runner.invoke(args=["restore", str(stick), "--yes"]))

    monkeypatch.setattr(waitress, "serve", serving)
    monkeypatch.setattr(backup, "_held", [])
    assert runner.invoke(args=["serve", "--port", "8177"]).exit_code == 0
    [result] = refused
    assert result.exit_code == 1
    assert "`kiosk serve` is running on this database: stop it first" in result.output
    for handle in backup._held:  # the server process ends
        handle.close()
    assert runner.invoke(args=["restore", str(stick), "--yes"]).exit_code == 0
