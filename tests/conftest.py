"""Fixtures: an app with a fresh migrated database per test, its client and CLI runner."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade

from kiosk import create_app
from kiosk.extensions import db
from kiosk.services.events import ensure_demo_event


def _config(db_path: Path, **extra: object) -> dict[str, object]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
        "WTF_CSRF_ENABLED": False,
    } | extra


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the migrations once; every test starts from a copy of the result."""
    path = tmp_path_factory.mktemp("template") / "kiosk.db"
    os.environ["KIOSK_INSTANCE"] = str(tmp_path_factory.mktemp("instance"))
    app = create_app(_config(path))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture
def app_config() -> dict[str, object]:
    """Override in a test module to change the app's configuration."""
    return {}


@pytest.fixture
def app(
    migrated_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_config: dict
) -> Iterator[Flask]:
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    db_path = tmp_path / "kiosk.db"
    shutil.copy(migrated_db, db_path)
    app = create_app(_config(db_path, **app_config))
    with app.app_context():
        ensure_demo_event()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failed run: a browser test that did not run proved nothing."""
    if os.environ.get("CI", "").lower() != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        if reporter:
            reporter.write_line(
                f"CI=true: {len(skipped)} test(s) skipped; failing the run.", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def content_pack_dir() -> Path:
    from kiosk.config import DEFAULT_CONTENT

    return DEFAULT_CONTENT


@pytest.fixture
def copy_pack(tmp_path: Path, content_pack_dir: Path):
    """A writable copy of the default pack's English file, for tests that break it."""

    def make(edit=lambda text: text) -> Path:
        target = tmp_path / "pack"
        target.mkdir(exist_ok=True)
        source = (content_pack_dir / "en.toml").read_text(encoding="utf-8")
        (target / "en.toml").write_text(edit(source), encoding="utf-8")
        return target

    return make


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch):
    """kiosk.clock.now fixed at a moment the test moves on or back (tests/data_helpers.py)."""
    from tests.data_helpers import movable_clock

    return movable_clock(monkeypatch)


@pytest.fixture
def lead(app: Flask) -> FlaskClient:
    """The team lead's browser, logged in; the visitor keeps `client`."""
    from tests.data_helpers import logged_in_lead

    return logged_in_lead(app)
