"""Benchmark the kiosk against a bare Flask floor: `make bench` (about 3 minutes).

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
                               at the same connection count in the same run.
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
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench import pages, report, servers
from bench.report import Figure, Target
from bench.wrk import WrkResult, run_wrk

KIOSK_PORT = 8120
FLOOR_PORT = 8121
TABLETS = (1, 8, 32)
TARGET_TABLETS = 8
WARM_UP_S = 2


@dataclass
class Run:
    """Everything measured in one run, before it becomes figures."""

    kiosk: dict[int, WrkResult]
    floor: dict[int, WrkResult]
    writes: WrkResult
    writes_what: str
    weight: pages.Weight
    fragments: dict[str, int]
    starts: dict[str, float]
    rss: dict[str, float]
    exports: dict[str, dict]


def kiosk_env(instance: Path) -> dict[str, str]:
    """The environment of a kiosk process: its own instance, the default content pack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    return env | {"KIOSK_INSTANCE": str(instance), "PYTHONUNBUFFERED": "1"}


def start_kiosk(instance: Path, log: Path) -> servers.Server:
    return servers.start(
        "kiosk",
        servers.kiosk_command(KIOSK_PORT),
        "/healthz",
        KIOSK_PORT,
        env=kiosk_env(instance),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def start_floor(log: Path) -> servers.Server:
    return servers.start(
        "floor",
        servers.floor_command(FLOOR_PORT),
        "/",
        FLOOR_PORT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def has_signup(session: pages.TabletSession) -> bool:
    return session.fetch("/signup").status == 200


def load_env(session: pages.TabletSession, keys: pages.ContentKeys, mix: str) -> dict[str, str]:
    """What kiosk.lua needs: the mix, the tablet's session, the content's keys."""
    return {
        "BENCH_MIX": mix,
        "BENCH_COOKIE": session.cookie,
        "BENCH_TOKEN": session.token,
        "BENCH_RUN": uuid.uuid4().hex[:8],
        "BENCH_SIGNUP": "1" if has_signup(session) else "0",
        "BENCH_CHOICES": ",".join(keys.choices),
        "BENCH_SLUGS": ",".join(keys.slugs),
        "BENCH_QR": ",".join(keys.qr_links),
        "BENCH_INTERESTS": ",".join(keys.interests),
    }


def measure_load(
    kiosk: servers.Server, floor: servers.Server, env: dict[str, str], seconds: int
) -> tuple[dict[int, WrkResult], dict[int, WrkResult]]:
    """Floor and kiosk at each tablet count, alternating so drift hits both alike."""
    floor_env = {"BENCH_MIX": "floor"}
    run_wrk(floor.base_url + "/", TARGET_TABLETS, WARM_UP_S, floor_env)
    run_wrk(kiosk.base_url + "/", TARGET_TABLETS, WARM_UP_S, env)
    floor_results, kiosk_results = {}, {}
    for tablets in TABLETS:
        print(f"  {tablets} tablet(s): floor, kiosk ...", flush=True)
        floor_results[tablets] = run_wrk(floor.base_url + "/", tablets, seconds, floor_env)
        kiosk_results[tablets] = run_wrk(kiosk.base_url + "/", tablets, seconds, env)
    return kiosk_results, floor_results


def synchronous_mode(instance: Path) -> int:
    """PRAGMA synchronous on a connection the kiosk opens (2 is FULL)."""
    code = (
        "from sqlalchemy import text\nfrom kiosk import create_app\n"
        "from kiosk.extensions import db\n"
        "with create_app().app_context(): print(db.session.scalar(text('PRAGMA synchronous')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=kiosk_env(instance), capture_output=True, text=True
    )
    return int(done.stdout.strip() or -1)


def export_probe(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.export_probe", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def measure_exports(workdir: Path, count: int) -> dict[str, dict]:
    instance = str(workdir / "export-instance")
    event = export_probe("generate", "--instance", instance, "--count", str(count))["event"]
    results = {}
    for export_format in ("csv", "mailchimp"):
        out = workdir / f"export.{export_format}.csv"
        results[export_format] = export_probe(
            "measure", "--instance", instance, "--event", str(event),
            "--format", export_format, "--out", str(out),
        )  # fmt: skip
    return results


def measure(workdir: Path, seconds: int, signups: int) -> Run:
    log = workdir / "servers.log"
    instance = workdir / "instance"
    print("Cold start (fresh instance, then a restart) ...", flush=True)
    first = start_kiosk(instance, log)
    first.stop()
    kiosk = start_kiosk(instance, log)
    floor = start_floor(log)
    try:
        session = pages.start_session(kiosk.base_url)
        keys = pages.ContentKeys.from_default_pack()
        print("Page weight and fragments ...", flush=True)
        weight = pages.first_load_weight(kiosk.base_url)
        fragments = pages.fragment_sizes(session, keys)
        print(f"Mixed traffic, {seconds} s per run ...", flush=True)
        kiosk_runs, floor_runs = measure_load(
            kiosk, floor, load_env(session, keys, "mixed"), seconds
        )
        writes_what = "sign-ups" if has_signup(session) else "opener taps (no /signup yet)"
        mix = "signup" if has_signup(session) else "tally"
        print(f"Durable writes: {writes_what} ...", flush=True)
        writes = run_wrk(
            kiosk.base_url + "/", TARGET_TABLETS, seconds, load_env(session, keys, mix)
        )
        rss = {"kiosk": kiosk.rss_mb(), "floor": floor.rss_mb()}
    finally:
        kiosk.stop()
        floor.stop()
    if synchronous_mode(instance) != 2:
        writes_what += " — WARNING: synchronous is not FULL"
    print(f"Export of {signups:,} sign-ups ...", flush=True)
    exports = measure_exports(workdir, signups)
    starts = {
        "fresh": first.startup_seconds,
        "restart": kiosk.startup_seconds,
        "floor": floor.startup_seconds,
    }
    return Run(kiosk_runs, floor_runs, writes, writes_what, weight, fragments, starts, rss, exports)


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


def weight_figures(run: Run) -> list[Figure]:
    median, largest_name, largest = pages.median_and_largest(run.fragments)
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
            target=Target("<=", 2, "KB"),
            note=largest_name,
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
        note = f"{result['lines']:,} lines, {result['bytes'] / 1e6:.1f} MB"
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
        *weight_figures(run),
        *write_figures(run),
        *export_figures(run),
        *start_figures(run),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the kiosk against a bare Flask floor.")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--signups", type=int, default=100_000, help="sign-ups to export")
    parser.add_argument("--no-write", action="store_true", help="print only; keep results.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as workdir:
        run = measure(Path(workdir), args.seconds, args.signups)
    results = figures(run)
    settings = (
        f"wrk {args.seconds} s per run, 1 wrk thread; waitress threads={servers.SERVER_THREADS}; "
        f"{args.signups:,} sign-ups exported"
    )
    print("\n" + report.text_table(results))
    if not args.no_write:
        report.RESULTS.write_text(report.markdown(results, report.machine(), settings))
        print(f"\nWritten to {report.RESULTS}")


if __name__ == "__main__":
    main()
