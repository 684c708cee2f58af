#!/usr/bin/env python3
"""Run pip-audit on the kiosk's environment and tell apart "vulnerable" from "not checked".

pip-audit asks PyPI's vulnerability service about every installed package. Offline (or
behind a mirror that lacks that service) it can check nothing, yet still prints "No known
vulnerabilities found". This wrapper says so plainly and exits 0 then: CI must not fail for
a network reason alone. A known vulnerability always exits 1.
"""

import json
import subprocess
import sys
from pathlib import Path

PIP_AUDIT = Path(sys.executable).parent / "pip-audit"

# Reviewed vulnerabilities that do not affect the kiosk: {id: why}. Empty: none reviewed yet.
REVIEWED: dict[str, str] = {}


def verdict(report: dict) -> tuple[int, list[str]]:
    """Exit status and lines to print for a pip-audit JSON report."""
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    lines = []
    for dep in vulnerable:
        ids = ", ".join(v["id"] for v in dep["vulns"])
        lines.append(f"VULNERABLE: {dep['name']} {dep.get('version', '')}: {ids}")
    if skipped:
        lines.append(
            f"NOT AUDITED: pip-audit could not check {len(skipped)} of {len(dependencies)} "
            "packages; PyPI's vulnerability service did not know them or could not be reached "
            f"from here (first: {skipped[0]['skip_reason']}). Run `make audit` where PyPI is "
            "reachable."
        )
    if vulnerable:
        return 1, lines
    lines.append(f"pip-audit: {audited} packages audited, no known vulnerabilities.")
    return 0, lines


def main() -> int:
    command = [str(PIP_AUDIT), "--local", "--skip-editable", "--progress-spinner", "off"]
    for vuln_id in REVIEWED:
        command += ["--ignore-vuln", vuln_id]
    try:
        result = subprocess.run(  # noqa: S603 - our own venv's pip-audit, fixed arguments
            [*command, "--format", "json"], capture_output=True, text=True, timeout=300
        )
        report = json.loads(result.stdout or "{}")
    except (subprocess.TimeoutExpired, json.JSONDecodeError) as error:
        print(f"NOT AUDITED: pip-audit could not reach PyPI's vulnerability service ({error}).")
        return 0
    if not report.get("dependencies"):
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"NOT AUDITED: pip-audit could not reach PyPI's vulnerability service ({last}).")
        return 0
    status, lines = verdict(report)
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
