"""Twenty tables syncing to one hub at once (issue 23's scale), measured:
`python -m bench.sync_scale [--tables 20] [--records 500] [--on 8] [--off 4] [--tables-nice 19]
[--import-share S] [--placement split|shared] [--profile FILE]` (a few minutes; `make bench`
runs it too).

A hub (`kiosk serve` on PostgreSQL: a throw-away durable cluster, bench/hub.py's) and
--tables tables, each a real `kiosk serve` on SQLite of its own with the sync's production
settings (a round every KIOSK_SYNC_SECONDS, 40 records a chunk), each holding --records
records of the hub's event taken before it knew the hub: sign-ups (some people at two tables,
two people at every table), pledges, questions and taps (tests/test_sync_scale.py's records).

Two tablets sign visitors up at the hub all along. Every table is given its own join code at
once (what `kiosk hub join CODE` does, its token its own, through the real HTTP path to the
hub), and from then on the tables are let run for --on seconds and held for --off seconds in
turns (SIGCONT, SIGSTOP: a held table sends nothing, as before it joined), until every table
has nothing waiting. The sign-ups of the windows the tables ran are the figure "with the
sync", those of the windows they were held "without it" (each window's first SETTLE_S left
out: the chunk the hub was writing when they were held, the tables' first requests when let
go). Both are taken under the same load from the rest of the machine, in turns a few seconds
apart: on a shared machine a baseline taken once before a sync of minutes saw another load
than the sync (the ratio moved from 1.33× to 1.94× between two runs of the same code).
Prints, and writes to bench/results.md:

    hub visitor p95 / p50       the tables' windows against the held ones (target: <= 1.2×)
    sync time                   the windows the tables ran, from the join until every table
                                has nothing waiting (wall time in the note)
    records lost                a table's record the hub lacks, by UUID (target: 0)
    people duplicated           an email twice in the hub's event (target: 0)
    visitor failures            visitors at the hub not thanked, or thanked and not stored
    CPU during the sync         seconds used by the hub process, PostgreSQL, the tables and
                                this process (the visitors' load)

It also prints each kind of window's load, per second of window: the CPU of the hub, of
PostgreSQL, of the tables and of this process; the hub's answers by endpoint and status with
their mean time (counted inside the hub by bench/hub_counter, a sitecustomize on the hub's
PYTHONPATH that wraps waitress's task; nothing of the kiosk changes), the page cache's
generation bumps, the chunks taken, and PostgreSQL's commits, WAL bytes, WAL fsyncs and their
time (track_wal_io_timing). --profile FILE: py-spy samples the visitors' hub process in every
window, summed per kind (FILE-running.txt, FILE-held.txt beside the windows' own files).

Every process runs on this machine: the tables' own CPU competes with the hub's, which a real
hub with its tables on other machines (each table its own laptop or Pi) would not see. So the
tables' processes run at the lowest CPU priority (`nice -n 19`, --tables-nice; 0 runs them
as everything else): they take what the hub, PostgreSQL and the visitors' load leave, as if
on machines of their own. Only the tables: never the hub, PostgreSQL or the visitors' load.
At nice 19 they still run on the hub's two cores, between its threads' wake-ups, so
--placement split (the default) also puts them on a CPU of their own: every thread of the
twenty tables on the last CPU, and the hub, PostgreSQL (its postmaster, and so every backend
it starts) and this process (the visitors' load) on the others: on a 2-core machine the hub
is a one-core machine. The placement is made once, before the first window: the held windows
and the running ones see the same one, so the baseline is the one-core hub's too. Every
cost of the sync at the hub (its answers to the tables, the chunks' import, PostgreSQL's
writes) stays on the hub's CPU; only the tables' own work moves. --placement shared: every
process on every CPU, as before. Other people's processes on a shared machine still run on
both. The CPU line still says what the tables used. --import-share sets the hub's
KIOSK_HUB_IMPORT_SHARE (the share of its wall time tables' chunks may use, kiosk/hub.py).
"""

import argparse
import contextlib
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from sqlalchemy import create_engine, text

import bench
from bench import profile
from bench.hub import postgres_cluster, postgres_cpu_seconds
from bench.report import Figure, Goal, Target, number, ratio
from bench.servers import cpu_seconds
from kiosk.emails import digest_of_record
from kiosk.extensions import db
from kiosk.services import events, hub, imports, joining, sync
from tests.served import KIOSK, Kiosk, free_port
from tests.test_import_beside_tablets import Run, app_of, tablets_signing_up
from tests.test_sync_crash import Table
from tests.test_sync_scale import TABLE_OF, bundle_of, check_hub

P95_TARGET = 1.2  # the hub's visitor p95 with the sync, at most × without it
# Twenty tables with a person or two in common: 5% of each table's sign-ups, at least two.
SHARED_SHARE = 0.05
# Rounds a second apart (the default is 10 s): the sync starts within a second of the join.
SYNC_SECONDS = "1"
TIMEOUT_S = 600
# The tables' processes at the lowest CPU priority: each would be a machine of its own.
TABLES_NICE = 19
# The tables run for ON_S seconds, then are held for OFF_S, in turns (the docstring).
ON_S = 8.0
OFF_S = 4.0
# A window's first seconds are left out: the hub ends the chunk it was writing when the tables
# were held, and twenty tables let go at once all knock first.
SETTLE_S = 0.5
# How often the bench looks whether a table has records waiting (its SQLite file), in both
# kinds of window.
LOOK_S = 0.5
# PostgreSQL's commits (every database), WAL bytes written, WAL fsyncs and their milliseconds
# (track_wal_io_timing), as counters: each window takes their difference. A backend reports
# its counts when its transaction ends, at most once a second: a window's edges blur by that.
WAL_READ = (
    "SELECT (SELECT sum(xact_commit) FROM pg_stat_database), wal_bytes, wal_sync, "
    "wal_sync_time FROM pg_stat_wal"
)
# The tables on a CPU of their own, the hub's side on the others (the docstring; "" shares).
PLACEMENT = "split"
# bench/hub_counter: its sitecustomize counts the hub's answers (on the hub's PYTHONPATH).
COUNTER = Path(__file__).with_name("hub_counter")


@dataclass(frozen=True)
class Window:
    """A stretch of the run (time.perf_counter) with the tables running or held."""

    syncing: bool
    start: float
    end: float


def windowed(
    run: Run, windows: list[Window], settle: float = SETTLE_S
) -> tuple[list[float], list[float]]:
    """The sign-ups' seconds that began and ended within a window after its first `settle`
    seconds: (those of the windows the tables ran, those of the windows they were held)."""
    syncing: list[float] = []
    held: list[float] = []
    ordered = sorted(windows, key=lambda w: w.start)
    for started, seconds in zip(run.started, run.seconds, strict=True):
        for window in ordered:
            if window.start + settle <= started and started + seconds <= window.end:
                (syncing if window.syncing else held).append(seconds)
                break
    return syncing, held


def paired_ratios(run: Run, windows: list[Window], quantile: int = 95) -> list[float]:
    """Each held window's p95 against the running window just before it: how the ratio moves
    from pair to pair (the pooled ratio is the figure)."""
    ordered = sorted(windows, key=lambda w: w.start)
    ratios = []
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.syncing and not after.syncing:
            on, _ = windowed(run, [before])
            _, off = windowed(run, [after])
            if len(on) >= 20 and len(off) >= 20:
                ratios.append(_quantile(on, quantile) / _quantile(off, quantile))
    return ratios


def _quantile(seconds: list[float], quantile: int) -> float:
    if not seconds:
        return float("nan")  # no window of that kind (a sync done in its first window)
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(len(ordered) * quantile / 100))]


def children_of(pids: list[int]) -> list[int]:
    """The live processes whose parent is one of `pids` (a hub's intake, services/intake.py,
    and multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # ended meanwhile
            if int(stat[1]) in pids:
                found.append(int(entry.name))
    return found


def hold(sites: list[Table], running: bool) -> None:
    """Let the tables' processes run (SIGCONT) or hold them where they are (SIGSTOP)."""
    for site in sites:
        if site.kiosk.process is not None and site.kiosk.process.poll() is None:
            os.kill(site.kiosk.process.pid, signal.SIGCONT if running else signal.SIGSTOP)


@dataclass(frozen=True)
class Snapshot:
    """What the hub and the machine had done by a window's edge: CPU seconds by process
    group, the hub's answers by "METHOD /path status" ([count, seconds], bench/hub_counter),
    the page cache's generations (sums) and the chunks the hub took."""

    at: float
    cpu: dict[str, float]
    answers: dict[str, list[float]]
    generations: dict[str, int]
    chunks: int


@dataclass(frozen=True)
class WindowLoad:
    """One window's share of the load: the difference of the snapshots at its edges."""

    window: Window
    cpu: dict[str, float]  # CPU seconds each group used during the window
    answers: dict[str, list[float]]  # answers during the window: [count, seconds]
    generations: dict[str, int]  # bumps of each generation during the window
    chunks: int

    @property
    def seconds(self) -> float:
        return self.window.end - self.window.start


def window_loads(windows: list[Window], edges: list[Snapshot]) -> list[WindowLoad]:
    """Each window's load, from the snapshots taken at its start and end (edges[i] at the
    start of windows[i], edges[i + 1] at its end)."""
    loads = []
    for window, (before, after) in zip(windows, zip(edges, edges[1:], strict=False), strict=False):
        answers = {
            key: [count - before.answers.get(key, [0, 0.0])[0],
                  seconds - before.answers.get(key, [0, 0.0])[1]]
            for key, (count, seconds) in after.answers.items()
        }  # fmt: skip
        loads.append(
            WindowLoad(
                window,
                {k: after.cpu[k] - before.cpu.get(k, 0.0) for k in after.cpu},
                {k: v for k, v in answers.items() if v[0]},
                {k: after.generations[k] - before.generations.get(k, 0) for k in after.generations},
                after.chunks - before.chunks,
            )
        )
    return loads


def load_table(loads: list[WindowLoad], run: Run) -> str:
    """Running windows against held ones: per second of window, the CPU each group used
    (cores), the hub's answers by endpoint and status (with their mean seconds), generation
    bumps and chunks taken; and the sign-ups' p95 within them."""
    rows: dict[str, dict[bool, float]] = {}
    span = {
        kind: sum(w.seconds for w in loads if w.window.syncing is kind) for kind in (True, False)
    }

    def add(name: str, kind: bool, value: float) -> None:
        rows.setdefault(name, {True: 0.0, False: 0.0})[kind] += value

    answer_seconds: dict[str, dict[bool, float]] = {}
    for load in loads:
        kind = load.window.syncing
        for group, used in load.cpu.items():
            add(f"CPU {group} (cores)", kind, used / span[kind])
        for key, (count, seconds) in load.answers.items():
            add(f"{key} /s", kind, count / span[kind])
            answer_seconds.setdefault(key, {True: 0.0, False: 0.0})[kind] += seconds
        for name, bumps in load.generations.items():
            label = name if name.startswith("pg ") else f"generation {name} bumps"
            add(f"{label} /s", kind, bumps / span[kind])
        add("chunks taken /s", kind, load.chunks / span[kind])
    for key, seconds in answer_seconds.items():
        for kind in (True, False):
            count = rows[f"{key} /s"][kind] * span[kind]
            add(f"{key} mean ms", kind, 1000 * seconds[kind] / count if count else 0.0)
    syncing, held = windowed(run, [load.window for load in loads])
    lines = [
        f"| per second of window | running ({span[True]:.0f} s) | held ({span[False]:.0f} s) |",
        "| --- | ---: | ---: |",
    ]
    for quantile in (50, 95):
        on = 1000 * _quantile(syncing, quantile) if syncing else 0.0
        off = 1000 * _quantile(held, quantile) if held else 0.0
        lines.append(f"| visitor sign-up p{quantile} (ms) | {on:.1f} | {off:.1f} |")
    for name in sorted(rows):
        lines.append(f"| {name} | {rows[name][True]:.3g} | {rows[name][False]:.3g} |")
    return "\n".join(lines)


@dataclass
class SyncScale:
    tables: int
    records: int
    shared: int
    start_s: float  # until every table served, joined its event and held its records
    alone: Run  # the sign-ups of the windows the tables were held
    during: Run  # those of the windows they ran; its outcome: the seconds they ran
    visitors: Run  # every sign-up of the run
    found: dict[str, object]
    visitors_stored: int
    cpu_s: dict[str, float]
    received: tuple[int, int] = (0, 0)  # chunks and records the hub received (resent too)
    wall_s: float = 0.0  # from the join until every table had nothing waiting, held or not
    windows: list[Window] = field(default_factory=list)
    sync_process: bool = False  # the tables sent to a second hub process, not the visitors'
    tables_nice: int = 0  # the tables' processes' CPU priority (nice -n)
    import_share: str = ""  # KIOSK_HUB_IMPORT_SHARE of the hub ("" its default)
    profile: str = ""  # py-spy's summary of the visitors' hub process, running against held
    loads: list[WindowLoad] = field(default_factory=list)  # each window's CPU and answers
    placement: str = ""  # "split": the tables on CPUs of their own (SPLIT)

    @property
    def sync_s(self) -> float:
        return float(self.during.outcome)

    @property
    def failures(self) -> int:
        return len(self.visitors.failures) + len(self.visitors.thanked) - self.visitors_stored

    @property
    def pairs(self) -> list[float]:
        return paired_ratios(self.visitors, self.windows)


def _ms(run: Run, quantile: int) -> float:
    return 1000 * _quantile(run.seconds, quantile)


@contextlib.contextmanager
def lead_at(instance: Path, url: str) -> Iterator[Flask]:
    """The hub's lead at work in this process, on the hub's database."""
    before = os.environ.get("KIOSK_DATABASE_URL")
    os.environ["KIOSK_DATABASE_URL"] = url
    try:
        app = app_of(instance)
    finally:
        if before is None:
            os.environ.pop("KIOSK_DATABASE_URL")
        else:
            os.environ["KIOSK_DATABASE_URL"] = before
    try:
        with app.app_context():
            yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def measure(
    tables: int = 20,
    records: int = 500,
    on_s: float = ON_S,
    off_s: float = OFF_S,
    executable: Path = KIOSK,
    sync_process: bool = False,
    profile_to: Path | None = None,
    tables_nice: int = TABLES_NICE,
    import_share: str = "",
    placement: str = PLACEMENT,
) -> SyncScale:
    """See the module's docstring. `sync_process`: the tables' join codes name a second hub
    process (same database, same instance folder), as a reverse proxy sending /hub/ to a
    process of its own would; the visitors keep the first. `profile_to`: py-spy samples the
    visitors' hub process during the sync. `tables_nice`: the tables' CPU priority. `on_s`,
    `off_s`: the windows the tables run and are held.
    `import_share`: the hub's KIOSK_HUB_IMPORT_SHARE ("" for its default).
    `placement`: "split" puts the tables on CPUs of their own (cpu_split), "" lets them share
    (and so does a machine of one CPU). This process's threads are given back every CPU they
    had at the end."""
    if placement and len(os.sched_getaffinity(0)) < 2:
        print("  one CPU: the tables share it with the hub (no placement)", flush=True)
        placement = ""
    own_cpus = os.sched_getaffinity(0)
    shared = max(2, int(records * SHARED_SHARE))
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="kiosk-sync-scale-") as folder,
        # The WAL's fsyncs timed, so each window says how long PostgreSQL spent in them.
        postgres_cluster(track_wal_io_timing="on") as cluster,
    ):
        root = Path(folder)
        url = cluster.url(cluster.create_database("hub"))
        counted = root / "hub-answers.json"
        hub_env = {
            "KIOSK_DATABASE_URL": url,
            # The hub's answers counted by bench/hub_counter (its sitecustomize), nothing else.
            "PYTHONPATH": os.pathsep.join(
                [str(COUNTER), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "BENCH_HUB_REQUESTS": str(counted),
        }
        if import_share:
            hub_env["KIOSK_HUB_IMPORT_SHARE"] = import_share
        central = Kiosk(root / "hub", free_port(), env=hub_env, executable=executable)
        second = Kiosk(root / "hub", free_port(), env=hub_env, executable=executable)
        chunk = str(sync.CHUNK_RECORDS)
        sites = [
            Table(root, f"table-{n:02d}", chunk, SYNC_SECONDS, executable) for n in range(tables)
        ]
        for site in sites:
            site.kiosk.nice = tables_nice  # as if on a machine of its own (the docstring)
        apps: list[Flask] = []
        engine = create_engine(url)
        central.start()
        try:
            central.wait_ready(timeout=120)
            if sync_process:
                second.start()
                second.wait_ready(timeout=120)
            niced = f" at nice {tables_nice} (as on machines of their own)" if tables_nice else ""
            print(f"Sync scale: starting {tables} tables{niced} ...", flush=True)
            for site in sites:
                site.kiosk.start()
            with lead_at(root / "hub-lead", url):
                event = events.create_event("Sync scale", activate=True)
                person = functools.partial(digest_of_record, event.erasure_key)
                event_id, join_file = event.id, joining.join_file(event)
                address = f"http://127.0.0.1:{(second if sync_process else central).port}"
                for site in sites:
                    site.code = hub.add_table(site.name, [event], address)
            bundles = [bundle_of(n, tables, records, shared) for n in range(tables)]
            for site, bundle in zip(sites, bundles, strict=True):
                site.kiosk.wait_ready(timeout=TIMEOUT_S)
                app = app_of(site.kiosk.instance)
                with app.app_context():
                    joined = joining.join_event(join_file, activate=True)
                    imports.import_bundle(json.dumps(bundle), into=joined.event)
                    db.session.remove()
                apps.append(app)
            assert all(site.waiting() == records for site in sites)  # noqa: S101
            start_s = time.monotonic() - began
            print(f"  ready in {start_s:.0f} s", flush=True)
            processes = {"hub": [central, second], "tables": [s.kiosk for s in sites]}
            if placement:
                hub_cpus, table_cpus = cpu_split()
                place([os.getpid()], hub_cpus)  # the visitors' load (this process)
                place([k.process.pid for k in processes["hub"] if k.process], hub_cpus)
                place(postgres_pids(cluster), hub_cpus)
                place([k.process.pid for k in processes["tables"] if k.process], table_cpus)
                print(f"  placed: hub, PostgreSQL and visitors on CPUs {sorted(hub_cpus)}, "
                      f"the tables on {sorted(table_cpus)}", flush=True)  # fmt: skip

            def cpu() -> dict[str, float]:
                used = {
                    name: sum(cpu_seconds(k.process.pid) for k in kiosks if k.process)
                    for name, kiosks in processes.items()
                }
                hubs = [k.process.pid for k in processes["hub"] if k.process]
                intake = 0.0
                for pid in children_of(hubs):
                    with contextlib.suppress(OSError, IndexError):  # ended meanwhile
                        intake += cpu_seconds(pid)
                return used | {
                    "intake": intake,
                    "postgresql": postgres_cpu_seconds(cluster),
                    "visitors' load": cpu_seconds(os.getpid()),
                }

            def snapshot() -> Snapshot:
                with engine.connect() as connection:
                    generations = {
                        str(name): int(value)
                        for name, value in connection.execute(
                            text("SELECT name, sum(value) FROM generation GROUP BY name")
                        )
                    }
                    chunks = connection.scalar(text("SELECT sum(chunks_received) FROM hub_table"))
                    wal = connection.execute(text(WAL_READ)).one()
                    generations |= {
                        "pg commits": int(wal[0]),
                        "pg WAL kB": int(wal[1]) // 1024,
                        "pg WAL fsyncs": int(wal[2]),
                        "pg WAL fsync ms": int(wal[3]),
                    }
                try:
                    answers = json.loads(counted.read_text())
                except (OSError, ValueError):
                    answers = {}
                return Snapshot(time.perf_counter(), cpu(), answers, generations, int(chunks or 0))

            windows: list[Window] = []
            edges: list[Snapshot] = []
            recordings: list[tuple[bool, Path, subprocess.Popen | None]] = []

            def record(syncing: bool, seconds: float) -> None:
                """py-spy samples the visitors' hub process for the window that begins."""
                if profile_to is None or central.process is None or seconds < 1.5:
                    return
                kind = "running" if syncing else "held"
                out = profile_to.with_name(f"{profile_to.stem}-{len(windows):03d}-{kind}.txt")
                recordings.append(
                    (syncing, out, profile.start_recording(central.process.pid,
                                                           int(seconds - SETTLE_S), out))
                )  # fmt: skip

            def look(pending: list[Table], until: float) -> list[Table]:
                """Which tables still have records waiting, looked at every LOOK_S until
                `until` (in both kinds of window alike: the looking costs this process CPU)."""
                while time.perf_counter() < until:
                    time.sleep(min(LOOK_S, max(0.0, until - time.perf_counter())))
                    pending = [site for site in pending if site.waiting()]
                    if not pending:
                        break
                return pending

            def sync_all() -> tuple[float, float]:
                """The seconds the tables ran until none had anything waiting, and the wall
                time from the join."""
                started = time.perf_counter()
                for site, app in zip(sites, apps, strict=True):
                    with app.app_context():
                        sync.join(site.code)
                        db.session.remove()
                pending, ran = list(sites), 0.0
                edges.append(snapshot())
                while True:
                    began = time.perf_counter()
                    hold(sites, running=True)
                    record(True, on_s)
                    pending = look(pending, began + on_s)
                    windows.append(Window(True, began, time.perf_counter()))
                    edges.append(snapshot())
                    ran += time.perf_counter() - began
                    if not pending:
                        return ran, time.perf_counter() - started
                    if time.perf_counter() - started > TIMEOUT_S:
                        raise TimeoutError([site.status() for site in sites])
                    began = time.perf_counter()
                    hold(sites, running=False)
                    record(False, off_s)
                    look(list(pending), began + off_s)  # the same looking, its answer unused
                    windows.append(Window(False, began, time.perf_counter()))
                    edges.append(snapshot())

            print(
                f"  {tables} tables join and sync, run {on_s:g} s and held {off_s:g} s in "
                "turns, the hub's visitors all along ...",
                flush=True,
            )
            before = cpu()
            try:
                visitors = tablets_signing_up(central.port, "visitor", sync_all)
            finally:
                hold(sites, running=True)  # a held process would not end when told to
            after = cpu()
            for _syncing, _out, recorder in recordings:
                if recorder is not None:
                    recorder.wait()
            with engine.connect() as connection:
                stored = connection.execute(
                    # The emails are sealed: each person is her address's digest.
                    text("SELECT email_digest, uuid FROM signup WHERE event_id = :e"),
                    {"e": event_id},
                ).all()
                held = {
                    table: list(
                        connection.scalars(
                            text(f"SELECT uuid FROM {table} WHERE event_id = :e"),  # noqa: S608
                            {"e": event_id},
                        )
                    )
                    for table in TABLE_OF.values()
                }
                chunks, received = connection.execute(
                    text("SELECT sum(chunks_received), sum(records_received) FROM hub_table")
                ).one()
        finally:
            place([os.getpid()], own_cpus)  # `make bench` goes on after this scenario
            for app in apps:
                with app.app_context():
                    db.engine.dispose()
            for site in sites:
                site.kiosk.stop()
            second.stop()
            central.stop()
            engine.dispose()
    people = {person(email) for email in set(visitors.thanked)}
    from_tables = [(str(d), str(u)) for d, u in stored if d not in people]
    found = check_hub(bundles, from_tables, held, person)
    ran_s, wall_s = visitors.outcome
    syncing, not_syncing = windowed(visitors, windows)
    return SyncScale(
        tables=tables,
        records=records,
        shared=shared,
        start_s=start_s,
        alone=Run(seconds=not_syncing),
        during=Run(seconds=syncing, outcome=ran_s),
        visitors=visitors,
        windows=windows,
        found=found,
        visitors_stored=len({d for d, _u in stored} & people),
        cpu_s={name: after[name] - before[name] for name in after},
        received=(int(chunks or 0), int(received or 0)),
        wall_s=wall_s,
        sync_process=sync_process,
        tables_nice=tables_nice,
        import_share=import_share,
        profile=profiles(recordings),
        loads=window_loads(windows, edges),
        placement=placement,
    )


def profiles(recordings: list[tuple[bool, Path, subprocess.Popen | None]]) -> str:
    """py-spy's samples of the windows the tables ran, then of those they were held, each
    summed over its windows (samples per second of window say how busy the threads were)."""
    parts = []
    for syncing, kind in ((True, "running"), (False, "held")):
        files = [out for s, out, _r in recordings if s is syncing and out.exists()]
        if not files:
            continue
        raw = "\n".join(out.read_text() for out in files)
        merged = files[0].with_name(files[0].name.split("-")[0] + f"-{kind}.txt")
        merged.write_text(raw)
        found = profile.parse_raw(raw)
        parts.append(
            f"#### The tables {kind} ({len(files)} windows, raw samples: {merged.name})\n\n"
            + profile.markdown(found, 15)
        )
    return "\n\n".join(parts)


def cpu_split() -> tuple[set[int], set[int]]:
    """The CPUs of the hub's side (the hub, PostgreSQL, the visitors' load) and the tables'
    (SPLIT): the tables get the last CPU this process may use, the hub's side the others."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--placement split needs two CPUs at least")
    return set(cpus[:-1]), {cpus[-1]}


def place(pids: list[int], cpus: set[int]) -> None:
    """Every thread of each process on `cpus` (threads and processes started later by them
    inherit it)."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(ProcessLookupError, FileNotFoundError):  # ended meanwhile
                os.sched_setaffinity(int(task.name), cpus)


def postgres_pids(cluster) -> list[int]:  # type: ignore[no-untyped-def]
    """The cluster's postmaster and its children (backends, WAL writer, checkpointer...)."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    return [postmaster, *children_of([postmaster])]


def variant(s: SyncScale) -> str:
    """How this run differs from the plain one: the tables' priority, the hub's share."""
    parts = [f"tables at nice {s.tables_nice}"] if s.tables_nice else []
    parts += [f"import share {s.import_share}"] if s.import_share else []
    parts += ["tables to a second hub process"] if s.sync_process else []
    parts += ["tables on a CPU of their own"] if s.placement == "split" else []
    return "".join(f", {part}" for part in parts)


def figures(s: SyncScale) -> list[Figure]:
    name = f"Sync scale ({s.tables} tables × {s.records} records{variant(s)})"
    cpu = ", ".join(f"{k} {v:.1f} s" for k, v in s.cpu_s.items())
    versus = "no sync"
    return [
        Figure(f"{name}: hub visitor p95", _ms(s.during, 95), "ms", _ms(s.alone, 95),
               Target("<=", P95_TARGET, of_floor=True, versus=versus),
               f"{len(s.during.seconds)} sign-ups at the hub while the tables ran, "
               f"{len(s.alone.seconds)} while they were held, in {len(s.windows)} windows "
               f"taking turns; floor column: held; p95 ratio of each run window to the held "
               f"one after it: median {pairs_median(s):.2f}× of {len(s.pairs)}"),
        Figure(f"{name}: hub visitor p50", _ms(s.during, 50), "ms", _ms(s.alone, 50)),
        Figure(f"{name}: hub visitor max", 1000 * max(s.during.seconds, default=0), "ms",
               1000 * max(s.alone.seconds, default=0)),
        Figure(f"{name}: sync time", s.sync_s, "s",
               note=f"the tables' running windows ({s.wall_s:.0f} s with the held ones); "
               f"{s.found['records']:,} records, {s.found['records'] / s.sync_s:.0f} "
               f"records/s; hub received {s.received[0]} chunks, {s.received[1]:,} records; "
               f"CPU meanwhile: {cpu}"),
        Figure(f"{name}: records lost", len(s.found["lost"]), "", target=Target("<=", 0),
               note="by UUID; a person at several tables keeps one of theirs"),
        Figure(f"{name}: people duplicated", len(s.found["duplicated"]), "",
               target=Target("<=", 0),
               note=f"{s.found['people']:,} people, {s.shared} of them at 2 tables or more"),
        Figure(f"{name}: hub visitor failures", s.failures, "", target=Target("<=", 0),
               note="not thanked, or thanked and not stored"),
    ]  # fmt: skip


def pairs_median(s: SyncScale) -> float:
    return statistics.median(s.pairs) if s.pairs else 0.0


def goals(s: SyncScale) -> list[Goal]:
    p95 = ratio(_ms(s.during, 95), _ms(s.alone, 95))
    lost, duplicated = len(s.found["lost"]), len(s.found["duplicated"])
    return [
        Goal(
            f"hub: {s.tables} tables × {s.records} records syncing at once (issue 23)" + variant(s),
            f"visitor p95 <= {P95_TARGET:g}× without the sync (windows taking turns); 0 lost; "
            "0 duplicated",
            f"p95 {number(_ms(s.during, 95), 'ms')} vs {number(_ms(s.alone, 95), 'ms')} "
            f"({p95 or 0:.2f}×); {lost} lost; {duplicated} duplicated; {s.failures} visitor "
            f"failures; synced in {s.sync_s:.0f} s",
            p95 is not None
            and p95 <= P95_TARGET
            and lost == 0
            and duplicated == 0
            and s.failures == 0,
        )
    ]


def main() -> None:
    bench.measure_real_costs()
    from bench import report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=20)
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--on", type=float, default=ON_S, help="seconds the tables run a turn")
    parser.add_argument("--off", type=float, default=OFF_S, help="seconds they are held")
    parser.add_argument("--server-python", type=Path, default=Path(sys.executable))
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--sync-process",
        action="store_true",
        help="the tables send to a second hub process (same database); visitors use the first",
    )
    parser.add_argument(
        "--profile", type=Path, metavar="FILE", help="py-spy the visitors' hub during the sync"
    )
    parser.add_argument(
        "--tables-nice",
        type=int,
        default=TABLES_NICE,
        help="the tables' CPU priority (nice -n; 0: as the hub's)",
    )
    parser.add_argument(
        "--import-share", default="", help="the hub's KIOSK_HUB_IMPORT_SHARE (default: its own)"
    )
    parser.add_argument(
        "--placement",
        choices=["split", "shared"],
        default=PLACEMENT,
        help="split: the tables on a CPU of their own, the hub, PostgreSQL and the visitors' "
        "load on the others (cpu_split); shared: every process on every CPU",
    )
    args = parser.parse_args()
    load = os.getloadavg()
    found = measure(
        args.tables,
        args.records,
        args.on,
        args.off,
        args.server_python.with_name("kiosk"),
        args.sync_process,
        args.profile,
        args.tables_nice,
        args.import_share,
        "" if args.placement == "shared" else args.placement,
    )
    loads = "### Running windows against held ones\n\n" + load_table(found.loads, found.visitors)
    print("\n" + loads)
    rows, targets = figures(found), goals(found)
    print("\n" + report.text_table(rows) + "\n\n" + report.goals_table(targets))
    notes = f"### Profile: the visitors' hub process during the sync\n\n{found.profile}"
    print(notes if found.profile else "")
    notes = loads + ("\n\n" + notes if found.profile else "")
    placed = (
        "; the tables' processes on a CPU of their own, the hub, PostgreSQL and the visitors' "
        "load on the other(s), in both kinds of window (the docstring)"
        if found.placement
        else "; every process on every CPU"
    )
    flags = " --sync-process" if args.sync_process else ""
    flags += f" --tables-nice {args.tables_nice}" if args.tables_nice != TABLES_NICE else ""
    flags += f" --import-share {args.import_share}" if args.import_share else ""
    flags += f" --placement {args.placement}" if args.placement != PLACEMENT else ""
    priority = (
        f"at nice {args.tables_nice} (the lowest CPU priority: each a machine of its own)"
        if args.tables_nice
        else "at the hub's CPU priority"
    )
    if not args.no_write:
        report.splice(
            "bench.sync_scale" + flags.replace(" --", ".").replace(" ", "-"),
            f"Sync scale (issue 23), run on its own: `python -m bench.sync_scale{flags}`",
            rows,
            targets,
            f"{args.tables} `kiosk serve` tables on SQLite (KIOSK_SYNC_SECONDS={SYNC_SECONDS}, "
            f"{sync.CHUNK_RECORDS} records a chunk) {priority}, one `kiosk serve` hub on "
            f"PostgreSQL (durable; KIOSK_HUB_IMPORT_SHARE {args.import_share or 'its default'}), "
            f"two tablets signing up at the hub all along, the tables run {args.on:g} s and "
            f"held {args.off:g} s in turns; load average {load[0]:.2f} "
            f"before, {os.getloadavg()[0]:.2f} after; tables ready in {found.start_s:.0f} s"
            + placed,
            notes,
        )


if __name__ == "__main__":
    main()
