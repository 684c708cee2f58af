"""Writes before and after, in one locked run: `python -m bench.writes --base DIR` (issue 21).

`make bench` measures everything once; this measures only what issue 21's "writes near the
floor" is about, for two copies of the code side by side, so a change is judged against
its base under the same load on the machine:

- the bare floor at 8 tablets (bench/floor_app.py), measured again before each kiosk;
- the mixed traffic at 8 tablets (the sign-up included), each tap alone (opener tap, FAQ
  open, Tell me more) and sign-ups alone, on a fresh instance of each copy.

`--base DIR` is a checkout of the code before the change (`git worktree add DIR COMMIT`):
its `kiosk` package is imported instead of this one's (PYTHONPATH), with this environment's
libraries. `--profile FILE` samples each kiosk's mixed load with py-spy into FILE.label.
Run it under the bench lock: `flock /work/bench.lock .venv/bin/python -m bench.writes ...`.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import bench
from bench import pages, profile, servers
from bench.run import FLOOR_PORT, KIOSK_PORT, Load, kiosk_env, start_floor, timed
from bench.wrk import WrkResult

TABLETS = 8
TAPS = ("opener_tap", "faq_open", "faq_more")


def start_kiosk(python: Path, instance: Path, log: Path, code: Path | None) -> servers.Server:
    env = kiosk_env(instance)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return servers.start(
        "kiosk",
        servers.kiosk_command(python, KIOSK_PORT),
        "/healthz",
        KIOSK_PORT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def line(name: str, result: WrkResult, floor: WrkResult) -> str:
    return (
        f"| {name} | {result.rps:,.0f} | {result.rps / floor.rps:.2f}× | {result.p95_ms:.1f} | "
        f"{result.p99_ms:.1f} | {result.cpu_ms_per_request:.2f} | {result.errors} |"
    )


def measure(
    label: str,
    python: Path,
    workdir: Path,
    floor: servers.Server,
    code: Path | None,
    seconds: int,
    profile_to: Path | None,
    profile_mix: str = "mixed",
    only_profile: bool = False,
) -> list[str]:
    kiosk = start_kiosk(python, workdir / f"instance-{label}", workdir / "servers.log", code)
    try:
        session = pages.start_session(kiosk.base_url)
        load = Load(kiosk, floor, session, pages.ContentKeys.from_default_pack(), True)
        load.on_kiosk("mixed", TABLETS, 2)
        rows = []
        if not only_profile:
            bare = load.on_floor(TABLETS, seconds)
            rows.append(line(f"{label}: bare floor", bare, bare))
            mixed = load.on_kiosk("mixed", TABLETS, seconds)
            rows.append(line(f"{label}: mixed", mixed, bare))
            for part in TAPS:
                alone = load.on_kiosk(part, TABLETS, seconds // 2)
                rows.append(line(f"{label}: {part}", alone, bare))
            signups = load.on_kiosk("signup", TABLETS, seconds)
            rows.append(line(f"{label}: signup", signups, bare))
        if profile_to is not None:
            out = profile_to.with_suffix(f".{label}.txt")
            recording = profile.start_recording(kiosk.process.pid, seconds + 1, out)
            if recording is not None:
                timed(kiosk, TABLETS, seconds, load.env(profile_mix))
                recording.wait()
                if out.exists():
                    text = profile.markdown(profile.parse_raw(out.read_text()), 40)
                    out.with_suffix(".md").write_text(text)
        return rows
    finally:
        kiosk.stop()


def main() -> None:
    bench.measure_real_costs()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="a checkout of the code before the change")
    parser.add_argument("--after", type=Path, help="a checkout of the code after it (else this)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1, help="base and this code, alternated")
    parser.add_argument("--profile", type=Path, metavar="FILE")
    parser.add_argument("--profile-mix", default="mixed", help="what the profiled load sends")
    parser.add_argument("--only", action="store_true", help="no measured runs: the profile")
    args = parser.parse_args()
    python = Path(sys.executable)
    load_before = os.getloadavg()
    rows = [
        "| figure (8 tablets) | req/s | × bare | p95 ms | p99 ms | CPU ms/req | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory(prefix="kiosk-writes-") as name:
        workdir = Path(name)
        page = workdir / "page.html"
        page.write_text("<!doctype html><title>floor</title>")
        floor = start_floor(python, workdir / "servers.log", page, workdir / "floor.sqlite")
        try:
            for round_ in range(args.rounds):
                variants = [("after", args.after.resolve() if args.after else None)]
                if args.base is not None:
                    variants.insert(0, ("before", args.base.resolve()))
                for label, code in variants:
                    tag = f"{label}{round_ + 1}" if args.rounds > 1 else label
                    print(f"{tag} ...", flush=True)
                    rows += measure(
                        tag, python, workdir, floor, code, args.seconds, args.profile,
                        args.profile_mix, args.only,
                    )  # fmt: skip
        finally:
            floor.stop()
    loads = " / ".join(f"{v:.2f}" for v in load_before)
    after = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    print("\n".join(rows))
    print(f"\nload average {loads} before, {after} after; ports {KIOSK_PORT}/{FLOOR_PORT}")


if __name__ == "__main__":
    main()
