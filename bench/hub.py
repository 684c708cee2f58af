"""Issue 21's hub scenario: does a hub on PostgreSQL scale with its processes? Measured:
`python -m bench.hub [--seconds 10] [--tablets 8]` (about a minute; `make bench` runs it too).

Three set-ups in one run, each a fresh database, each driven by wrk with bench/kiosk.lua's
mixed traffic (the opener, its taps and chart, the FAQ, QR codes and sign-ups) from
--tablets connections for --seconds after a 2-second warm-up:

    sqlite          one `kiosk serve` on SQLite (the table's kiosk: the reference)
    postgresql x1   one `kiosk serve` on PostgreSQL
    postgresql x2   two `kiosk serve` on the same PostgreSQL database and instance folder,
                    each on its own port; the tablets split between them (round-robin over
                    two ports: two wrk runs at once, half the connections each)

PostgreSQL is a throw-away cluster of Debian's server (tests/postgres.py) made durable as a
hub is (fsync, synchronous_commit and full_page_writes on), like SQLite's synchronous=FULL.
For each set-up: requests/s, p95 (the slower port's, for two), errors, and the CPU per
request of the kiosk processes plus every PostgreSQL process (from /proc: the postmaster,
its live backends, and what ended backends left in its children's time).

Issue 21's targets, as ratios of this run: two PostgreSQL processes' CPU per request at most
1.3x one SQLite process's, and their throughput at least 1.3x one PostgreSQL process's.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bench
from bench import pages, profile, servers
from bench.report import Figure, Goal, Target, number, ratio
from bench.wrk import WrkResult, run_wrk
from tests.postgres import Cluster, find_bindir
from tests.served import free_port

WARM_UP_S = 2
CPU_TARGET = 1.3  # two PostgreSQL processes' CPU per request, at most × one SQLite process's
THROUGHPUT_TARGET = 1.3  # two PostgreSQL processes' requests/s, at least × one's
# Durable as a hub must be, as SQLite's synchronous=FULL is on the table.
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


@contextlib.contextmanager
def postgres_cluster(**settings: str) -> Iterator[Cluster]:
    """A throw-away, durable PostgreSQL cluster, removed at the end; `settings` added (e.g.
    track_wal_io_timing="on")."""
    cluster = Cluster(find_bindir(), **(DURABLE | settings))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def postgres_cpu_seconds(cluster: Cluster) -> float:
    """CPU seconds every process of the cluster has used: the postmaster's own and its
    ended children's (cutime, cstime), and each live child's (backends, WAL writer...)."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    ticks = os.sysconf("SC_CLK_TCK")
    fields = _stat(postmaster)
    total = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(int(entry.name))
        except (OSError, IndexError):
            continue  # ended meanwhile
        if int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def kiosk_env(instance: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    env |= {"KIOSK_INSTANCE": str(instance), "PYTHONUNBUFFERED": "1"}
    return env | ({"KIOSK_DATABASE_URL": database_url} if database_url else {})


def start_kiosk(
    python: Path, instance: Path, log: Path, database_url: str | None = None
) -> servers.Server:
    port = free_port()
    return servers.start(
        "kiosk",
        servers.kiosk_command(python, port),
        "/healthz",
        port,
        env=kiosk_env(instance, database_url),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def wrk_env(session: pages.TabletSession, keys: pages.ContentKeys) -> dict[str, str]:
    """kiosk.lua's mixed traffic, sign-ups included, for one tablet session."""
    return {
        "BENCH_MIX": "mixed",
        "BENCH_COOKIE": session.cookie,
        "BENCH_TOKEN": session.token,
        "BENCH_RUN": uuid.uuid4().hex[:8],
        "BENCH_SIGNUP": "1",
        "BENCH_CHOICES": ",".join(keys.choices),
        "BENCH_SLUGS": ",".join(keys.slugs),
        "BENCH_QR": ",".join(keys.qr_links),
        "BENCH_INTERESTS": ",".join(keys.interests),
    }


@dataclass
class Setup:
    """One set-up under mixed traffic: a wrk result per port, and the CPU it cost."""

    name: str
    runs: list[WrkResult]
    kiosk_cpu_s: float
    postgres_cpu_s: float = 0.0
    profile: str = ""  # py-spy's summary of its first process, in a run after the measured one

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.runs)

    @property
    def rps(self) -> float:
        return sum(r.rps for r in self.runs)

    @property
    def p95_ms(self) -> float:
        return max(r.p95_ms for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    def cpu_ms(self, which: str = "all") -> float:
        seconds = {
            "all": self.kiosk_cpu_s + self.postgres_cpu_s,
            "kiosk": self.kiosk_cpu_s,
            "postgres": self.postgres_cpu_s,
        }[which]
        return 1000 * seconds / self.requests if self.requests else 0.0


def drive(
    name: str,
    kiosks: list[servers.Server],
    tablets: int,
    seconds: int,
    cluster: Cluster | None,
    profile_to: Path | None = None,
) -> Setup:
    """Mixed traffic from `tablets` connections split over `kiosks` (one wrk each, at once);
    with `profile_to`, once more with py-spy sampling the first process."""
    keys = pages.ContentKeys.from_default_pack()
    envs = [wrk_env(pages.start_session(k.base_url), keys) for k in kiosks]
    shares = [tablets // len(kiosks) + (n < tablets % len(kiosks)) for n in range(len(kiosks))]

    def together(length: int) -> list[WrkResult]:
        results: list[WrkResult | None] = [None] * len(kiosks)

        def one(n: int) -> None:
            results[n] = run_wrk(kiosks[n].base_url + "/", shares[n], length, envs[n])

        threads = [threading.Thread(target=one, args=(n,)) for n in range(len(kiosks))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(results), "every wrk run finished"  # noqa: S101
        return [r for r in results if r is not None]

    together(WARM_UP_S)
    kiosk_before = sum(k.cpu_seconds() for k in kiosks)
    postgres_before = postgres_cpu_seconds(cluster) if cluster else 0.0
    runs = together(seconds)
    setup = Setup(
        name,
        runs,
        sum(k.cpu_seconds() for k in kiosks) - kiosk_before,
        (postgres_cpu_seconds(cluster) - postgres_before) if cluster else 0.0,
    )
    if profile_to is not None:
        recording = profile.start_recording(kiosks[0].process.pid, seconds + 1, profile_to)
        if recording is not None:
            together(seconds)
            recording.wait()
            if profile_to.exists():
                setup.profile = profile.markdown(profile.parse_raw(profile_to.read_text()), 12)
    return setup


def measure(
    python: Path, seconds: int = 10, tablets: int = 8, profiles: bool = False
) -> dict[str, Setup]:
    """The three set-ups, one after another, each on a fresh database; with `profiles`, each
    set-up's first process is profiled in a run of its own after the measured one."""
    found: dict[str, Setup] = {}
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-hub-") as folder:
        root = Path(folder)
        log = root / "servers.log"
        print("Hub scenario: one SQLite process ...", flush=True)
        kiosk = start_kiosk(python, root / "sqlite", log)
        try:
            found["sqlite"] = drive(
                "sqlite",
                [kiosk],
                tablets,
                seconds,
                None,
                root / "sqlite.prof" if profiles else None,
            )
        finally:
            kiosk.stop()
        with postgres_cluster() as cluster:
            for count in (1, 2):
                print(f"Hub scenario: {count} PostgreSQL process(es) ...", flush=True)
                url = cluster.url(cluster.create_database(f"hub_{count}"))
                instance = root / f"postgresql-{count}"
                kiosks: list[servers.Server] = []
                try:
                    # The first migrates the database; the others share it and the instance.
                    for _ in range(count):
                        kiosks.append(start_kiosk(python, instance, log, url))
                    name = f"postgresql x{count}"
                    out = root / f"postgresql-{count}.prof" if profiles else None
                    found[name] = drive(name, kiosks, tablets, seconds, cluster, out)
                finally:
                    for started in kiosks:
                        started.stop()
    return found


def figures(found: dict[str, Setup], tablets: int = 8) -> list[Figure]:
    """Each set-up's figures; the floor column holds the reference the issue compares with:
    one SQLite process for CPU per request, one PostgreSQL process for throughput."""
    sqlite, one = found["sqlite"], found["postgresql x1"]
    rows = []
    for name, setup in found.items():
        label = f"Hub: {name}, mixed, {tablets} tablets"
        two = name == "postgresql x2"
        split = (
            f"kiosk {number(setup.cpu_ms('kiosk'), 'ms')} + PostgreSQL "
            f"{number(setup.cpu_ms('postgres'), 'ms')}"
        )
        rows += [
            Figure(
                f"{label}: requests/s",
                setup.rps,
                "req/s",
                one.rps if name != "sqlite" else None,
                Target(">=", THROUGHPUT_TARGET, of_floor=True, versus="one PostgreSQL process")
                if two
                else None,
                "floor column: one PostgreSQL process" if name != "sqlite" else "",
            ),
            Figure(f"{label}: p95", setup.p95_ms, "ms", sqlite.p95_ms,
                   note="floor column: one SQLite process"),
            Figure(
                f"{label}: CPU per request (kiosk + PostgreSQL)",
                setup.cpu_ms(),
                "ms/req",
                sqlite.cpu_ms(),
                Target("<=", CPU_TARGET, of_floor=True, versus="one SQLite process")
                if two
                else None,
                f"{split}; floor column: one SQLite process",
            ),
            Figure(f"{label}: errors", setup.errors, "", target=Target("<=", 0)),
        ]  # fmt: skip
    return rows


def goals(found: dict[str, Setup]) -> list[Goal]:
    sqlite, one, two = found["sqlite"], found["postgresql x1"], found["postgresql x2"]
    cpu = ratio(two.cpu_ms(), sqlite.cpu_ms())
    throughput = ratio(two.rps, one.rps)
    return [
        Goal(
            "hub: two processes on PostgreSQL (issue 21)",
            f"CPU per request (kiosk + PostgreSQL) <= {CPU_TARGET:g}× one SQLite process's; "
            f"throughput >= {THROUGHPUT_TARGET:g}× one PostgreSQL process's; 0 errors",
            f"CPU {number(two.cpu_ms(), 'ms')} vs {number(sqlite.cpu_ms(), 'ms')} "
            f"({cpu or 0:.2f}×); {number(two.rps, 'req/s')} vs {number(one.rps, 'req/s')} "
            f"({throughput or 0:.2f}×; SQLite {number(sqlite.rps, 'req/s')}); "
            f"{sqlite.errors + one.errors + two.errors} errors",
            cpu is not None
            and cpu <= CPU_TARGET
            and throughput is not None
            and throughput >= THROUGHPUT_TARGET
            and sqlite.errors + one.errors + two.errors == 0,
        )
    ]


def summary(found: dict[str, Setup]) -> dict[str, object]:
    return {
        name: {
            "requests/s": round(s.rps, 1),
            "p95 ms": round(s.p95_ms, 1),
            "errors": s.errors,
            "cpu ms/req (kiosk + postgres)": [round(s.cpu_ms("kiosk"), 2),
                                              round(s.cpu_ms("postgres"), 2)],
        }
        for name, s in found.items()
    }  # fmt: skip


def main() -> None:
    bench.measure_real_costs()
    from bench import report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tablets", type=int, default=8)
    parser.add_argument("--server-python", type=Path, default=Path(sys.executable))
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--profile", action="store_true", help="also profile each set-up (py-spy, one more run)"
    )
    args = parser.parse_args()
    load = os.getloadavg()
    found = measure(args.server_python, args.seconds, args.tablets, args.profile)
    print(json.dumps(summary(found), indent=2))
    rows, targets = figures(found, args.tablets), goals(found)
    print("\n" + report.text_table(rows) + "\n\n" + report.goals_table(targets))
    profiles = "\n\n".join(
        f"### Profile: {name} (its first process)\n\n{s.profile}"
        for name, s in found.items()
        if s.profile
    )
    print(profiles)
    if not args.no_write:
        report.splice(
            "bench.hub",
            "Hub scenario (issue 21), run on its own: `python -m bench.hub`",
            rows,
            targets,
            f"wrk {args.seconds} s per set-up, {args.tablets} tablets; load average "
            f"{load[0]:.2f} before, {os.getloadavg()[0]:.2f} after",
            profiles,
        )


if __name__ == "__main__":
    main()
