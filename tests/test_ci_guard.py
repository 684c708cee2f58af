"""In CI a skipped test fails the run, so a browser test or a PostgreSQL run can't quietly
not run; outside CI a missing PostgreSQL is said in one line."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.tools, pytest.mark.xdist_group("tools")]

ROOT = Path(__file__).resolve().parent.parent
GUARD = (Path(__file__).parent / "conftest.py").read_text()


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the conftest imports tests.postgres
    pytester.makeconftest(GUARD)
    pytester.makepyfile(
        test_sample="import pytest\n\ndef test_runs():\n    assert True\n\n"
        "def test_needs_a_browser():\n    pytest.skip('no browser')\n"
    )
    return pytester


def test_a_skipped_test_fails_the_run_when_ci_is_true(suite, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*CI=true: 1 test(s) skipped; failing the run.*"])


def test_a_skipped_test_is_only_reported_outside_ci(suite, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*1 passed, 1 skipped*"])


@pytest.fixture
def without_postgresql(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """Three database tests marked for both engines and one that is not, on a machine where
    PostgreSQL is not installed: the three have [postgresql] twins, the fourth runs once."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("KIOSK_PG_BINDIR", str(pytester.mkdir("no-postgresql")))
    pytester.makeconftest(GUARD)
    pytester.makepyfile(
        test_database="import pytest\n\n"
        "@pytest.mark.both_engines\n"
        "@pytest.mark.parametrize('n', [1, 2, 3])\n"
        "def test_stores(app, n):\n    assert app.config['TESTING']\n\n"
        "def test_renders(app, dialect):\n    assert dialect == 'sqlite'\n"
    )
    return pytester


def test_without_postgresql_its_runs_skip_with_one_line_outside_ci(without_postgresql, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = without_postgresql.runpytest_subprocess("-p", "no:cacheprovider", "-ra")
    assert result.ret == pytest.ExitCode.OK
    said = [line for line in result.stdout.lines if "[postgresql]" in line]
    assert said == [
        "3 [postgresql] test run(s) skipped: PostgreSQL not found (looked in "
        f"{without_postgresql.path / 'no-postgresql'}): apt-get install postgresql"
    ]
    result.stdout.fnmatch_lines(["*4 passed, 3 deselected*"])


@pytest.mark.parametrize("workers", [[], ["-n", "1"]], ids=["serial", "xdist"])
def test_without_postgresql_a_ci_run_fails(without_postgresql, monkeypatch, workers):
    monkeypatch.setenv("CI", "true")
    result = without_postgresql.runpytest_subprocess("-p", "no:cacheprovider", *workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*CI=true: 3 [[]postgresql[]] test run(s) skipped: PostgreSQL not found*failing the run."]
    )
