"""A table's sync to its hub never stops the table (issue 23), measured:
`python -m bench.sync_beside [--people 10000] [--seconds 10]`.

A hub (`kiosk serve`, SQLite, a throw-away instance) and a table (`kiosk serve`, SQLite)
holding --people sign-ups of the hub's event. First two tablets sign visitors up at the table
for --seconds (the baseline); then the table joins the hub (`kiosk hub join CODE`, while it
serves) and the same tablets sign up while its sync sends everything. Prints:

    sync seconds                 from the join until the table has nothing waiting
    chunks / records received    at the hub (resent records count again)
    visitor p50 / p95 / max      alone, and during the sync
    failures                     visitors not thanked (must be 0)
    hub sign-ups                 must be --people plus every thanked visitor, each once
"""

import argparse
import contextlib
import json
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

import bench
from kiosk.extensions import db
from kiosk.models import Event, HubTable, Signup
from kiosk.services import events, hub, imports, joining
from tests.served import KIOSK, Kiosk, free_port
from tests.test_import_beside_tablets import a_file_of, app_of, tablets_signing_up


def _ms(values: list[float], quantile: int) -> float:
    return statistics.quantiles(values, n=100)[quantile - 1] * 1000


def last_id(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        return connection.execute("SELECT coalesce(max(id), 0) FROM signup").fetchone()[0]


def waiting(database: Path, up_to: int | None = None) -> int:
    """The table's sign-ups (those up to id `up_to`: the file's) the hub has not acknowledged
    yet. By id, as the emails are sealed."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        return connection.execute(
            "SELECT count(*) FROM signup WHERE id <= ? "
            "AND (hub_revision IS NULL OR hub_revision != revision)",
            (up_to if up_to is not None else 2**62,),
        ).fetchone()[0]


TIMEOUT_S = 300


def status(database: Path) -> str:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        rows = connection.execute("SELECT key, value FROM setting WHERE key = 'hub_status'")
        return str(rows.fetchall())


def measure(people: int, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="kiosk-sync-bench-") as folder:
        root = Path(folder)
        central = Kiosk(root / "hub", free_port())
        table = Kiosk(root / "table", free_port(), env={"KIOSK_SYNC_SECONDS": "1"})
        central.start()
        try:
            central.wait_ready()
            hub_app = app_of(central.instance)
            with hub_app.app_context():
                event = events.create_event("Sync bench", activate=True)
                join_file = joining.join_file(event)
                code = hub.add_table("Bench table", [event], f"http://127.0.0.1:{central.port}")
                db.engine.dispose()
            table.start()
            table.wait_ready()
            table_app = app_of(table.instance)
            with table_app.app_context():
                # The table holds the event (joined from a file) and its people already.
                joined = joining.join_event(join_file, activate=True)
                imports.import_bundle(a_file_of(people), into=joined.event)
                db.engine.dispose()
            of_the_file = last_id(table.database)  # the file's sign-ups, before any tablet's
            alone = tablets_signing_up(table.port, "alone", seconds)

            def sync() -> float:
                began = time.perf_counter()
                subprocess.run(
                    [KIOSK, "hub", "join", code],
                    env={"KIOSK_INSTANCE": str(table.instance), "PATH": "/usr/bin:/bin"},
                    check=True,
                    capture_output=True,
                )
                while waiting(table.database, of_the_file):
                    if time.perf_counter() - began > TIMEOUT_S:
                        raise TimeoutError(status(table.database))
                    time.sleep(0.25)
                return time.perf_counter() - began

            during = tablets_signing_up(table.port, "during", sync)
            began = time.perf_counter()
            while waiting(table.database):  # the tablets' sign-ups too, at the next rounds
                assert time.perf_counter() - began < TIMEOUT_S, status(table.database)
                time.sleep(0.25)
            with hub_app.app_context():
                row = db.session.scalar(select(HubTable))
                stored = db.session.scalar(
                    select(func.count())
                    .select_from(Signup)
                    .join(Event)
                    .where(Event.name == "Sync bench")
                )
                received = (row.chunks_received, row.records_received)
                db.engine.dispose()
        finally:
            table.stop()
            central.stop()
    return {
        "people": people,
        "sync_s": round(during.outcome, 1),
        "chunks, records received": received,
        "alone p50/p95/max ms": [round(_ms(alone.seconds, q)) for q in (50, 95)]
        + [round(max(alone.seconds) * 1000)],
        "during p50/p95/max ms": [round(_ms(during.seconds, q)) for q in (50, 95)]
        + [round(max(during.seconds) * 1000)],
        "failures": len(alone.failures) + len(during.failures),
        "hub sign-ups": stored,
        "expected": people + len(alone.thanked) + len(during.thanked),
    }


def main() -> None:
    bench.measure_real_costs()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    print(json.dumps(measure(args.people, args.seconds), indent=2))


if __name__ == "__main__":
    main()
