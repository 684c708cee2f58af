"""Benchmark the kiosk against a bare Flask floor: `make bench` (about 2 to 3 minutes).

How to run
    make bench                       installs wrk (Debian) and the `bench` extra, then runs this
    .venv/bin/python -m bench.run    the same, once wrk is there; --help lists the options

It starts the kiosk as `kiosk serve` (waitress, the production threads) with a throw-away
instance in a temporary folder, and the floor (bench/floor_app.py: a bare Flask view
returning "ok") under the same waitress settings, both on loopback ports 8120/8121. wrk
drives both with the same Lua script (bench/kiosk.lua). Results print as a table and are
written to bench/results.md, with the machine, the date, each target and met/MISSED.

What each figure means
    mixed traffic, N tablets   wrk with N connections for --seconds each; every connection
                               cycles through a visitor's requests: GET /, an htmx opener
                               tap, GET /faq, htmx FAQ opens and "Tell me more", a QR image
                               and (when the kiosk has /signup) an htmx sign-up with a
                               unique idempotency key. All share one session cookie and
                               CSRF token, fetched once. Requests/s and latency p50/p95/p99
                               (wrk's, in ms) and errors (non-2xx/3xx replies and socket
                               errors; must be 0). "× floor" divides by the floor's figure
                               at the same connection count in the same run. "server CPU"
                               is the CPU time the server process used during the run per
                               request served: unlike requests/s it hardly moves when other
                               work shares the machine, so compare it across runs.
    <part> alone, 8 tablets    each request of the mix on its own for 3 s (BREAKDOWN), and
                               sign-ups: which kind of request costs what.
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

from bench import pages, profile, report, servers
from bench.report import Figure, Target
from bench.wrk import WrkResult, run_wrk

KIOSK_PORT = 8120
FLOOR_PORT = 8121
TABLETS = (1, 8, 32)
TARGET_TABLETS = 8
WARM_UP_S = 2
BREAKDOWN_S = 3
BREAKDOWN = ("opener_page", "opener_tap", "faq_page", "faq_open", "faq_more", "qr_image")
FRAGMENT_LIMIT = 2000


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
    starts: dict[str, float] = field(default_factory=dict)
    exports: dict[str, dict] = field(default_factory=dict)
    profile: str = ""


def kiosk_env(instance: Path) -> dict[str, str]:
    """The environment of a kiosk process: its own instance, the default content pack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    return env | {"KIOSK_INSTANCE": str(instance), "PYTHONUNBUFFERED": "1"}


def start_kiosk(python: Path, instance: Path, log: Path) -> servers.Server:
    return servers.start(
        "kiosk",
        servers.kiosk_command(python, KIOSK_PORT),
        "/healthz",
        KIOSK_PORT,
        env=kiosk_env(instance),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def start_floor(python: Path, log: Path) -> servers.Server:
    return servers.start(
        "floor",
        servers.floor_command(python, FLOOR_PORT),
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

    def on_floor(self, tablets: int, seconds: int) -> WrkResult:
        return timed(self.floor, tablets, seconds, {"BENCH_MIX": "floor"})


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


def measure_breakdown(load: Load, seconds: int) -> dict[str, WrkResult]:
    """Each part of the mix alone at the target tablet count: where the time goes."""
    parts = BREAKDOWN + (("signup",) if load.signup else ())
    return {part: load.on_kiosk(part, TARGET_TABLETS, seconds) for part in parts}


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


def export_probe(python: Path, *args: str) -> dict:
    done = subprocess.run(
        [str(python), "-m", "bench.export_probe", *args],
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


def measure_servers(
    kiosk: servers.Server, floor: servers.Server, seconds: int, profile_to: Path | None
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
    breakdown = measure_breakdown(load, BREAKDOWN_S)
    writes_mix = "signup" if load.signup else "opener_tap"
    writes_what = "sign-ups" if load.signup else "opener taps (no /signup yet)"
    print(f"Durable writes: {writes_what} ...", flush=True)
    writes = load.on_kiosk(writes_mix, TARGET_TABLETS, seconds)
    rss = {"kiosk": kiosk.rss_mb(), "floor": floor.rss_mb()}
    run = Run(kiosk_runs, floor_runs, breakdown, writes, writes_what, weight, fragments, rss)
    if profile_to is not None:
        print(f"Profile of the mixed load, {TARGET_TABLETS} tablets ...", flush=True)
        run.profile = profile_mixed(load, seconds, profile_to)
    return run


def measure(
    python: Path, workdir: Path, seconds: int, signups: int, profile_to: Path | None
) -> Run:
    """Every figure of the run: the servers under load, then cold starts and exports."""
    log = workdir / "servers.log"
    instance = workdir / "instance"
    print("Cold start (fresh instance, then a restart) ...", flush=True)
    first = start_kiosk(python, instance, log)
    first.stop()
    kiosk = start_kiosk(python, instance, log)
    floor = start_floor(python, log)
    try:
        run = measure_servers(kiosk, floor, seconds, profile_to)
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
                Target(">=", 0.5, of_floor=True) if at_target else None,
            ),
            Figure(f"{name}: p50", k.p50_ms, "ms", f.p50_ms),
            Figure(
                f"{name}: p95",
                k.p95_ms,
                "ms",
                f.p95_ms,
                Target("<", 50, "ms") if at_target else None,
            ),
            Figure(f"{name}: p99", k.p99_ms, "ms", f.p99_ms),
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


def breakdown_figures(run: Run) -> list[Figure]:
    floor = run.floor[TARGET_TABLETS]
    figures = []
    for part, result in run.breakdown.items():
        name = f"{part} alone, {TARGET_TABLETS} tablets"
        errors = f"{result.errors} errors" if result.errors else ""
        figures += [
            Figure(f"{name}: requests/s", result.rps, "req/s", floor.rps, note=errors),
            Figure(f"{name}: p95", result.p95_ms, "ms", floor.p95_ms),
            Figure(
                f"{name}: server CPU",
                result.cpu_ms_per_request,
                "ms/req",
                floor.cpu_ms_per_request,
            ),
        ]
    return figures


def weight_figures(run: Run) -> list[Figure]:
    median, largest = pages.median_and_largest(run.fragments)
    return [
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
            "htmx fragment, largest",
            largest / 1024,
            "KB",
            target=Target("<=", FRAGMENT_LIMIT / 1000, "KB"),
            note=pages.over_limit(run.fragments, FRAGMENT_LIMIT),
        ),
    ]


def write_figures(run: Run) -> list[Figure]:
    w, floor = run.writes, run.floor[TARGET_TABLETS]
    note = f"{run.writes_what}, {TARGET_TABLETS} tablets, synchronous=FULL, {w.errors} errors"
    return [
        Figure("Durable writes: p50", w.p50_ms, "ms", floor.p50_ms, note=note),
        Figure("Durable writes: p95", w.p95_ms, "ms", floor.p95_ms, Target("<", 100, "ms")),
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
        Figure("Cold start, restart", s["restart"], "s", s["floor"], Target("<", 2, "s")),
        Figure(
            "Resident memory after the load",
            run.rss["kiosk"],
            "MB",
            run.rss["floor"],
            Target("<", 80, "MB"),
        ),
    ]


def figures(run: Run) -> list[Figure]:
    return [
        *traffic_figures(run),
        *breakdown_figures(run),
        *weight_figures(run),
        *write_figures(run),
        *export_figures(run),
        *start_figures(run),
    ]


def loads(averages: tuple[float, float, float]) -> str:
    """The load averages, which show other work on the machine skewing the figures."""
    return " / ".join(f"{value:.2f}" for value in averages)


def main() -> None:
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
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as workdir:
        run = measure(args.server_python, Path(workdir), args.seconds, args.signups, args.profile)
    results = figures(run)
    settings = (
        f"wrk {args.seconds} s per run, 1 wrk thread; waitress threads={servers.SERVER_THREADS}; "
        f"{args.signups:,} sign-ups exported; load average (1, 5, 15 min) "
        f"{loads(load_before)} before the run, {loads(os.getloadavg())} after it"
    )
    print("\n" + report.text_table(results))
    if not args.no_write:
        text = report.markdown(results, report.machine(), settings, run.profile)
        report.RESULTS.write_text(text)
        print(f"\nWritten to {report.RESULTS}")


if __name__ == "__main__":
    main()
