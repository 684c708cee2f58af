"""Where the served kiosk's resident memory goes (issue 21): RSS at each stage of a start, a
load and the lead's two web exports, with what makes it up.

    .venv/bin/python -m bench.memory_probe                 about a minute and a half
    .venv/bin/python -m bench.memory_probe --source DIR    the kiosk's code from DIR instead
    .venv/bin/python -m bench.memory_probe --tracemalloc 25

It serves the kiosk as `make bench` does (`kiosk serve`, waitress, 8 threads, from
bench/out/server-venv, on $BENCH_KIOSK_PORT) on an instance holding --signups sign-ups
(bench/growth.py's fill), then prints, stage by stage: VmRSS; its anonymous and file-backed
parts (/proc/PID/smaps); the anonymous part split into glibc's main heap, its per-thread
arenas (the 64 MB reservations), and other anonymous mappings (CPython's 1 MB object
arenas, thread stacks, large blocks); and, from inside the process, glibc's own count of
the bytes its arenas hold in use and free (mallinfo2) and SQLite's of the heap it holds
(page caches, statements, schemas: sqlite3_memory_used). Stages: before serving (imports and
create_app, in a process of their own, step by step), served, the first request of each
visitor screen, the mixed load (wrk, bench/kiosk.lua), the dashboard, the CSV export, the
Mailchimp export.

The server runs under `launch` (below): the kiosk's own `main()`, with a SIGUSR1 handler that
writes those inside figures to a file, with the modules loaded since the stage before. With
--tracemalloc N it also starts tracemalloc and lists, at each stage, the N lines whose
allocations grew most since the stage before (tracemalloc's own bookkeeping inflates RSS
then: read the table of a run without it). --source DIR puts DIR first on the server's
PYTHONPATH, so two versions of the kiosk can be measured in one run under the lock:

    flock /work/bench.lock sh -c '.venv/bin/python -m bench.memory_probe --source /tmp/base;
                                  .venv/bin/python -m bench.memory_probe'
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

# The per-thread arenas glibc maps for malloc: 64 MB reserved each, aligned on 64 MB.
THREAD_ARENA_BYTES = 64 * 2**20
REPORT_ENV = "BENCH_MEMORY_REPORT"
TRACE_ENV = "BENCH_MEMORY_TRACE"


# ---- Inside the served process -------------------------------------------------------------


def mallinfo() -> dict[str, float]:
    """glibc's mallinfo2 (all arenas): MB in use, MB free but kept, MB in mmapped blocks."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
            )
        ]  # fmt: skip

    try:
        function = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        return {}
    function.restype = MallInfo2
    info = function()
    mb = 1 / 2**20
    return {
        "in_use": info.uordblks * mb,
        "free_kept": info.fordblks * mb,
        "mmapped": info.hblkhd * mb,
    }


# What the previous report saw: the modules loaded, and tracemalloc's snapshot.
_seen: dict = {"modules": set(), "snapshot": None}


def where_allocated(traceback: tracemalloc.Traceback) -> str:
    """The innermost frame of our code or a library's, not the import machinery's: for a
    module's code objects, the `import` line that loaded it."""
    for frame in reversed(traceback):  # innermost last
        if not frame.filename.startswith(("<frozen", "<string")):
            return f"{short_path(frame.filename)}:{frame.lineno}"
    return str(traceback[-1])


def short_path(filename: str) -> str:
    return filename.split("site-packages/")[-1].split("/lib/python3")[-1].split("/work/")[-1]


def sqlite_memory() -> dict[str, float]:
    """SQLite's own count of the heap it holds in this process (page caches, prepared
    statements, schemas), in MB: now and its high-water mark."""
    import ctypes

    try:
        library = ctypes.CDLL("libsqlite3.so.0")
    except OSError:
        return {}
    library.sqlite3_memory_used.restype = ctypes.c_int64
    library.sqlite3_memory_highwater.restype = ctypes.c_int64
    return {
        "used": library.sqlite3_memory_used() / 2**20,
        "highwater": library.sqlite3_memory_highwater(0) / 2**20,
    }


def kept_by_caches() -> float:
    """MB the kiosk's bounded caches (kiosk.bounded.ByteBudget: kept pages, the fast path's
    recipes and sessions) hold, as they weigh it."""
    import gc

    budget = getattr(sys.modules.get("kiosk.bounded"), "ByteBudget", None)
    if budget is None:
        return 0.0
    return sum(o.used for o in gc.get_objects() if isinstance(o, budget)) / 2**20


def write_report(path: str, top: int) -> None:
    import threading

    modules = set(sys.modules)
    new = sorted({name.split(".")[0] for name in modules - _seen["modules"]})
    _seen["modules"] = modules
    report: dict = {
        "caches": kept_by_caches(),
        "malloc": mallinfo(),
        "sqlite": sqlite_memory(),
        "threads": threading.active_count(),
        "new": new,
    }
    if tracemalloc.is_tracing():
        report["traced_mb"] = tracemalloc.get_traced_memory()[0] / 2**20
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        grown: dict[str, int] = {}
        stats = (
            snapshot.compare_to(_seen["snapshot"], "lineno")
            if _seen["snapshot"] is not None
            else snapshot.statistics("lineno")
        )
        for stat in stats:
            site = where_allocated(stat.traceback)
            grown[site] = grown.get(site, 0) + getattr(stat, "size_diff", stat.size)
        _seen["snapshot"] = snapshot
        largest = sorted(grown.items(), key=lambda item: -item[1])[:top]
        report["top"] = [(size / 2**20, site) for site, size in largest]
    Path(path).write_text(json.dumps(report))


def launch(argv: list[str]) -> None:
    """`kiosk <argv>`, answering SIGUSR1 with the inside figures (written to $REPORT_ENV)."""
    top = int(os.environ.get(TRACE_ENV, "0"))
    if top:
        tracemalloc.start(1)
    report = os.environ[REPORT_ENV]
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: write_report(report, top))
    from kiosk.__main__ import main as kiosk_main

    sys.argv = ["kiosk", *argv]
    kiosk_main()


# ---- Read from outside ---------------------------------------------------------------------


def mappings(pid: int) -> dict[str, float]:
    """RSS of `pid` by kind of mapping, in MB (/proc/PID/smaps): anonymous, file-backed, and
    glibc's main heap ([heap], grown with brk) among the anonymous."""
    kinds = dict.fromkeys(("anon", "file", "heap"), 0.0)
    name = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):
            name = fields[5] if len(fields) > 5 else ""
        elif fields[0] == "Rss:":
            mb = int(fields[1]) / 1024
            kinds["file" if name.startswith("/") else "anon"] += mb
            if name == "[heap]":
                kinds["heap"] += mb
    return kinds


def vmrss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def thread_arena_rss(pid: int) -> tuple[int, float]:
    """glibc's thread arenas, count and RSS in MB: each is a 64 MB-aligned reservation of
    64 MB, mapped read-write as far as it is in use and PROT_NONE for the rest."""
    regions: list[list] = []  # [start, end, perms, name, rss MB]
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            regions.append([start, end, fields[1], fields[5] if len(fields) > 5 else "", 0.0])
        elif fields[0] == "Rss:" and regions:
            regions[-1][4] = int(fields[1]) / 1024
    count, rss = 0, 0.0
    for n, (start, end, perms, name, mb) in enumerate(regions):
        if name or start % THREAD_ARENA_BYTES or not perms.startswith("rw"):
            continue
        rest = regions[n + 1] if n + 1 < len(regions) else None
        whole = end - start == THREAD_ARENA_BYTES
        split = (
            rest is not None
            and rest[0] == end
            and rest[2].startswith("---")
            and (rest[1] - start == THREAD_ARENA_BYTES)
        )
        if whole or split:
            count += 1
            rss += mb
    return count, rss


class Probe:
    """The served kiosk, and the table of its memory stage by stage."""

    def __init__(self, server: object, report: Path) -> None:
        self.server = server
        self.report = report
        self.rows: list[tuple[str, float, dict, dict, tuple[int, float]]] = []
        self.last: dict = {}

    def inside(self) -> dict:
        self.report.unlink(missing_ok=True)
        os.kill(self.server.process.pid, signal.SIGUSR1)  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while not self.report.exists() or not self.report.stat().st_size:
            if time.monotonic() > deadline:
                return {}
            time.sleep(0.02)
        time.sleep(0.05)
        return json.loads(self.report.read_text())

    def stage(self, name: str) -> float:
        pid = self.server.process.pid  # type: ignore[attr-defined]
        inside = self.inside()
        self.last = inside
        rss = vmrss(pid)
        self.rows.append((name, rss, mappings(pid), inside, thread_arena_rss(pid)))
        print(f"  {name}: {rss:.1f} MB", flush=True)
        if inside.get("new"):
            print(f"    modules loaded since the last stage: {', '.join(inside['new'])}")
        for size, where in inside.get("top", []):
            print(f"    {size:+7.2f} MB  {where}")
        return rss

    def table(self) -> str:
        head = (
            "| stage | VmRSS | anon | file | [heap] | thread arenas (n, RSS) | other anon "
            "| malloc in use | malloc free kept | SQLite (now, peak) | caches | threads |"
        )
        lines = [head, "|" + " --- |" * 12]
        for name, rss, kinds, inside, (count, arena_rss) in self.rows:
            malloc, sqlite = inside.get("malloc", {}), inside.get("sqlite", {})
            lines.append(
                f"| {name} | {rss:.1f} | {kinds['anon']:.1f} | {kinds['file']:.1f} "
                f"| {kinds['heap']:.1f} | {count}, {arena_rss:.1f} "
                f"| {kinds['anon'] - kinds['heap'] - arena_rss:.1f} "
                f"| {malloc.get('in_use', 0):.1f} | {malloc.get('free_kept', 0):.1f} "
                f"| {sqlite.get('used', 0):.1f}, {sqlite.get('highwater', 0):.1f} "
                f"| {inside.get('caches', 0):.1f} | {inside.get('threads', '?')} |"
            )
        return "\n".join(lines)


# ---- Before serving: the imports and create_app, step by step -----------------------------

STEPS = """
import json, sys
from pathlib import Path
def rss():
    return int(next(l for l in Path('/proc/self/status').read_text().splitlines()
                    if l.startswith('VmRSS:')).split()[1]) / 1024
steps = [('interpreter', rss())]
import flask
steps.append(('import flask', rss()))
import sqlalchemy.orm
steps.append(('import sqlalchemy.orm', rss()))
from kiosk import create_app
steps.append(('import kiosk', rss()))
app = create_app()
steps.append(('create_app()', rss()))
loaded = sorted(m for m in sys.modules if m.startswith(tuple(sys.argv[1].split(','))))
import kiosk
print(json.dumps({'steps': steps, 'unneeded': loaded, 'kiosk': kiosk.__path__[0]}))
"""
# Loaded by a kiosk that serves SQLite, and never used by it: the hub's PostgreSQL (its
# dialect is loaded by the models' postgresql_where, 2.3 MB), the migrations (Alembic).
UNNEEDED = "sqlalchemy.dialects.postgresql,psycopg,alembic,flask_migrate,mako"


def before_serving(python: Path, env: dict[str, str], workdir: Path) -> None:
    done = subprocess.run(
        [str(python), "-c", STEPS, UNNEEDED],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=workdir,
    )
    found = json.loads(done.stdout.splitlines()[-1])
    print(f"kiosk from {found['kiosk']}\nBefore serving (a process of its own):")
    for name, rss in found["steps"]:
        print(f"  {name}: {rss:.1f} MB")
    unneeded = sorted({m for m in found["unneeded"] if m in UNNEEDED.split(",")})
    print(f"  loaded and not needed to serve SQLite: {', '.join(unneeded) or 'none'}")


# ---- The run -------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    from bench import growth, hostile, pages, servers
    from bench import run as bench_run

    python = Path(args.server_python).absolute()
    workdir = Path(tempfile.mkdtemp(prefix="kiosk-memory-"))
    instance = workdir / "instance"
    env = bench_run.kiosk_env(instance)
    # Every process of the server's side runs in the work folder, with the kiosk's code from
    # --source (or this checkout) and this checkout's bench package after it.
    here = Path(__file__).absolute().parent.parent
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(source).absolute()) for source in [args.source] if source] + [str(here)]
    )
    before_serving(python, env, workdir)
    print(f"Filling {args.signups:,} sign-ups ...", flush=True)
    filled = json.loads(
        subprocess.run(
            [str(python), "-m", "bench.growth", "fill", "--instance", str(instance),
             "--taps", str(args.taps), "--signups", str(args.signups)],
            env=env, capture_output=True, text=True, check=True, cwd=workdir,
        ).stdout.splitlines()[-1]
    )  # fmt: skip
    token = json.loads(
        subprocess.run(
            [str(python), "-m", "bench.growth", "lead", "--instance", str(instance)],
            env=env, capture_output=True, text=True, check=True, cwd=workdir,
        ).stdout.splitlines()[-1]
    )["token"]  # fmt: skip
    report = workdir / "inside.json"
    env |= {REPORT_ENV: str(report), TRACE_ENV: str(args.tracemalloc)}
    if args.tracemalloc:
        servers.STARTUP_TIMEOUT_S = 300  # a start under tracemalloc takes minutes
    serve = servers.kiosk_command(python, bench_run.KIOSK_PORT)[1:]
    # Run as a script, not `-m bench.memory_probe`: --source's checkout has a bench package
    # of its own, without this file.
    command = [str(python), str(Path(__file__).absolute()), "launch", *serve]
    log = (workdir / "server.log").open("ab")
    server = servers.start(
        "kiosk", command, "/healthz", bench_run.KIOSK_PORT, env=env, stdout=log,
        stderr=subprocess.STDOUT, cwd=workdir,
    )  # fmt: skip
    probe = Probe(server, report)
    try:
        print("Served:", flush=True)
        probe.stage("served (first /healthz)")
        session = pages.start_session(server.base_url)
        for screen in hostile.screens_of(bench_run.KIOSK_PORT):
            session.fetch(screen)
        probe.stage("each visitor screen once")
        load = bench_run.Load(server, server, session, pages.ContentKeys.from_default_pack(), True)
        for mix, tablets in (("mixed", 8), ("mixed", 32), ("signup", 8)):
            done = load.on_kiosk(mix, tablets, args.seconds)
            print(
                f"    {mix}, {tablets} tablets: {done.rps:.0f} req/s, p95 {done.p95_ms:.1f} ms, "
                f"{done.cpu_ms_per_request:.2f} ms CPU/request, {done.errors} errors",
                flush=True,
            )
        probe.stage(f"mixed load 8 and 32 tablets, sign-ups ({args.seconds} s each)")
        growth.dashboard_poll_ms(server.base_url, token, polls=3)
        probe.stage("lead dashboard")
        for round_number in range(1, args.export_rounds + 1):
            again = f" (round {round_number})" if round_number > 1 else ""
            for name in ("csv", "mailchimp"):
                growth.web_export(server.base_url, token, name, filled["event"])
                probe.stage(f"web export {name}, {args.signups:,} sign-ups{again}")
        time.sleep(1)
        probe.stage("1 s later")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(probe.table())
    first_export = next(i for i, row in enumerate(probe.rows) if row[0].startswith("web export"))
    before, after = probe.rows[first_export - 1][1], probe.rows[first_export + 1][1]
    if args.export_rounds > 1:
        print(f"after {args.export_rounds} rounds: {probe.rows[-2][1] - before:+.1f} MB")
    print(f"\nRSS after the load: {probe.rows[first_export - 1][1]:.1f} MB; "
          f"the two web exports: {after - before:+.1f} MB")  # fmt: skip
    if probe.last.get("traced_mb"):
        print(f"tracemalloc: {probe.last['traced_mb']:.1f} MB traced at the end")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "launch":
        if sys.path[0] == str(Path(__file__).parent):
            sys.path.pop(0)  # run as a script: bench/'s modules are not top-level ones
        launch(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-python", default=str(Path("bench/out/server-venv/bin/python")))
    parser.add_argument("--source", help="serve the kiosk's code from this checkout")
    parser.add_argument("--signups", type=int, default=100_000)
    parser.add_argument("--taps", type=int, default=0)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--export-rounds", type=int, default=1, help="the two exports this many times over"
    )
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="N")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
