"""Many tables, one hub, with real processes over a network that fails: a hub (`kiosk serve`
on PostgreSQL) and two tables (`kiosk serve` on SQLite, each joined with `kiosk hub join`),
each table reaching the hub through a TCP hop of its own that refuses connections, cuts
chunks of records mid-transfer and drops the hub's answers after the hub stored them.

Both tables take sign-ups while the hub is unreachable (one person at both); once the hops
let traffic through, the hub holds every record of both tables and each person once. An
erasure at the hub reaches both tables; one at a table reaches the hub and the other table;
a revoked table is refused and says so.
"""

import contextlib
import functools
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from kiosk import create_app
from kiosk.emails import digest_of_record
from kiosk.extensions import db
from kiosk.services import erasure, events
from kiosk.services import hub as hub_tables
from tests.conftest import _config
from tests.served import KIOSK, Kiosk, Visitor, free_port

pytestmark = [pytest.mark.crash, pytest.mark.xdist_group("kiosk_serve"), pytest.mark.postgresql]

PEOPLE = 12  # at each table, besides the two people who sign up at both
SYNC_SECONDS = "0.1"
CHUNK_RECORDS = "3"  # a few records a chunk: many chunks, so cuts land between and inside them


class Hop:
    """A TCP hop from a table to the hub. `down`: connections refused at once. `flaky`: of the
    connections that carry a chunk of records, one in three is cut mid-request (the hub never
    gets the whole chunk) and one in three loses the hub's answer (the hub stored the chunk,
    the table never hears so); everything else passes, as in `up`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.mode = "down"
        self.counts: Counter[str] = Counter()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "down":
                self.counts["refused"] += 1
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.enter_context(client)
            try:
                server = stack.enter_context(socket.create_connection(self.upstream))
                first = client.recv(65536)
            except OSError:
                return
            fate = "pass"
            if self.mode == "flaky" and first.startswith(b"POST /hub/records"):
                self.counts["chunks"] += 1
                fate = ("cut", "lose", "pass")[self.counts["chunks"] % 3]
            self.counts[fate] += 1
            if fate == "cut":
                server.sendall(first[: len(first) // 2])  # half a request, then the line drops
                self._drop(client, server)
                return
            server.sendall(first)
            upward = threading.Thread(target=self._pipe, args=(client, server), daemon=True)
            upward.start()
            if fate == "lose":
                # The hub reads the whole chunk and stores it; its answer is lost on the way.
                with contextlib.suppress(OSError):
                    server.recv(65536)
                self._drop(client, server)
                return
            self._pipe(server, client)

    @staticmethod
    def _drop(*sockets: socket.socket) -> None:
        """Both ends see the line drop at once (close() alone waits for the other thread)."""
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.listener.close()


def kiosk_command(env: dict[str, str], *args: str) -> str:
    full = os.environ | {"FLASK_DEBUG": "0"} | env
    if "KIOSK_DATABASE_URL" not in env:
        full.pop("KIOSK_DATABASE_URL", None)
    done = subprocess.run(
        [KIOSK, *args], env=full, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if condition():
            return time.monotonic() - began
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def sign_up(port: int, name: str, emails: list[str]) -> None:
    visitor = Visitor(port, name)
    for number, email in enumerate(emails):
        submission = visitor.fill_in_signup(number)
        submission.fields["email"] = email
        assert visitor.send(submission), email


class Table:
    def __init__(
        self,
        root: Path,
        name: str,
        chunk_records: str = CHUNK_RECORDS,
        sync_seconds: str = SYNC_SECONDS,
        executable: Path = KIOSK,
    ) -> None:
        self.name = name
        env = {"KIOSK_SYNC_SECONDS": sync_seconds, "KIOSK_SYNC_CHUNK_RECORDS": chunk_records}
        self.kiosk = Kiosk(root / name, free_port(), env=env, executable=executable)
        self.env = {"KIOSK_INSTANCE": str(self.kiosk.instance)}
        self.code = ""

    def query(self, sql: str) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.kiosk.database, timeout=10)) as connection:
            return connection.execute(sql).fetchall()

    def people(self) -> set[str]:
        """The sign-ups' email digests (the emails are sealed: kiosk/emails.py)."""
        return {row[0] for row in self.query("SELECT email_digest FROM signup")}

    def waiting(self) -> int:
        personal = sum(
            self.query(
                f"SELECT count(*) FROM {table} "
                "WHERE hub_revision IS NULL OR hub_revision != revision"
            )[0][0]
            for table in ("signup", "pledge", "question", "press_request")
        )
        return personal + self.query("SELECT count(*) FROM tally WHERE NOT hub_sent")[0][0]

    def status(self) -> dict:
        rows = self.query("SELECT value FROM setting WHERE key = 'hub_status'")
        return json.loads(rows[0][0]) if rows else {}


def stop_all(tables: list[Table], hub: Kiosk, hops: list[Hop], engine: Engine) -> None:
    """A walk's end, passed or failed: every kiosk stopped, every hop closed."""
    for table in tables:
        table.kiosk.stop()
    hub.stop()
    for hop in hops:
        hop.close()
    engine.dispose()


@contextlib.contextmanager
def at_the_hub(url: str, monkeypatch, instance: Path) -> Iterator[None]:
    """The hub's lead at work in this process (what the console or a command does there)."""
    monkeypatch.setenv("KIOSK_INSTANCE", str(instance))
    app = create_app(_config(url))
    try:
        with app.app_context():
            yield
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_tables_sync_to_the_hub_through_cuts_and_lost_answers(
    postgres, postgres_template, tmp_path, figure, monkeypatch
):
    began = time.monotonic()
    url = postgres.url(postgres.create_database(template=postgres_template))
    # The hub paces its intake as a hub does, resting as long as each chunk took (share 0.5,
    # not the default 0.1, whose longer rests belong to bench/sync_scale.py).
    hub_env = {"KIOSK_DATABASE_URL": url, "KIOSK_HUB_IMPORT_SHARE": "0.5"}
    hub = Kiosk(tmp_path / "hub", free_port(), env=hub_env)
    hub.start()
    tables = [Table(tmp_path, "table-a"), Table(tmp_path, "table-b")]
    hops = []
    engine = create_engine(url)
    lead = functools.partial(at_the_hub, url, monkeypatch, tmp_path / "hub-lead")
    laps: dict[str, float] = {}

    def lap(name: str) -> None:
        laps[name] = round(time.monotonic() - began - sum(laps.values()), 1)

    def hub_people() -> list[str]:
        """The hub's sign-ups by their email digests (the emails are sealed)."""
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT email, email_digest FROM signup")).all()
        assert all(email.startswith("nacl1:") for email, _digest in rows)
        return [digest for _email, digest in rows]

    try:
        hub.wait_ready(timeout=60)
        with lead():
            event = events.create_event("Spring fair", activate=True)
            person = functools.partial(digest_of_record, event.erasure_key)
            for table in tables:
                hop = Hop(hub.port)
                hops.append(hop)
                table.code = hub_tables.add_table(
                    table.name, [event], f"http://127.0.0.1:{hop.port}"
                )
        for table, hop in zip(tables, hops, strict=True):
            hop.mode = "up"
            joined = kiosk_command(table.env, "hub", "join", table.code)
            assert "Spring fair" in joined
            hop.mode = "down"  # the hub is out of reach while the tables take sign-ups
            table.kiosk.start()
        for table in tables:
            table.kiosk.wait_ready()
        lap("start")

        both = ["both@example.org", "shared@example.org"]
        for n, table in enumerate(tables):
            own = [f"{table.name}-{i}@example.org" for i in range(PEOPLE)]
            sign_up(table.kiosk.port, table.name, own[:6] + both + own[6:])
        assert all(table.waiting() == PEOPLE + 2 for table in tables)
        assert hub_people() == []
        lap("sign-ups")

        # The network comes back, badly: chunks cut mid-request and answers lost.
        for hop in hops:
            hop.mode = "flaky"
        wait_for(
            lambda: (
                all(h.counts["cut"] >= 2 and h.counts["lose"] >= 2 for h in hops)
                or all(t.waiting() == 0 for t in tables)
            ),
            "cuts and lost answers",
        )
        for hop in hops:
            hop.mode = "up"
        resumed = wait_for(lambda: all(t.waiting() == 0 for t in tables), "tables to sync")

        lap("sync")
        stored = hub_people()
        expected = {f"{t.name}-{i}@example.org" for t in tables for i in range(PEOPLE)} | set(both)
        wanted = Counter(person(email) for email in expected)
        assert Counter(stored) == wanted, "each person once, every person"
        with engine.connect() as connection:
            received = connection.execute(
                text("SELECT name, records_received, chunks_received FROM hub_table ORDER BY name")
            ).all()
        # Each table sent its records at least once; resent chunks count again.
        assert all(records >= PEOPLE + 2 for _name, records, _chunks in received)

        # Erasure at the hub reaches both tables.
        with lead():
            erasure.erase_person("both@example.org")
        wait_for(
            lambda: all(person("both@example.org") not in t.people() for t in tables),
            "hub's erasure",
        )
        # Erasure at a table reaches the hub, and through it the other table.
        a, b = tables
        kiosk_command(a.env, "erase", "person", "shared@example.org", "--yes")
        shared = person("shared@example.org")
        wait_for(lambda: shared not in hub_people(), "table's erasure at the hub")
        wait_for(lambda: shared not in b.people(), "table's erasure at table b")
        assert person("both@example.org") not in hub_people()  # never sent back by a late table

        lap("erasures")
        # A revoked table is refused and says so; what it takes stays with it.
        with lead():
            hub_tables.revoke_table(hub_tables.table_named(b.name).id)
        sign_up(b.kiosk.port, "late", ["after-revoke@example.org"])
        wait_for(lambda: b.status().get("revoked") is True, "table b to see it is revoked")
        assert person("after-revoke@example.org") not in hub_people()
        assert b.waiting() == 1
        assert "revoked" in b.status()["last_error"]

        lap("revoke")
        counts = {f"hop {n}": dict(hop.counts) for n, hop in enumerate(hops)}
        figure(
            f"sync walk: {2 * PEOPLE + 2} people at 2 tables (2 at both); "
            f"{counts}; hub received {received}; resumed and synced in {resumed:.1f} s; "
            f"whole walk {time.monotonic() - began:.1f} s {laps}"
        )
    finally:
        stop_all(tables, hub, hops, engine)
