"""The instance's secret key and database file: written whole, private, never empty."""

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk import config, create_app

KIOSK = Path(sys.executable).parent / "kiosk"


@pytest.fixture
def fresh_instance(tmp_path, monkeypatch) -> Path:
    """An empty instance folder, no key in the environment: what a first start sees."""
    instance = tmp_path / "instance"
    monkeypatch.setenv("KIOSK_INSTANCE", str(instance))
    monkeypatch.delenv("KIOSK_SECRET_KEY", raising=False)
    monkeypatch.delenv("KIOSK_DATABASE_URL", raising=False)
    return instance


def start(instance: Path):
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/k.db"})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_first_start_writes_a_private_secret_key_whole(fresh_instance):
    app = start(fresh_instance)
    key_file = fresh_instance / "secret_key"
    assert mode(key_file) == 0o600
    assert len(key_file.read_text()) == 64 and app.config["SECRET_KEY"] == key_file.read_text()
    assert sorted(p.name for p in fresh_instance.iterdir() if "secret" in p.name) == ["secret_key"]
    assert start(fresh_instance).config["SECRET_KEY"] == app.config["SECRET_KEY"]


def test_a_full_disk_at_first_start_fails_loudly_and_leaves_no_empty_key(
    fresh_instance, monkeypatch
):
    real_write = os.write

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(config.SecretKeyError, match="No space left"):
        start(fresh_instance)
    monkeypatch.setattr(os, "write", real_write)
    assert [p.name for p in fresh_instance.iterdir() if "secret" in p.name] == []


def test_an_empty_secret_key_file_stops_the_kiosk(fresh_instance):
    fresh_instance.mkdir()
    (fresh_instance / "secret_key").write_text("\n")
    with pytest.raises(config.SecretKeyError, match="empty"):
        start(fresh_instance)


def test_an_unreadable_secret_key_stops_the_kiosk(fresh_instance):
    fresh_instance.mkdir()
    (fresh_instance / "secret_key").mkdir()  # unreadable as a file, even for root
    with pytest.raises(config.SecretKeyError, match="cannot be read"):
        start(fresh_instance)


@pytest.mark.parametrize("command", ["check", "serve", "pin"])
def test_every_command_refuses_an_empty_key_loudly_without_a_traceback(fresh_instance, command):
    fresh_instance.mkdir()
    (fresh_instance / "secret_key").write_text("")
    env = os.environ | {"KIOSK_INSTANCE": str(fresh_instance), "PORT": "8118"}
    result = subprocess.run(
        [KIOSK, command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        input="",
    )
    assert result.returncode == 1
    assert "secret key" in result.stderr and "empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_database_file_is_created_private(fresh_instance):
    from kiosk.extensions import db
    from kiosk.schema import upgrade

    app = start(fresh_instance)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    files = [p for p in fresh_instance.iterdir() if p.name.startswith("k.db")]
    assert files and {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
