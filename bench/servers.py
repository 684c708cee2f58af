"""Start the kiosk and the floor app as real server processes, and read what they cost."""

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
# The kiosk's production setting (kiosk serve --threads); the floor gets the same.
SERVER_THREADS = 8
STARTUP_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.005


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    base_url: str
    startup_seconds: float

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def ensure_free(port: int) -> None:
    """Refuse to start on a port something already answers on: we would measure it instead."""
    with socket.socket() as probe:
        # Like the servers themselves: connections closing (TIME_WAIT) don't count as in use.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            raise RuntimeError(f"port {port} is in use; stop what listens there") from None


def start(name: str, command: list[str], probe_path: str, port: int, **popen: object) -> Server:
    """Start `command` and time it from process start to the first 200 on `probe_path`."""
    ensure_free(port)
    base_url = f"http://{HOST}:{port}"
    started = time.perf_counter()
    process = subprocess.Popen(command, **popen)  # type: ignore[call-overload]
    while not answers_200(base_url + probe_path):
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before answering")
        if time.perf_counter() - started > STARTUP_TIMEOUT_S:
            process.kill()
            raise RuntimeError(f"{name} did not answer {probe_path} in {STARTUP_TIMEOUT_S} s")
        time.sleep(POLL_INTERVAL_S)
    return Server(name, process, base_url, time.perf_counter() - started)


def kiosk_command(python: Path, port: int) -> list[str]:
    """`kiosk serve` from the environment of `python`, as the kiosk runs in production."""
    kiosk = python.with_name("kiosk")
    threads = str(SERVER_THREADS)
    return [str(kiosk), "serve", "--host", HOST, "--port", str(port), "--threads", threads]


def floor_command(python: Path, port: int, page: Path, database: Path) -> list[str]:
    """The floors' app (bench/floor_app.py): bare, the kiosk's page bytes, a durable insert."""
    threads = str(SERVER_THREADS)
    return [
        str(python), "-m", "bench.floor_app", "--port", str(port), "--threads", threads,
        "--page", str(page), "--db", str(database),
    ]  # fmt: skip
