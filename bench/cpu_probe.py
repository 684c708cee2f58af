"""Where a hub's and a Pi's CPU goes (issue 21's two misses): per process and per request.

    python -m bench.cpu_probe hub [--seconds 8] [--parts] [--spy DIR]
    python -m bench.cpu_probe pi  [--seconds 8] [--spy DIR] [--variant no-signup|cheap-digest]
    python -m bench.cpu_probe pi-no-shim [--seconds 8]

`hub` runs bench/hub.py's three set-ups (one SQLite process, one and two PostgreSQL
processes) and, for each, reads from /proc the CPU seconds of the kiosk processes, of each
kind of PostgreSQL process (backends, WAL writer, checkpointer... and what ended ones left),
of wrk (this process's children) and of the whole machine (/proc/stat: busy and idle of
both cores, so what else ran). With `--parts`, each request of the mix alone too, 3 s each,
for the CPU per request by endpoint. `pi` is bench/run.py's Pi-class run (one CPU, fsync
+10 ms, mixed at 8 tablets), read the same way, its fsync shim also counting the calls and
the seconds spent in them; `pi-no-shim` the same CPU with fsync as it is. Run under the bench
lock; other work on the machine shows as "others' cores" (machine busy minus ours).

With `--spy DIR`, every set-up runs once more with py-spy sampling each kiosk process into
DIR (raw, 200 Hz; `-gil.raw` only samples holding the GIL, `-cpu.raw` every running thread:
the Argon2 digest runs without the GIL); the measured run is the one without py-spy. Read
the GIL samples of waitress's I/O thread with care: they were 36-47% of a process's, yet
strace counted 0.7 poll() per request (not a spinning loop); unconfirmed as real CPU.
"""

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import bench
from bench import hub, pages, run, servers
from bench.wrk import WrkResult, run_wrk

TICKS = os.sysconf("SC_CLK_TCK")
PARTS = ("opener_page", "opener_tap", "opener_chart", "faq_page", "faq_open", "faq_more",
         "qr_image", "signup")  # fmt: skip


def machine() -> tuple[float, float]:
    """(busy, idle) CPU seconds of every core, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICKS, idle / TICKS


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def postgres_kinds(cluster: object | None) -> Counter[str]:
    """CPU seconds of the cluster's processes by kind: 'backend' for a client's connection,
    else the process's title (walwriter, checkpointer...); 'ended' for what ended ones left."""
    kinds: Counter[str] = Counter()
    if cluster is None:
        return kinds
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])  # type: ignore[attr-defined]
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    kinds["postmaster"] = (int(fields[11]) + int(fields[12])) / TICKS
    kinds["ended"] = (int(fields[13]) + int(fields[14])) / TICKS
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != postmaster:
                continue
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (OSError, IndexError):
            continue
        kind = title.removeprefix("postgres: ").split(" ")[0]
        kind = "backend" if "(" in title or "127.0.0.1" in title or "[local]" in title else kind
        kinds[kind] += (int(fields[11]) + int(fields[12])) / TICKS
    return kinds


def wrk_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def spying(pids: list[int], seconds: int, folder: Path | None, name: str) -> Iterator[None]:
    if folder is None:
        yield
        return
    spy = Path(sys.executable).with_name("py-spy")
    # Two recorders a process: samples holding the GIL, and every running thread's (the
    # Argon2 digest and the drivers' C code run without the GIL).
    recorders = [
        subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(seconds),
                "--rate",
                "200",
                "--nonblocking",
                *mode,
                "--format",
                "raw",
                "--output",
                str(folder / f"{name}-{n}{suffix}.raw"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for n, pid in enumerate(pids)
        for mode, suffix in ((["--gil"], "-gil"), ([], "-cpu"))
    ]
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.wait()


def together(kiosks: list[servers.Server], envs: list[dict], tablets: int, s: int) -> list:
    shares = [tablets // len(kiosks) + (n < tablets % len(kiosks)) for n in range(len(kiosks))]
    results: list[WrkResult | None] = [None] * len(kiosks)

    def one(n: int) -> None:
        results[n] = run_wrk(kiosks[n].base_url + "/", shares[n], s, envs[n])

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(kiosks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def measured(kiosks: list[servers.Server], envs: list[dict], tablets: int, seconds: int,
             cluster: object | None) -> dict:  # fmt: skip
    """One run: requests, latency, and CPU ms per request by process kind."""
    before = ([proc_cpu(k.process.pid) for k in kiosks], postgres_kinds(cluster), wrk_cpu(),
              machine())  # fmt: skip
    results = together(kiosks, envs, tablets, seconds)
    after = ([proc_cpu(k.process.pid) for k in kiosks], postgres_kinds(cluster), wrk_cpu(),
             machine())  # fmt: skip
    requests = sum(r.requests for r in results)
    wall = max(r.seconds for r in results)
    per = 1000 / requests
    pg = {k: round(per * (after[1][k] - before[1][k]), 3) for k in after[1]}
    kiosk = [round(per * (a - b), 3) for a, b in zip(after[0], before[0], strict=True)]
    busy, idle = after[3][0] - before[3][0], after[3][1] - before[3][1]
    ours = sum(a - b for a, b in zip(after[0], before[0], strict=True))
    ours += sum(after[1].values()) - sum(before[1].values()) + after[2] - before[2]
    return {
        "rps": round(requests / wall, 1),
        "p50": round(max(r.p50_ms for r in results), 1),
        "p95": round(max(r.p95_ms for r in results), 1),
        "p99": round(max(r.p99_ms for r in results), 1),
        "errors": sum(r.errors for r in results),
        "ms/req kiosk": kiosk,
        "ms/req postgres": {k: v for k, v in pg.items() if v},
        "ms/req postgres total": round(sum(pg.values()), 3),
        "ms/req wrk": round(per * (after[2] - before[2]), 3),
        "ms/req all ours": round(per * ours, 3),
        "machine busy cores": round(busy / wall, 2),
        "machine idle cores": round(idle / wall, 2),
        "others' cores": round((busy - ours) / wall, 2),
        "kiosk cores": [round((a - b) / wall, 2) for a, b in zip(after[0], before[0], strict=True)],
    }


def drive(name: str, kiosks: list[servers.Server], tablets: int, seconds: int,
          cluster: object | None, parts: bool, spy: Path | None) -> dict:  # fmt: skip
    keys = pages.ContentKeys.from_default_pack()
    sessions = [pages.start_session(k.base_url) for k in kiosks]
    envs = [hub.wrk_env(s, keys) for s in sessions]
    together(kiosks, envs, tablets, hub.WARM_UP_S)
    found = {"mixed": measured(kiosks, envs, tablets, seconds, cluster)}
    print(name, "mixed", json.dumps(found["mixed"]), flush=True)
    if spy is not None:
        with spying([k.process.pid for k in kiosks], seconds, spy, name.replace(" ", "")):
            found["mixed, profiled"] = measured(kiosks, envs, tablets, seconds, cluster)
    if parts:
        for part in PARTS:
            part_envs = [env | {"BENCH_MIX": part} for env in envs]
            together(kiosks, part_envs, tablets, 1)
            found[part] = measured(kiosks, part_envs, tablets, 3, cluster)
            print(name, part, json.dumps(found[part]), flush=True)
    return found


def hub_probe(python: Path, seconds: int, tablets: int, parts: bool, spy: Path | None) -> dict:
    found = {}
    with tempfile.TemporaryDirectory(prefix="kiosk-cpu-probe-") as folder:
        root = Path(folder)
        log = root / "servers.log"
        kiosk = hub.start_kiosk(python, root / "sqlite", log)
        try:
            found["sqlite"] = drive("sqlite", [kiosk], tablets, seconds, None, parts, spy)
        finally:
            kiosk.stop()
        with hub.postgres_cluster() as cluster:
            for count in (1, 2):
                url = cluster.url(cluster.create_database(f"hub_{count}"))
                kiosks: list[servers.Server] = []
                try:
                    for _ in range(count):
                        kiosks.append(hub.start_kiosk(python, root / f"pg{count}", log, url))
                    name = f"postgresql x{count}"
                    found[name] = drive(name, kiosks, tablets, seconds, cluster, parts, spy)
                finally:
                    for started in kiosks:
                        started.stop()
    return found


COUNTING_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static long calls, wait_ns;
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}
static int counted(int (*real)(int), int fd) {
  double start = now();
  struct timespec t = {0, %d * 1000000L}; nanosleep(&t, 0);
  int done = real(fd);
  __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&wait_ns, (long)(now() - start), __ATOMIC_SEQ_CST);
  char text[64]; int n = snprintf(text, sizeof text, "%%ld %%ld\n", calls, wait_ns);
  int out = open("%s", O_WRONLY | O_CREAT, 0644);
  if (out >= 0) { pwrite(out, text, n, 0); close(out); }
  return done;
}
int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = dlsym(RTLD_NEXT, "fsync");
  return counted(real, fd);
}
int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
  return counted(real, fd);
}
"""


def counting_shim(folder: Path, counts: Path) -> Path:
    """bench/run.py's slow fsync, which also writes "calls nanoseconds" to `counts`."""
    source, library = folder / "counting.c", folder / "counting.so"
    source.write_text(COUNTING_SHIM % (run.PI_FSYNC_MS, counts))
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(library), str(source), "-ldl"],
                   check=True)  # fmt: skip
    return library


def fsyncs(counts: Path) -> tuple[int, float]:
    try:
        calls, ns = counts.read_text().split()
    except (OSError, ValueError):
        return 0, 0.0
    return int(calls), int(ns) / 1e9


def pi_probe(
    python: Path, seconds: int, tablets: int, spy: Path | None, shim: bool, variant: str = ""
) -> dict:
    """The Pi-class run; `variant` "cheap-digest" serves with libsodium's least Argon2id (an
    experiment: what the digest costs the tail), "no-signup" drives the mix without sign-ups."""
    if variant == "cheap-digest":
        plain = run.kiosk_env
        run.kiosk_env = lambda instance: plain(instance) | {bench.CHEAP_DIGESTS: "1"}  # type: ignore[assignment]
    if variant == "no-signup":
        hub_env = hub.wrk_env
        hub.wrk_env = lambda *a: hub_env(*a) | {"BENCH_SIGNUP": "0"}  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(prefix="kiosk-cpu-probe-") as folder:
        root = Path(folder)
        counts = root / "fsync.counts"
        library = counting_shim(root, counts) if shim else None
        kiosk = run.start_kiosk(python, root / "pi", root / "servers.log", library)
        if not shim:  # the same single CPU, fsync as it is
            subprocess.run(["taskset", "-p", "-c", "0", str(kiosk.process.pid)], check=True,
                           capture_output=True)  # fmt: skip
        try:
            found = drive("pi", [kiosk], tablets, seconds, None, False, spy)
            print("fsync calls, seconds in fsync (all runs, warm-up included):", fsyncs(counts))
            return found
        finally:
            kiosk.stop()


def main() -> None:
    bench.measure_real_costs()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("hub", "pi", "pi-no-shim"))
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--tablets", type=int, default=8)
    parser.add_argument("--parts", action="store_true")
    parser.add_argument("--spy", type=Path)
    parser.add_argument("--variant", choices=("", "cheap-digest", "no-signup"), default="")
    parser.add_argument("--server-python", type=Path,
                        default=Path("bench/out/server-venv/bin/python").absolute())  # fmt: skip
    args = parser.parse_args()
    if args.spy:
        args.spy.mkdir(parents=True, exist_ok=True)
    print("load before", os.getloadavg(), flush=True)
    if args.what == "hub":
        found = hub_probe(args.server_python, args.seconds, args.tablets, args.parts, args.spy)
    else:
        found = pi_probe(args.server_python, args.seconds, args.tablets, args.spy,
                         args.what == "pi", args.variant)  # fmt: skip
    print("load after", os.getloadavg(), flush=True)
    print(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
