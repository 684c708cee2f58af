"""Benchmark the kiosk against a bare Flask floor: `make bench` (about 2 to 3 minutes).

How to run
    make bench                       installs wrk (Debian) and the `bench` extra, then runs this
    .venv/bin/python -m bench.run    the same, once wrk is there; --help lists the options

It starts the kiosk as `kiosk serve` (waitress, the production threads) with a throw-away
instance in a temporary folder, and the floors (bench/floor_app.py) under the same waitress
settings, both on loopback ports 8120/8121 ($BENCH_KIOSK_PORT, $BENCH_FLOOR_PORT). wrk
drives both with the same Lua script (bench/kiosk.lua). Results print as a table and are
written to bench/results.md, with the machine, the date, each target and met/MISSED, and
issue 15's targets table on top.

The floors, all bare Flask under the same waitress, measured in the same run:
    bare            GET / returning "ok": every "× floor" divides by it
    page-bytes      GET /page returning the kiosk's own opener page (fetched at start): the
                    most a read could reach; reads show "× own" against it
    durable-write   POST /insert doing one SQLite insert per request, WAL, synchronous=FULL,
                    in turns on one connection: the most a durable tap could reach; taps
                    and sign-ups show "× own" against it

What each figure means
    mixed traffic, N tablets   wrk with N connections for --seconds each; every connection
                               cycles through a visitor's requests: GET /, an htmx opener
                               tap and the chart refresh its answer asks for, GET /faq,
                               htmx FAQ opens and "Tell me more", a QR image and (when
                               the kiosk has /signup) an htmx sign-up with a
                               unique idempotency key. All share one session cookie and
                               CSRF token, fetched once. Requests/s and latency p50/p95/p99
                               (wrk's, in ms) and errors (non-2xx/3xx replies and socket
                               errors; must be 0). "× floor" divides by the floor's figure
                               at the same connection count in the same run. "server CPU"
                               is the CPU time the server process used during the run per
                               request served: unlike requests/s it hardly moves when other
                               work shares the machine, so compare it across runs.
    <part> alone, 8 tablets    each request of the mix on its own for 3 s (BREAKDOWN), and
                               sign-ups: which kind of request costs what. Reads (READS)
                               are measured after the page-bytes floor, taps (TAPS) after
                               the durable-write floor, 3 s each.
    Pi-class                   (unless --no-pi) the kiosk again on a fresh instance, pinned
                               to CPU 0 (taskset) with every fsync/fdatasync 10 ms slower
                               (an LD_PRELOAD shim built with cc): mixed traffic, 8 tablets.
    page weight                the opener's HTML with every stylesheet, script and image it
                               references, raw and as gzip level 6 would send it (waitress
                               itself sends them uncompressed); and the median and largest
                               htmx fragment of the visitor screens.
    durable writes             sign-ups only, 8 connections: p50/p95 of a POST whose commit
                               waits for fsync (SQLite synchronous=FULL, checked).
    export                     100,000 sign-ups bulk-inserted into a separate instance, then
                               `kiosk export --format csv|mailchimp --out FILE` run inside a
                               fresh process (bench/export_probe.py): seconds, and the peak
                               growth of its resident memory, sampled every 2 ms.
    cold start                 seconds from starting `kiosk serve` to the first 200 on
                               /healthz: on a fresh instance (runs the migrations) and on a
                               restart; resident memory (VmRSS) of the server after the load.
    hostile requests           after the load, 10,000 requests of up to 256 KB each from four
                               clients (bench/hostile.py: long query strings, junk cookies,
                               made-up paths, many Accept-Language tags): how much more
                               resident memory they leave than the load did (issue 20: < 30 MB).
    dashboard poll             the lead dashboard's 5-second htmx poll (GET /lead/ with
                               HX-Request), median of 15, on the empty event after the load.
    growth                     (unless --growth-taps 0) a second instance whose active event
                               holds 1,000,000 taps and 100,000 sign-ups, written by direct
                               SQL (bench/growth.py; $BENCH_GROWTH_TAPS, $BENCH_GROWTH_SIGNUPS
                               make it smaller for a quick run): its restart, mixed traffic at
                               8 tablets, each request alone, the dashboard poll and resident
                               memory, each with the same figure of the empty event in the
                               floor column (target: >= 0.9× it); then the lead's CSV and
                               Mailchimp exports downloaded from the web, and the server's
                               resident memory above what it was before them.
    hub                        (unless --no-hub) issue 21's hub scenario (bench/hub.py): mixed
                               traffic on one SQLite process, one PostgreSQL process and two
                               on one PostgreSQL database (a port each, the tablets split),
                               fresh databases; requests/s and the CPU per request of the
                               kiosk processes plus PostgreSQL (from /proc), as ratios.
    sync scale                 (unless --sync-tables 0) issue 23's twenty tables
                               (bench/sync_scale.py): twenty `kiosk serve` tables sync 500
                               records each to a hub on PostgreSQL at once while two tablets
                               sign up at the hub: the hub's visitor p95 against the same
                               tablets without the sync, records lost, people duplicated.
    profile (--profile FILE)   py-spy samples the server through one more mixed run; the
                               shares of the kiosk's functions go under the table. py-spy
                               samples threads that wait (for a lock, for fsync) as well as
                               those that compute, which is what explains latency.

make bench serves from bench/out/server-venv, an environment with only the kiosk's runtime
dependencies (test tools such as Pillow would inflate resident memory). The load averages on
the results' Run line show how much other work shared the machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import bench
from bench import growth, hostile, pages, profile, report, sealing_probe, servers, sync_scale
from bench import hub as hub_scenario
from bench.report import Figure, Goal, Target, number, ratio
from bench.wrk import WrkResult, run_wrk

# $BENCH_KIOSK_PORT / $BENCH_FLOOR_PORT: where several people bench on one machine.
KIOSK_PORT = int(os.environ.get("BENCH_KIOSK_PORT", "8120"))
FLOOR_PORT = int(os.environ.get("BENCH_FLOOR_PORT", "8121"))
# Issue 20's target: what a script on the table's Wi-Fi sends (bench/hostile.py).
HOSTILE_REQUESTS = 10_000
TABLETS = (1, 8, 32)
TARGET_TABLETS = 8
WARM_UP_S = 2
BREAKDOWN_S = 3
# Reads are measured against the page-bytes floor, taps against the durable-write floor.
READS = ("opener_page", "opener_chart", "faq_page", "involved_page")
TAPS = ("opener_tap", "faq_open", "faq_more")
BREAKDOWN = (*READS, *TAPS, "qr_image")
# Issue 21 raised issue 15's 0.7× for reads to the bare floor itself.
READ_TARGET = 1.0
TAP_TARGET = 0.35
MIXED_TARGET = 0.35
FRAGMENT_LIMIT = 2000
FORM_LIMIT = 5000
PI_FSYNC_MS = 10
# The growth scenario (issue 21): every visitor figure and the dashboard poll with a season's
# data in the active event, against the same figure on the empty event of the same run.
GROWTH_TARGET = 0.9
DASHBOARD_LIMIT_MS = 50
EXPORT_RSS_LIMIT_MB = 10


@dataclass
class Growth:
    """The kiosk again, with `filled` (taps, sign-ups) in its active event."""

    filled: dict
    start_s: float
    mixed: WrkResult
    breakdown: dict[str, WrkResult]
    dashboard_ms: float
    rss_after_load: float
    rss_after_exports: float
    exports: dict[str, dict]


@dataclass
class Run:
    """Everything measured in one run, before it becomes figures."""

    kiosk: dict[int, WrkResult]
    floor: dict[int, WrkResult]
    breakdown: dict[str, WrkResult]
    writes: WrkResult
    writes_what: str
    weight: pages.Weight
    fragments: dict[str, int]
    rss: dict[str, float]
    floors: dict[str, WrkResult]
    starts: dict[str, float] = field(default_factory=dict)
    exports: dict[str, dict] = field(default_factory=dict)
    profile: str = ""
    pi: WrkResult | None = None
    dashboard_ms: float | None = None
    growth: Growth | None = None
    # Issue 21's hub scenario (bench/hub.py) and issue 23's twenty tables (bench/sync_scale.py).
    hub: dict[str, hub_scenario.Setup] | None = None
    syncing: sync_scale.SyncScale | None = None
    # Issue 22: what sealing a sign-up costs, in this process (bench/sealing_probe.py).
    sealing: sealing_probe.SealingCost | None = None


def kiosk_env(instance: Path) -> dict[str, str]:
    """The environment of a kiosk process: its own instance, the default content pack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    return env | {"KIOSK_INSTANCE": str(instance), "PYTHONUNBUFFERED": "1"}


def start_kiosk(
    python: Path, instance: Path, log: Path, pi_shim: Path | None = None
) -> servers.Server:
    """`kiosk serve`; with `pi_shim`, pinned to one CPU with every fsync slowed (a Pi)."""
    command = servers.kiosk_command(python, KIOSK_PORT)
    env = kiosk_env(instance)
    if pi_shim is not None:
        command = ["taskset", "-c", "0", *command]
        env |= {"LD_PRELOAD": str(pi_shim)}
    return servers.start(
        "kiosk",
        command,
        "/healthz",
        KIOSK_PORT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def start_floor(python: Path, log: Path, page: Path, database: Path) -> servers.Server:
    return servers.start(
        "floor",
        servers.floor_command(python, FLOOR_PORT, page, database),
        "/",
        FLOOR_PORT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


@dataclass
class Load:
    """The two servers under load, the tablet session, and what the load may tap."""

    kiosk: servers.Server
    floor: servers.Server
    session: pages.TabletSession
    keys: pages.ContentKeys
    signup: bool

    def env(self, mix: str) -> dict[str, str]:
        """What kiosk.lua needs: the mix, the tablet's session, the content's keys."""
        return {
            "BENCH_MIX": mix,
            "BENCH_COOKIE": self.session.cookie,
            "BENCH_TOKEN": self.session.token,
            "BENCH_RUN": uuid.uuid4().hex[:8],
            "BENCH_SIGNUP": "1" if self.signup else "0",
            "BENCH_CHOICES": ",".join(self.keys.choices),
            "BENCH_SLUGS": ",".join(self.keys.slugs),
            "BENCH_QR": ",".join(self.keys.qr_links),
            "BENCH_INTERESTS": ",".join(self.keys.interests),
        }

    def on_kiosk(self, mix: str, tablets: int, seconds: int) -> WrkResult:
        return timed(self.kiosk, tablets, seconds, self.env(mix))

    def on_floor(self, tablets: int, seconds: int, mix: str = "floor") -> WrkResult:
        return timed(self.floor, tablets, seconds, {"BENCH_MIX": mix})


def timed(server: servers.Server, tablets: int, seconds: int, env: dict[str, str]) -> WrkResult:
    """One wrk run against `server`, with the CPU time the server spent on it."""
    before = server.cpu_seconds()
    result = run_wrk(server.base_url + "/", tablets, seconds, env)
    return replace(result, server_cpu_s=server.cpu_seconds() - before)


def has_signup(session: pages.TabletSession) -> bool:
    return session.fetch("/signup").status == 200


def measure_mixed(load: Load, seconds: int) -> tuple[dict[int, WrkResult], dict[int, WrkResult]]:
    """Floor and kiosk at each tablet count, alternating so drift hits both alike."""
    load.on_floor(TARGET_TABLETS, WARM_UP_S)
    load.on_kiosk("mixed", TARGET_TABLETS, WARM_UP_S)
    kiosk, floor = {}, {}
    for tablets in TABLETS:
        print(f"  {tablets} tablet(s): floor, kiosk ...", flush=True)
        floor[tablets] = load.on_floor(tablets, seconds)
        kiosk[tablets] = load.on_kiosk("mixed", tablets, seconds)
    return kiosk, floor


def measure_breakdown(
    load: Load, seconds: int
) -> tuple[dict[str, WrkResult], dict[str, WrkResult]]:
    """Each part of the mix alone at the target tablet count (where the time goes), and the
    two floors of their own limits: the page-bytes floor before the reads, the durable-write
    floor before the taps."""
    floors = {"page": load.on_floor(TARGET_TABLETS, seconds, "floor_page")}
    parts = {part: load.on_kiosk(part, TARGET_TABLETS, seconds) for part in READS}
    floors["insert"] = load.on_floor(TARGET_TABLETS, seconds, "floor_insert")
    rest = BREAKDOWN[len(READS) :] + (("signup",) if load.signup else ())
    parts |= {part: load.on_kiosk(part, TARGET_TABLETS, seconds) for part in rest}
    return parts, floors


def synchronous_mode(python: Path, instance: Path) -> int:
    """PRAGMA synchronous on a connection the kiosk opens (2 is FULL)."""
    code = (
        "from sqlalchemy import text\nfrom kiosk import create_app\n"
        "from kiosk.extensions import db\n"
        "with create_app().app_context(): print(db.session.scalar(text('PRAGMA synchronous')))"
    )
    done = subprocess.run(
        [str(python), "-c", code], env=kiosk_env(instance), capture_output=True, text=True
    )
    return int(done.stdout.strip() or -1)


def export_probe(python: Path, *args: str, module: str = "bench.export_probe") -> dict:
    done = subprocess.run(
        [str(python), "-m", module, *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def measure_exports(python: Path, workdir: Path, count: int) -> dict[str, dict]:
    instance = str(workdir / "export-instance")
    event = export_probe(python, "generate", "--instance", instance, "--count", str(count))["event"]
    results = {}
    for export_format in ("csv", "mailchimp"):
        out = workdir / f"export.{export_format}.csv"
        results[export_format] = export_probe(
            python, "measure", "--instance", instance, "--event", str(event),
            "--format", export_format, "--out", str(out),
        )  # fmt: skip
    return results


def profile_mixed(load: Load, seconds: int, out: Path) -> str:
    """A py-spy profile of the kiosk under the mixed load, as Markdown ("" without py-spy)."""
    recording = profile.start_recording(load.kiosk.process.pid, seconds + 1, out)
    if recording is None:
        print("  py-spy is not installed: no profile (make bench installs it)", flush=True)
        return ""
    load.on_kiosk("mixed", TARGET_TABLETS, seconds)
    recording.wait()
    if not out.exists():
        print("  py-spy could not attach to the server: no profile", flush=True)
        return ""
    return profile.markdown(profile.parse_raw(out.read_text()))


def lead_token(python: Path, instance: Path) -> str:
    """A lead session in `instance`, made beside its running kiosk (bench/growth.py)."""
    return export_probe(python, "lead", "--instance", str(instance), module="bench.growth")["token"]


def measure_servers(
    kiosk: servers.Server,
    floor: servers.Server,
    seconds: int,
    profile_to: Path | None,
    lead: str | None = None,
) -> Run:
    session = pages.start_session(kiosk.base_url)
    keys = pages.ContentKeys.from_default_pack()
    load = Load(kiosk, floor, session, keys, has_signup(session))
    print("Page weight and fragments ...", flush=True)
    weight = pages.first_load_weight(kiosk.base_url)
    fragments = pages.fragment_sizes(session, keys, load.signup)
    print(f"Mixed traffic, {seconds} s per run ...", flush=True)
    kiosk_runs, floor_runs = measure_mixed(load, seconds)
    print(f"By request, {BREAKDOWN_S} s each ...", flush=True)
    breakdown, floors = measure_breakdown(load, BREAKDOWN_S)
    writes_mix = "signup" if load.signup else "opener_tap"
    writes_what = "sign-ups" if load.signup else "opener taps (no /signup yet)"
    print(f"Durable writes: {writes_what} ...", flush=True)
    writes = load.on_kiosk(writes_mix, TARGET_TABLETS, seconds)
    rss = {"kiosk": kiosk.rss_mb(), "floor": floor.rss_mb()}
    print(f"{HOSTILE_REQUESTS:,} hostile requests of up to 256 KB ...", flush=True)
    screens = hostile.screens_of(KIOSK_PORT)
    session = hostile.session_cookie(KIOSK_PORT)
    failures = hostile.hostile_load(KIOSK_PORT, screens, session, HOSTILE_REQUESTS)
    rss["hostile"] = kiosk.rss_mb()
    rss["hostile_5xx"] = len(failures)
    run = Run(
        kiosk_runs, floor_runs, breakdown, writes, writes_what, weight, fragments, rss, floors
    )
    if lead is not None:
        print("Dashboard poll ...", flush=True)
        run.dashboard_ms = growth.dashboard_poll_ms(kiosk.base_url, lead)
    if profile_to is not None:
        print(f"Profile of the mixed load, {TARGET_TABLETS} tablets ...", flush=True)
        run.profile = profile_mixed(load, seconds, profile_to)
    return run


FSYNC_SHIM = f"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <time.h>
static void slow(void) {{ struct timespec t = {{0, {PI_FSYNC_MS} * 1000000L}}; nanosleep(&t, 0); }}
int fsync(int fd) {{
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  slow();
  return real(fd);
}}
int fdatasync(int fd) {{
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  slow();
  return real(fd);
}}
"""


def build_fsync_shim(workdir: Path) -> Path | None:
    """An LD_PRELOAD library that makes every fsync/fdatasync take 10 ms longer (an SD card)."""
    source, library = workdir / "slow_fsync.c", workdir / "slow_fsync.so"
    source.write_text(FSYNC_SHIM)
    done = subprocess.run(
        ["cc", "-shared", "-fPIC", "-O2", "-o", str(library), str(source), "-ldl"],
        capture_output=True,
        check=False,
    )
    return library if done.returncode == 0 else None


def measure_pi(python: Path, workdir: Path, seconds: int) -> WrkResult | None:
    """Mixed traffic at 8 tablets on a Pi-class budget: one CPU, every fsync 10 ms slower."""
    shim = build_fsync_shim(workdir)
    if shim is None:
        print("  no C compiler: no Pi-class run", flush=True)
        return None
    kiosk = start_kiosk(python, workdir / "pi-instance", workdir / "servers.log", shim)
    try:
        session = pages.start_session(kiosk.base_url)
        load = Load(kiosk, kiosk, session, pages.ContentKeys.from_default_pack(), True)
        load.on_kiosk("mixed", TARGET_TABLETS, WARM_UP_S)
        return load.on_kiosk("mixed", TARGET_TABLETS, seconds)
    finally:
        kiosk.stop()


def measure_growth(python: Path, workdir: Path, seconds: int, taps: int, signups: int) -> Growth:
    """The visitor figures, the dashboard poll, a restart and the web exports of an instance
    whose active event holds `taps` taps and `signups` sign-ups (written by direct SQL)."""
    instance = workdir / "growth-instance"
    print(f"Growth: {taps:,} taps and {signups:,} sign-ups in the active event ...", flush=True)
    filled = export_probe(
        python, "fill", "--instance", str(instance), "--taps", str(taps),
        "--signups", str(signups), module="bench.growth",
    )  # fmt: skip
    print(
        f"  filled in {filled['seconds']:.0f} s ({filled['bytes'] / 1e6:.0f} MB); "
        f"mixed traffic, {seconds} s, and each request alone, {BREAKDOWN_S} s ...",
        flush=True,
    )
    kiosk = start_kiosk(python, instance, workdir / "servers.log")
    try:
        session = pages.start_session(kiosk.base_url)
        load = Load(kiosk, kiosk, session, pages.ContentKeys.from_default_pack(), True)
        load.on_kiosk("mixed", TARGET_TABLETS, WARM_UP_S)
        mixed = load.on_kiosk("mixed", TARGET_TABLETS, seconds)
        parts = (*BREAKDOWN, "signup")
        breakdown = {part: load.on_kiosk(part, TARGET_TABLETS, BREAKDOWN_S) for part in parts}
        lead = lead_token(python, instance)
        dashboard = growth.dashboard_poll_ms(kiosk.base_url, lead)
        rss_after_load = kiosk.rss_mb()
        print(f"  web exports of {signups:,} sign-ups ...", flush=True)
        exports = {
            name: growth.web_export(kiosk.base_url, lead, name, filled["event"])
            for name in ("csv", "mailchimp")
        }
        rss_after_exports = kiosk.rss_mb()
    finally:
        kiosk.stop()
    return Growth(
        filled, kiosk.startup_seconds, mixed, breakdown, dashboard, rss_after_load,
        rss_after_exports, exports,
    )  # fmt: skip


def measure(
    python: Path,
    workdir: Path,
    seconds: int,
    signups: int,
    profile_to: Path | None,
    pi: bool = True,
    growth_size: tuple[int, int] | None = None,
) -> Run:
    """Every figure of the run: the servers under load, then cold starts and exports."""
    log = workdir / "servers.log"
    instance = workdir / "instance"
    print("Cold start (fresh instance, then a restart) ...", flush=True)
    first = start_kiosk(python, instance, log)
    first.stop()
    kiosk = start_kiosk(python, instance, log)
    # The page-bytes floor sends the kiosk's own opener page, as a tablet first gets it.
    page = workdir / "opener.html"
    page.write_bytes(pages.fetch(kiosk.base_url + "/").body)
    floor = start_floor(python, log, page, workdir / "floor.sqlite3")
    try:
        lead = lead_token(python, instance)
        run = measure_servers(kiosk, floor, seconds, profile_to, lead)
    finally:
        kiosk.stop()
        floor.stop()
    run.starts = {
        "fresh": first.startup_seconds,
        "restart": kiosk.startup_seconds,
        "floor": floor.startup_seconds,
    }
    if synchronous_mode(python, instance) != 2:
        run.writes_what += " — WARNING: synchronous is not FULL"
    if pi:
        print("Pi-class budget: one CPU, fsync slowed by 10 ms ...", flush=True)
        run.pi = measure_pi(python, workdir, seconds)
    if growth_size is not None:
        run.growth = measure_growth(python, workdir, seconds, *growth_size)
    print(f"Export of {signups:,} sign-ups ...", flush=True)
    run.exports = measure_exports(python, workdir, signups)
    return run


def traffic_figures(run: Run) -> list[Figure]:
    figures = []
    for tablets in TABLETS:
        k, f = run.kiosk[tablets], run.floor[tablets]
        at_target = tablets == TARGET_TABLETS
        name = f"Mixed, {tablets} tablet{'s' if tablets > 1 else ''}"
        figures += [
            Figure(
                f"{name}: requests/s",
                k.rps,
                "req/s",
                f.rps,
                Target(">=", MIXED_TARGET, of_floor=True) if at_target else None,
            ),
            Figure(f"{name}: p50", k.p50_ms, "ms", f.p50_ms),
            Figure(
                f"{name}: p95",
                k.p95_ms,
                "ms",
                f.p95_ms,
                Target("<", 25, "ms") if at_target else None,
            ),
            Figure(
                f"{name}: p99",
                k.p99_ms,
                "ms",
                f.p99_ms,
                Target("<", 50, "ms") if at_target else None,
            ),
            Figure(f"{name}: server CPU", k.cpu_ms_per_request, "ms/req", f.cpu_ms_per_request),
            Figure(
                f"{name}: errors",
                k.errors,
                "",
                f.errors,
                Target("<=", 0),
                f"first bad status {k.first_bad_status}" if k.first_bad_status else "",
            ),
        ]
    return figures


def floor_figures(run: Run) -> list[Figure]:
    """The two floors of the kiosk's own limits, against the bare floor."""
    bare = run.floor[TARGET_TABLETS]
    named = {"page": "page-bytes floor", "insert": "durable-write floor"}
    figures = []
    for key, result in run.floors.items():
        name = f"Floor: {named[key]}, {TARGET_TABLETS} tablets"
        figures += [
            Figure(f"{name}: requests/s", result.rps, "req/s", bare.rps),
            Figure(f"{name}: p95", result.p95_ms, "ms", bare.p95_ms),
        ]
    return figures


def own_floor(part: str, run: Run) -> tuple[WrkResult | None, str, float | None]:
    """The floor of a part's own limit, its name, and its requests/s target (× bare)."""
    if part in READS:
        return run.floors.get("page"), "page", READ_TARGET
    if part in TAPS:
        return run.floors.get("insert"), "durable", TAP_TARGET
    return None, "", None


def breakdown_figures(run: Run) -> list[Figure]:
    floor = run.floor[TARGET_TABLETS]
    figures = []
    for part, result in run.breakdown.items():
        name = f"{part} alone, {TARGET_TABLETS} tablets"
        errors = f"{result.errors} errors" if result.errors else ""
        own, own_name, goal = own_floor(part, run)
        target = Target(">=", goal, of_floor=True) if goal else None
        figures += [
            Figure(
                f"{name}: requests/s",
                result.rps,
                "req/s",
                floor.rps,
                target,
                errors,
                own.rps if own else None,
                own_name,
            ),
            Figure(
                f"{name}: p95",
                result.p95_ms,
                "ms",
                floor.p95_ms,
                own=own.p95_ms if own else None,
                own_name=own_name,
            ),
            Figure(
                f"{name}: server CPU",
                result.cpu_ms_per_request,
                "ms/req",
                floor.cpu_ms_per_request,
                own=own.cpu_ms_per_request if own else None,
                own_name=own_name,
            ),
        ]
    return figures


def is_form(name: str) -> bool:
    """A whole-screen form swap (the sign-up form), held to 5 KB rather than 2 KB."""
    return "/signup" in name


def weight_figures(run: Run) -> list[Figure]:
    small = {name: size for name, size in run.fragments.items() if not is_form(name)}
    forms = {name: size for name, size in run.fragments.items() if is_form(name)}
    median, largest = pages.median_and_largest(run.fragments)
    figures = [
        Figure(
            "First load of the opener, raw",
            run.weight.raw / 1024,
            "KB",
            note=f"{run.weight.files} files",
        ),
        Figure(
            "First load of the opener, gzip",
            run.weight.gzip / 1024,
            "KB",
            target=Target("<=", 50, "KB"),
        ),
        Figure(
            "htmx fragment, median", median / 1000, "KB", note=f"{len(run.fragments)} fragments"
        ),
        Figure(
            "htmx fragment of a tap or read, largest",
            max(small.values()) / 1000,
            "KB",
            target=Target("<=", FRAGMENT_LIMIT / 1000, "KB"),
            note=pages.over_limit(small, FRAGMENT_LIMIT),
        ),
    ]
    if forms:
        figures.append(
            Figure(
                "htmx form swap, largest",
                max(forms.values()) / 1000,
                "KB",
                target=Target("<=", FORM_LIMIT / 1000, "KB"),
                note=pages.over_limit(forms, FORM_LIMIT),
            )
        )
    return figures


def write_figures(run: Run) -> list[Figure]:
    w, floor = run.writes, run.floor[TARGET_TABLETS]
    own = run.floors.get("insert")
    note = f"{run.writes_what}, {TARGET_TABLETS} tablets, synchronous=FULL, {w.errors} errors"
    return [
        Figure("Durable writes: requests/s", w.rps, "req/s", floor.rps, note=note,
               own=own.rps if own else None, own_name="durable"),
        Figure("Durable writes: p50", w.p50_ms, "ms", floor.p50_ms),
        Figure("Durable writes: p95", w.p95_ms, "ms", floor.p95_ms, Target("<", 30, "ms"),
               own=own.p95_ms if own else None, own_name="durable"),
    ]  # fmt: skip


def pi_figures(run: Run) -> list[Figure]:
    if run.pi is None:
        return []
    name = f"Pi-class (1 CPU, fsync +{PI_FSYNC_MS} ms), mixed, {TARGET_TABLETS} tablets"
    return [
        Figure(f"{name}: requests/s", run.pi.rps, "req/s"),
        Figure(f"{name}: p95", run.pi.p95_ms, "ms", target=Target("<", 60, "ms")),
        Figure(f"{name}: p99", run.pi.p99_ms, "ms"),
        Figure(f"{name}: errors", run.pi.errors, "", target=Target("<=", 0)),
    ]


def export_figures(run: Run) -> list[Figure]:
    figures = []
    for export_format, result in run.exports.items():
        if not result.get("available"):
            figures.append(
                Figure(f"Export {export_format}", None, "", note="no `kiosk export` yet")
            )
            continue
        note = (
            f"{result['lines']:,} lines, {result['bytes'] / 1e6:.1f} MB, "
            f"{result['cpu_seconds']:.2f} s of CPU"
        )
        figures += [
            Figure(
                f"Export {export_format}: time",
                result["seconds"],
                "s",
                target=Target("<", 3, "s"),
                note=note,
            ),
            Figure(
                f"Export {export_format}: memory growth",
                result["growth_mb"],
                "MB",
                target=Target("<", 50, "MB"),
            ),
        ]
    return figures


def start_figures(run: Run) -> list[Figure]:
    s = run.starts
    return [
        Figure(
            "Cold start, fresh instance",
            s["fresh"],
            "s",
            s["floor"],
            Target("<", 2, "s"),
            "runs migrations",
        ),
        Figure("Cold start, restart", s["restart"], "s", s["floor"], Target("<", 1, "s")),
        Figure(
            "Resident memory after the load",
            run.rss["kiosk"],
            "MB",
            run.rss["floor"],
            Target("<", 60, "MB"),
        ),
    ]


def hostile_figures(run: Run) -> list[Figure]:
    if "hostile" not in run.rss:
        return []
    return [
        Figure(
            f"Resident memory after {HOSTILE_REQUESTS:,} hostile requests, above the load's",
            run.rss["hostile"] - run.rss["kiosk"],
            "MB",
            target=Target("<", 30, "MB"),
            note=f"{run.rss['hostile']:.0f} MB; {run.rss['hostile_5xx']:.0f} answers 5xx",
        ),
    ]


def growth_figures(run: Run) -> list[Figure]:
    """Each growth figure with the same figure of the empty event in the floor column."""
    g = run.growth
    if g is None:
        return []
    size = f"{g.filled['taps']:,} taps + {g.filled['signups']:,} sign-ups"
    empty = Target(">=", GROWTH_TARGET, of_floor=True, versus="empty")
    empty_mixed = run.kiosk[TARGET_TABLETS]
    name = f"Growth ({size}): mixed, {TARGET_TABLETS} tablets"
    figures = [
        Figure(f"{name}: requests/s", g.mixed.rps, "req/s", empty_mixed.rps, empty,
               note="floor column: the empty event, same run"),
        Figure(f"{name}: p95", g.mixed.p95_ms, "ms", empty_mixed.p95_ms),
        Figure(f"{name}: server CPU", g.mixed.cpu_ms_per_request, "ms/req",
               empty_mixed.cpu_ms_per_request),
        Figure(f"{name}: errors", g.mixed.errors, "", empty_mixed.errors, Target("<=", 0)),
    ]  # fmt: skip
    for part, result in g.breakdown.items():
        alone = run.breakdown.get(part) or (run.writes if part == "signup" else None)
        part_name = f"Growth: {part} alone, {TARGET_TABLETS} tablets"
        figures += [
            Figure(f"{part_name}: requests/s", result.rps, "req/s",
                   alone.rps if alone else None, empty,
                   f"{result.errors} errors" if result.errors else ""),
            Figure(f"{part_name}: p95", result.p95_ms, "ms", alone.p95_ms if alone else None),
        ]  # fmt: skip
    csv = g.exports.get("csv", {})
    figures += [
        Figure("Growth: dashboard poll (median)", g.dashboard_ms, "ms", run.dashboard_ms,
               Target("<", DASHBOARD_LIMIT_MS, "ms"),
               f"{g.filled['signups']:,} sign-ups; floor column: the empty event"),
        Figure("Growth: cold start, restart", g.start_s, "s", run.starts.get("restart"),
               Target("<", 1, "s"), f"{g.filled['bytes'] / 1e6:.0f} MB file"),
        Figure("Growth: resident memory after the load", g.rss_after_load, "MB",
               run.rss["kiosk"], Target("<", 60, "MB")),
        Figure("Growth: web exports (CSV, Mailchimp), RSS above before",
               g.rss_after_exports - g.rss_after_load, "MB",
               target=Target("<", EXPORT_RSS_LIMIT_MB, "MB"),
               note=f"{number(g.rss_after_load, 'MB')} → {number(g.rss_after_exports, 'MB')}"),
        Figure("Growth: web CSV export: time", csv.get("seconds"), "s",
               target=Target("<", 3, "s"),
               note=f"{csv.get('bytes', 0) / 1e6:.1f} MB, streamed"),
    ]  # fmt: skip
    return figures


def figures(run: Run) -> list[Figure]:
    return [
        *traffic_figures(run),
        *floor_figures(run),
        *breakdown_figures(run),
        *weight_figures(run),
        *write_figures(run),
        *pi_figures(run),
        *export_figures(run),
        *start_figures(run),
        *hostile_figures(run),
        *growth_figures(run),
        *(hub_scenario.figures(run.hub) if run.hub else []),
        *(sync_scale.figures(run.syncing) if run.syncing else []),
        *(sealing_probe.figures(run.sealing) if run.sealing else []),
    ]


def times(value: float | None) -> str:
    return f"{value:.2f}×" if value is not None else "n/a"


def goals(run: Run) -> list[Goal]:
    """The issue's targets table, each ratio with its floor."""
    bare = run.floor[TARGET_TABLETS]
    found: list[Goal] = []

    def parts_goal(label: str, parts: tuple[str, ...], goal: float, own: str) -> None:
        ratios = {p: ratio(run.breakdown[p].rps, bare.rps) for p in parts}
        owns = {p: ratio(run.breakdown[p].rps, run.floors[own].rps) for p in parts}
        measured = "; ".join(
            f"{p} {times(ratios[p])} bare ({times(owns[p])} of the {own} floor)" for p in parts
        )
        met = all(r is not None and r >= goal for r in ratios.values())
        found.append(Goal(label, f">= {goal:g}× the bare floor", measured, met))

    parts_goal("read fragments and visitor pages", READS, READ_TARGET, "page")
    parts_goal("opener tap and FAQ open (durable tally)", TAPS, TAP_TARGET, "insert")
    mixed = run.kiosk[TARGET_TABLETS]
    mixed_ratio = ratio(mixed.rps, bare.rps)
    found.append(
        Goal(
            f"mixed traffic, {TARGET_TABLETS} tablets",
            ">= 0.35×, p95 < 25 ms, p99 < 50 ms, 0 errors",
            f"{times(mixed_ratio)} bare, p95 {number(mixed.p95_ms, 'ms')}, "
            f"p99 {number(mixed.p99_ms, 'ms')}, {mixed.errors} errors",
            mixed_ratio is not None
            and mixed_ratio >= MIXED_TARGET
            and mixed.p95_ms < 25
            and mixed.p99_ms < 50
            and mixed.errors == 0,
        )
    )
    found.append(
        Goal(
            f"{run.writes_what}, {TARGET_TABLETS} tablets",
            "p95 < 30 ms (kill -9: tests/test_crash.py)",
            f"p95 {number(run.writes.p95_ms, 'ms')}, {run.writes.errors} errors",
            run.writes.p95_ms < 30 and run.writes.errors == 0,
        )
    )
    small = [size for name, size in run.fragments.items() if not is_form(name)]
    forms = [size for name, size in run.fragments.items() if is_form(name)]
    found.append(
        Goal(
            "htmx fragment of a tap / form swaps",
            "<= 2 KB / <= 5 KB",
            f"{max(small) / 1000:.2f} KB / {max(forms, default=0) / 1000:.2f} KB",
            max(small) <= FRAGMENT_LIMIT and max(forms, default=0) <= FORM_LIMIT,
        )
    )
    rss, start = run.rss["kiosk"], run.starts["restart"]
    found.append(
        Goal(
            "resident memory after the load / cold start",
            "< 60 MB / < 1 s",
            f"{number(rss, 'MB')} / {number(start, 's')} (fresh instance "
            f"{number(run.starts['fresh'], 's')})",
            rss < 60 and start < 1,
        )
    )
    g = run.growth
    if g is not None:
        ratios = {"mixed": ratio(g.mixed.rps, run.kiosk[TARGET_TABLETS].rps)}
        for part, result in g.breakdown.items():
            alone = run.breakdown.get(part) or (run.writes if part == "signup" else None)
            ratios[part] = ratio(result.rps, alone.rps if alone else None)
        ratios["dashboard"] = ratio(run.dashboard_ms, g.dashboard_ms)  # a time: the inverse
        found.append(
            Goal(
                f"every visitor figure and the dashboard poll, {g.filled['taps']:,} taps + "
                f"{g.filled['signups']:,} sign-ups",
                f">= {GROWTH_TARGET:g}× the same figure on an empty event",
                "; ".join(f"{name} {times(value)}" for name, value in ratios.items()),
                all(value is not None and value >= GROWTH_TARGET for value in ratios.values()),
            )
        )
        found.append(
            Goal(
                f"dashboard poll at {g.filled['signups']:,} sign-ups",
                f"< {DASHBOARD_LIMIT_MS} ms",
                number(g.dashboard_ms, "ms"),
                g.dashboard_ms < DASHBOARD_LIMIT_MS,
            )
        )
        grown = g.rss_after_exports - g.rss_after_load
        found.append(
            Goal(
                f"RSS after exporting {g.filled['signups']:,} sign-ups from the web",
                f"< {EXPORT_RSS_LIMIT_MB} MB above RSS before it",
                f"+{grown:.1f} MB (CSV and Mailchimp, streamed)",
                grown < EXPORT_RSS_LIMIT_MB,
            )
        )
        found.append(
            Goal(
                "cold start at a large file",
                "< 1 s",
                f"{number(g.start_s, 's')} at {g.filled['bytes'] / 1e6:.0f} MB "
                f"(empty: {number(run.starts['restart'], 's')})",
                g.start_s < 1,
            )
        )
    if run.hub:
        found += hub_scenario.goals(run.hub)
    if run.syncing:
        found += sync_scale.goals(run.syncing)
    pi = run.pi
    found.append(
        Goal(
            f"Pi-class: one CPU, fsync +{PI_FSYNC_MS} ms, mixed, {TARGET_TABLETS} tablets",
            "p95 < 60 ms, 0 errors",
            f"p95 {number(pi.p95_ms, 'ms')}, {pi.errors} errors" if pi else "not run",
            (pi.p95_ms < 60 and pi.errors == 0) if pi else None,
        )
    )
    return found


def loads(averages: tuple[float, float, float]) -> str:
    """The load averages, which show other work on the machine skewing the figures."""
    return " / ".join(f"{value:.2f}" for value in averages)


def main() -> None:
    bench.measure_real_costs()
    parser = argparse.ArgumentParser(description="Benchmark the kiosk against a bare Flask floor.")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--signups", type=int, default=100_000, help="sign-ups to export")
    parser.add_argument("--no-write", action="store_true", help="print only; keep results.md")
    parser.add_argument(
        "--server-python",
        type=Path,
        default=Path(sys.executable),
        help="python of the environment the servers run in (make bench: production-only)",
    )
    parser.add_argument(
        "--profile", type=Path, metavar="FILE", help="also profile the mixed load into FILE"
    )
    parser.add_argument(
        "--no-pi", action="store_true", help="skip the Pi-class run (one CPU, slow fsync)"
    )
    parser.add_argument(
        "--growth-taps",
        type=int,
        default=int(os.environ.get("BENCH_GROWTH_TAPS", "1000000")),
        help="taps in the growth scenario's active event ($BENCH_GROWTH_TAPS; 0: no growth run)",
    )
    parser.add_argument(
        "--growth-signups",
        type=int,
        default=int(os.environ.get("BENCH_GROWTH_SIGNUPS", "100000")),
        help="sign-ups in the growth scenario's active event ($BENCH_GROWTH_SIGNUPS)",
    )
    parser.add_argument(
        "--no-hub", action="store_true", help="skip the hub scenario (bench/hub.py)"
    )
    parser.add_argument(
        "--sync-tables",
        type=int,
        default=int(os.environ.get("BENCH_SYNC_TABLES", "20")),
        help="tables of the sync scenario (bench/sync_scale.py; $BENCH_SYNC_TABLES; 0: none)",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as workdir:
        run = measure(
            args.server_python,
            Path(workdir),
            args.seconds,
            args.signups,
            args.profile,
            pi=not args.no_pi,
            growth_size=(args.growth_taps, args.growth_signups) if args.growth_taps else None,
        )
    if not args.no_hub:
        run.hub = hub_scenario.measure(args.server_python, args.seconds)
    if args.sync_tables:
        print(f"Sync scale: {args.sync_tables} tables, 500 records each ...", flush=True)
        run.syncing = sync_scale.measure(
            args.sync_tables, executable=args.server_python.with_name("kiosk")
        )
    print("Sealing a sign-up ...", flush=True)
    run.sealing = sealing_probe.measure()
    results = figures(run)
    targets = goals(run)
    settings = (
        f"wrk {args.seconds} s per run, 1 wrk thread; waitress threads={servers.SERVER_THREADS}; "
        f"{args.signups:,} sign-ups exported; growth scenario {args.growth_taps:,} taps and "
        f"{args.growth_signups:,} sign-ups; load average (1, 5, 15 min) "
        f"{loads(load_before)} before the run, {loads(os.getloadavg())} after it"
    )
    print("\n" + report.text_table(results))
    print("\n" + report.goals_table(targets))
    if not args.no_write:
        text = report.markdown(results, report.machine(), settings, run.profile, targets)
        report.RESULTS.write_text(text)
        print(f"\nWritten to {report.RESULTS}")


if __name__ == "__main__":
    main()
