"""Run wrk with bench/kiosk.lua and read the one JSON line its done() prints."""

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("kiosk.lua")
MARKER = "BENCH_JSON "
# One wrk thread drives even 32 connections at many times the kiosk's rate, and leaves
# the second core to the server under test.
WRK_THREADS = 1


class WrkError(RuntimeError):
    """wrk did not run, or printed no result line."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    first_bad_status: int = 0
    # CPU seconds the server process used during the run (set by the driver).
    server_cpu_s: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU per request: unlike requests/s, barely moved by other work on the machine."""
        return 1000 * self.server_cpu_s / self.requests if self.requests else 0.0


def parse_wrk_output(text: str) -> WrkResult:
    """The result of one wrk run, from the BENCH_JSON line of its output."""
    line = next((line for line in text.splitlines() if line.startswith(MARKER)), None)
    if line is None:
        raise WrkError(f"wrk printed no {MARKER.strip()} line:\n{text}")
    data = json.loads(line[len(MARKER) :])
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["bad_status"] + data["socket_errors"],
        first_bad_status=data["first_bad_status"],
    )


def wrk_command(url: str, connections: int, seconds: int) -> list[str]:
    threads = min(WRK_THREADS, connections)
    return [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        url,
    ]


def run_wrk(url: str, connections: int, seconds: int, env: dict[str, str]) -> WrkResult:
    """Load `url` with `connections` concurrent connections; `env` configures kiosk.lua."""
    if shutil.which("wrk") is None:
        raise WrkError("wrk is not installed: `apt-get install -y wrk` (make bench does it)")
    completed = subprocess.run(
        wrk_command(url, connections, seconds),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise WrkError(f"wrk exited {completed.returncode}: {completed.stderr}")
    return parse_wrk_output(completed.stdout)
