"""kiosk.schema's contract with Alembic: the newest migration it reads from the migration
files is Alembic's own head, a start at that head leaves Alembic unloaded (a fifth of a
start-up), and a database behind it is still migrated, with the same logging either way."""

import logging
import subprocess
import sys
import textwrap

import pytest
from alembic.script import ScriptDirectory

from kiosk import schema
from kiosk.paths import MIGRATIONS_DIR


def test_the_head_read_from_the_files_is_alembics_head():
    assert schema.head_revision() == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def test_two_newest_migrations_are_refused_by_name(tmp_path, monkeypatch):
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "a.py").write_text('revision = "aaa"\ndown_revision = None\n')
    (versions / "b.py").write_text('revision = "bbb"\ndown_revision = "aaa"\n')
    (versions / "c.py").write_text('revision = "ccc"\ndown_revision = "aaa"\n')
    monkeypatch.setattr(schema, "MIGRATIONS_DIR", tmp_path)
    schema.head_revision.cache_clear()
    try:
        with pytest.raises(schema.SchemaError, match=r"2 newest ones: \['bbb', 'ccc'\]"):
            schema.head_revision()
        (versions / "d.py").write_text('revision = "ddd"\ndown_revision = ("bbb", "ccc")\n')
        schema.head_revision.cache_clear()
        assert schema.head_revision() == "ddd"  # a merge revises both
    finally:
        schema.head_revision.cache_clear()


def test_a_database_behind_is_migrated_and_one_at_head_is_left_alone(app):
    with app.app_context():
        assert schema.is_at_head()
        assert schema.upgrade_if_behind() is False
        previous = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(schema.head_revision())
        schema.downgrade(revision=previous.down_revision)
        assert not schema.is_at_head()
        assert schema.upgrade_if_behind() is True
        assert schema.is_at_head()


def test_a_start_at_head_loads_no_alembic_and_logs_as_a_start_that_migrated(tmp_path):
    """Two starts of one instance in fresh processes, as `kiosk serve` prepares its database:
    the first migrates (Alembic loaded), the second does not; both log the same way."""
    start = textwrap.dedent(
        """
        import logging, sys
        from kiosk import create_app
        from kiosk.cli import prepare_database
        app = create_app()
        with app.app_context():
            prepare_database()
        root = logging.getLogger()
        formats = [h.formatter._fmt for h in root.handlers if h.formatter is not None]
        print("alembic" in sys.modules, logging.getLevelName(root.level), formats)
        """
    )
    environment = {"KIOSK_INSTANCE": str(tmp_path / "instance"), "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", start], capture_output=True, text=True, env=environment
        )
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second = (run.stdout.split(" ", 1) for run in runs)
    assert first[0] == "True", "the first start migrated the new database"
    assert second[0] == "False", "the second found it at head and loaded no Alembic"
    assert first[1] == second[1]
    assert logging.getLevelName(logging.WARNING) in second[1]
