"""In CI a skipped test fails the run, so a browser test can't quietly not run."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

GUARD = (Path(__file__).parent / "conftest.py").read_text()


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
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
