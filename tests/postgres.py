"""A throwaway PostgreSQL cluster for the test session, from Debian's `postgresql` package.

initdb into a temporary folder, start on a free port with its unix socket in that folder,
stop and remove it at the end. PostgreSQL refuses to run as root, so when the tests run as
root the cluster belongs to the `postgres` user. Every test gets its own database, copied
from a migrated template (CREATE DATABASE ... TEMPLATE): about a tenth of a second.
"""

import contextlib
import glob
import itertools
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

# Leftover clusters of a run that was SIGKILLed carry this prefix and their owner's pid.
PREFIX = "kiosk-test-pg-"
OWNER_FILE = "owner.pid"
# Speed over durability: a test cluster never survives its session anyway.
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "listen_addresses": "127.0.0.1",
}


class PostgresNotFound(Exception):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """Where initdb, pg_ctl and postgres live: KIOSK_PG_BINDIR, pg_config, then Debian's."""
    if "KIOSK_PG_BINDIR" in os.environ:
        candidates = [os.environ["KIOSK_PG_BINDIR"]]
    else:
        candidates = []
        if shutil.which("pg_config"):
            found = subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, check=False
            )
            candidates.append(found.stdout.strip())
        # Debian keeps the server outside PATH, one folder per major version: newest first.
        candidates += sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
            reverse=True,
        )
    for candidate in candidates:
        if candidate and all((Path(candidate) / tool).is_file() for tool in ("initdb", "pg_ctl")):
            return Path(candidate)
    raise PostgresNotFound(
        "PostgreSQL not found (looked in "
        + (", ".join(c for c in candidates if c) or "pg_config and /usr/lib/postgresql/*/bin")
        + "): apt-get install postgresql"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Cluster:
    """One PostgreSQL server in a temporary folder, reached through its unix socket."""

    def __init__(self, bindir: Path, **settings: str) -> None:
        """`settings` change SERVER_SETTINGS (e.g. synchronous_commit="on")."""
        self.bindir = bindir
        self.settings = SERVER_SETTINGS | settings
        self.as_postgres = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = 0
        self._names = itertools.count(1)
        (self.folder / OWNER_FILE).write_text(str(os.getpid()))
        if self.as_postgres:
            shutil.chown(self.folder, "postgres")

    def _run(self, *command: str) -> None:
        argv = [str(self.bindir / command[0]), *command[1:]]
        if self.as_postgres and shutil.which("runuser"):
            argv = ["runuser", "-u", "postgres", "--", *argv]
        elif self.as_postgres:
            argv = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}{log}")

    def start(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        for attempt in range(3):
            self.port = free_port()
            try:
                self.start_server()
                return
            except RuntimeError:
                if attempt == 2:  # another process took the port each time: give up
                    raise

    def start_server(self) -> None:
        """Start the server of the initialised cluster on its port (again, after a kill)."""
        options = [f"-p {self.port}", f"-k {self.folder}"]
        options += [f"-c {name}={value}" for name, value in self.settings.items()]
        self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
            "-l", str(self.log), "-o", " ".join(options),
        )  # fmt: skip

    def kill_server(self) -> None:
        """SIGKILL the postmaster, as the OOM killer would; its backends follow it."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is kept) and remove its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str) -> str:
        """SQLAlchemy's URL of one database of the cluster, through the unix socket."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.folder}&port={self.port}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(
            host=str(self.folder), port=self.port, user="postgres", dbname="postgres",
            autocommit=True,
        )  # fmt: skip

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        name = name or f"kiosk_test_{next(self._names)}"
        # FILE_COPY copies the template's files: several times faster than the WAL_LOG default
        # for a small database on a cluster without fsync.
        copy = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
        with self.admin() as connection:
            connection.execute(f"CREATE DATABASE {name}{copy}")
        return name

    def drop_database(self, name: str) -> None:
        # FORCE: a connection a test's thread left open must not keep the database alive.
        with self.admin() as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def remove_abandoned_clusters() -> None:
    """Stop and remove clusters whose test run was killed before it could clean up."""
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        pid_file = folder / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)  # immediate stop
        shutil.rmtree(folder, ignore_errors=True)
