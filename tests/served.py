"""A real `kiosk serve` in a subprocess, and visitors that talk to it over HTTP.

Used by the crash and contention tests: they need the production entry point (waitress,
migrations, start-up checks), real sockets, and a process that can be SIGKILLed.
"""

import contextlib
import functools
import http.client
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from kiosk.emails import digest_of_record

KIOSK = Path(sys.executable).parent / "kiosk"


def free_port() -> int:
    """A port the system has just found free. Not a fixed range: on a machine where several
    test runs serve kiosks at once, the first free port of a range is often the one another
    run takes a moment later, and its server would answer our visitors."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pin(pid: int, cpu: int) -> None:
    """Every thread of process `pid` onto CPU `cpu`; threads it starts later inherit it."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that has just ended
            os.sched_setaffinity(int(task.name), {cpu})


# Processes burning the CPU beside the one throttled: with BURNERS of them, it has about
# 1 / (BURNERS + 1) of a core when all want it, whatever else the machine runs.
BURNERS = int(os.environ.get("KIOSK_TEST_BURNERS", "1"))


@contextlib.contextmanager
def one_busy_cpu(pid: int, burners: int = BURNERS) -> Iterator[int]:
    """Throttle process `pid` as a loaded Raspberry Pi would: on one CPU of its own, shared
    with `burners` processes that burn it. Self-contained: whatever else the machine runs,
    `pid` has at most a share of one core. Yields the CPU."""
    cpu = max(os.sched_getaffinity(0))
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
    try:
        for burner in busy:
            pin(burner.pid, cpu)
        pin(pid, cpu)
        yield cpu
    finally:
        for burner in busy:
            burner.kill()
            burner.wait(timeout=10)


class Kiosk:
    """`kiosk serve` on loopback with its own instance folder."""

    def __init__(
        self,
        instance: Path,
        port: int,
        threads: int = 8,
        env: dict[str, str] | None = None,
        executable: Path = KIOSK,
        nice: int = 0,
    ) -> None:
        """`env`: KIOSK_* settings of its own, e.g. a hub's KIOSK_DATABASE_URL (PostgreSQL).
        `executable`: another install's `kiosk` (the wheel's, in its own virtualenv).
        `nice`: run at this CPU priority (`nice -n`; 19 the lowest), e.g. a table whose own
        machine a bench on one machine stands in for."""
        self.nice = nice
        self.instance = instance
        self.port = port
        self.threads = threads
        self.env = env or {}
        self.executable = executable
        self.process: subprocess.Popen | None = None
        self.log = instance.parent / f"{instance.name}-serve.log"

    def start(self) -> None:
        env = os.environ | {"KIOSK_INSTANCE": str(self.instance), "FLASK_DEBUG": "0"}
        env.pop("KIOSK_DATABASE_URL", None)
        env |= self.env
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *(["nice", "-n", str(self.nice)] if self.nice else []),
                    self.executable,
                    "serve",
                    "--port",
                    str(self.port),
                    "--threads",
                    str(self.threads),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process and self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                status, _, _ = request(self.port, "GET", "/healthz", timeout=2)
                # Ours, not another server on this port: it made its instance's database
                # (a hub's is a PostgreSQL server's: the process is alive, checked above).
                hub = "KIOSK_DATABASE_URL" in self.env
                if status == 200 and (hub or self.database.exists()):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"kiosk serve not ready on {self.port}: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no flush, what a power cut or an OOM kill does."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def database(self) -> Path:
        return self.instance / "kiosk.db"


def request(
    port: int, method: str, path: str, body: dict | None = None, cookies: str = "", timeout=10
) -> tuple[int, http.client.HTTPMessage, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Cookie": cookies} if cookies else {}
    data = None
    if body is not None:
        data = urlencode(body, doseq=True)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def hidden_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"the form has a hidden {name}"
    return match.group(1)


@dataclass
class Submission:
    """One visitor's filled-in sign-up form, kept until the kiosk thanks them for it."""

    email: str
    fields: dict[str, str]
    acknowledged: bool = False
    attempts: int = 0


@dataclass
class Visitor:
    """A browser at the kiosk: its cookies, and the sign-ups it sent."""

    port: int
    name: str
    cookies: dict[str, str] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    bodies_with_errors: list[str] = field(default_factory=list)

    def _call(self, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        status, headers, text = request(self.port, method, path, body, cookie)
        for header in headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        self.statuses.append(status)
        if status >= 500 or "database is locked" in text:
            self.bodies_with_errors.append(f"{status} {method} {path}: {text[:300]}")
        return status, text

    def fill_in_signup(self, number: int) -> Submission:
        """Fetch the form (its CSRF token and idempotency key) and fill it in."""
        status, html = self._call("GET", "/signup")
        assert status == 200, status
        email = f"{self.name}-{number}@example.org"
        fields = {
            "csrf_token": hidden_value(html, "csrf_token"),
            "idempotency_key": hidden_value(html, "idempotency_key"),
            "first_name": f"Visitor {number}",
            "last_name": self.name,
            "email": email,
            "consent": "y",
            "interests": [],
        }
        return Submission(email, fields)

    def send(self, submission: Submission) -> bool:
        """POST the form; True when the kiosk answered with its thank-you (303)."""
        submission.attempts += 1
        status, _ = self._call("POST", "/signup", submission.fields)
        submission.acknowledged = status == 303
        return submission.acknowledged


def stored_signups(database: Path) -> list[tuple[str, str]]:
    """(email digest, idempotency key) of each stored sign-up: the emails are sealed, so a
    person is her address's digest under her event's key (kiosk/emails.py; see people_of)."""
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT email_digest, idempotency_key FROM signup").fetchall()


def people_of(database: Path) -> Callable[[str], str]:
    """An address's digest as the kiosk's sign-ups keep it (they went to one event)."""
    with sqlite3.connect(database) as connection:
        keys = connection.execute(
            "SELECT DISTINCT e.erasure_key FROM event e JOIN signup s ON s.event_id = e.id"
        ).fetchall()
    assert len(keys) == 1, keys
    return functools.partial(digest_of_record, keys[0][0])


def integrity(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]
