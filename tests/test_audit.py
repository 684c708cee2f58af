"""`make audit`: bandit finds nothing unreviewed in our code; the pip-audit wrapper fails on a
known vulnerability and says plainly when it could check nothing; CI runs it."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_wrapper():
    spec = importlib.util.spec_from_file_location("pip_audit_wrapper", ROOT / ".ci/pip_audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.tools
@pytest.mark.xdist_group("tools")
def test_bandit_finds_nothing_unreviewed_in_the_kiosk_code():
    bandit = Path(sys.executable).parent / "bandit"
    result = subprocess.run(
        [bandit, "-q", "-r", "kiosk", "-c", "pyproject.toml", "-f", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    findings = json.loads(result.stdout)["results"]
    assert [f"{f['filename']}:{f['line_number']} {f['test_id']}" for f in findings] == []
    assert result.returncode == 0


def test_pip_audit_fails_on_a_known_vulnerability():
    report = {"dependencies": [{"name": "flask", "version": "0.1", "vulns": [{"id": "PYSEC-1"}]}]}
    status, lines = load_wrapper().verdict(report)
    assert status == 1 and "VULNERABLE: flask 0.1: PYSEC-1" in lines


def test_pip_audit_says_plainly_when_it_could_check_nothing_and_does_not_fail_ci():
    skipped = {"name": "flask", "skip_reason": "Dependency not found on PyPI"}
    status, lines = load_wrapper().verdict({"dependencies": [skipped]})
    assert status == 0
    assert any(line.startswith("NOT AUDITED: pip-audit could not check 1 of 1") for line in lines)


def test_pip_audit_passes_a_clean_environment_without_a_warning():
    clean = {"name": "flask", "version": "3.1", "vulns": []}
    status, lines = load_wrapper().verdict({"dependencies": [clean]})
    assert status == 0 and not any("NOT AUDITED" in line for line in lines)


def test_ci_runs_the_audit():
    assert "make audit" in (ROOT / ".ci/run").read_text()
    assert "bandit" in (ROOT / "Makefile").read_text()
