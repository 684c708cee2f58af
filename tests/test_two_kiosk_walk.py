"""The walk of issue 10's closing note, as one visitor and two kiosks live it: Minji signs
up on kiosk A; B merges A's export; B erases her on request; B merges A's old file again.
She stays gone, and (SQLite: the database is a file in the instance folder) `grep -ra` finds
her email nowhere under B's instance folder: database, WAL, backups."""

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kiosk import create_app
from kiosk.extensions import db
from kiosk.models import PERSONAL_MODELS, AuditEntry, Signup
from tests.conftest import opened_values
from tests.data_helpers import (
    active_event_id,
    count,
    lead_erases_person,
    lead_exports,
    lead_imports,
    logged_in_lead,
    sealed_traces,
    visitor_signs_up,
    with_email,
)
from tests.test_backup import grep_instance

# SQL decides these outcomes: each runs on SQLite and on PostgreSQL.
pytestmark = pytest.mark.both_engines

EMAIL = "minji.walk@example.org"
ORGANISATION = "Hanbit University"


@pytest.fixture
def app_config(dialect: str, database_url: str, tmp_path: Path) -> dict[str, object]:
    """Kiosk B: on SQLite its database lives in its instance folder, as a kiosk keeps it."""
    if dialect != "sqlite":
        return {}
    instance = tmp_path / "instance"
    instance.mkdir()
    database = instance / "kiosk.db"
    Path(database_url.removeprefix("sqlite:///")).rename(database)
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"}


@pytest.fixture
def kiosk_a(more_databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Kiosk A: its own database, instance folder and secret key."""
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "kiosk-a"))
    tablet = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "secret-of-a",
            "SQLALCHEMY_DATABASE_URI": more_databases(),
            "WTF_CSRF_ENABLED": False,
        }
    )
    from kiosk.services.events import ensure_demo_event

    with tablet.app_context():
        ensure_demo_event()
    yield tablet
    with tablet.app_context():
        db.session.remove()
        db.engine.dispose()


def people_holding(app, email: str) -> int:
    """Records of any personal kind, and audit entries, that name `email` on this kiosk."""
    with app.app_context():
        found = sum(
            db.session.scalar(select(func.count()).select_from(m).where(with_email(m, email))) or 0
            for m in PERSONAL_MODELS
        )
        found += (
            db.session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.detail.contains(email))
            )
            or 0
        )
        return found


def test_a_person_erased_on_b_stays_gone_when_a_old_file_is_merged_again(
    app, lead, runner, kiosk_a, dialect, figure
):
    started = time.perf_counter()
    # 1. Kiosk A: Minji (and Ana) sign up at the table.
    visitor = kiosk_a.test_client()
    visitor_signs_up(visitor, EMAIL, first_name="Minji", organisation=ORGANISATION)
    visitor_signs_up(visitor, "ana.walk@example.org", first_name="Ana")
    lead_a = logged_in_lead(kiosk_a)
    file_of_a = lead_exports(lead_a, active_event_id(kiosk_a), "json")
    # Her address travels sealed: the file holds her (opened with the tests' keys), in no clear.
    assert EMAIL not in file_of_a.decode("utf-8")
    assert EMAIL in [s["email"] for s in opened_values(json.loads(file_of_a))["signups"]]

    # 2. Kiosk B merges A's export (and, on SQLite, takes a backup that holds her).
    assert lead_imports(lead, file_of_a).status_code == 200
    assert count(app, Signup, with_email(Signup, EMAIL)) == 1
    if dialect == "sqlite":
        assert runner.invoke(args=["backup"]).exit_code == 0
        # Her fields are sealed: what B's files hold of her is their blobs.
        traces = sealed_traces(app, EMAIL)
        before = sorted({f for t in traces for f in grep_instance(app, t)})
        assert before, "the walk must see her in B's instance folder before the erasure"

    # 3. Kiosk B erases her, on her request.
    erased = lead_erases_person(lead, EMAIL)
    assert erased.status_code == 200
    assert "Erased: 1 sign-up" in erased.get_data(as_text=True)

    # 4. Kiosk B merges A's old file again: she is not restored, Ana is still there.
    again = lead_imports(lead, file_of_a)
    assert again.status_code == 200
    assert "1 erased person was not restored" in again.get_data(as_text=True)
    assert count(app, Signup, with_email(Signup, EMAIL)) == 0
    assert count(app, Signup, with_email(Signup, "ana.walk@example.org")) == 1
    assert people_holding(app, EMAIL) == 0
    # B's own JSON export carries her tombstone, not her.
    file_of_b = lead_exports(lead, active_event_id(app), "json")
    assert EMAIL not in file_of_b.decode("utf-8")
    assert EMAIL not in [s["email"] for s in opened_values(json.loads(file_of_b))["signups"]]
    assert len(json.loads(file_of_b)["tombstones"]) == 1

    if dialect == "sqlite":
        instance = Path(app.instance_path)
        files = sorted(p for p in instance.rglob("*") if p.is_file())
        assert any(p.suffix == ".db" and p.parent.name == "backups" for p in files)
        assert [grep_instance(app, t) for t in traces] == [[] for _t in traces]
        assert grep_instance(app, EMAIL) == []
        assert grep_instance(app, ORGANISATION) == []
        figure(
            f"two-kiosk walk [sqlite]: grep -ra of her sealed fields over B's instance folder: "
            "before the "
            f"erasure {len(before)} file(s) ({', '.join(Path(f).name for f in before)}); after "
            f"the re-merge 0 of {len(files)} file(s), "
            f"{sum(p.stat().st_size for p in files):,} bytes "
            f"({', '.join(p.relative_to(instance).as_posix() for p in files)})"
        )
    figure(
        f"two-kiosk walk [{dialect}]: re-merge of A's old file: 1 erased person not restored, "
        f"0 records or audit entries name her on B; {time.perf_counter() - started:.2f} s"
    )
