"""Where a served read's time goes: the kiosk's kept opener page against the page floor
(or any part of the mix against either floor: --mix, --floor-mix).

`make bench` measures reads among everything else; this runs only them, alternating the
kiosk and the floor (bench/floor_app.py sending the kiosk's own page bytes) in one run, so a
change to the fast path can be weighed in a minute. With --profile, py-spy samples each
server while it is loaded (--gil: only samples holding Python's lock).

    .venv/bin/python -m bench.reads_probe --server-python bench/out/server-venv/bin/python
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import bench
from bench import pages, profile
from bench.run import TARGET_TABLETS, Load, has_signup, start_floor, start_kiosk


def main() -> None:
    bench.measure_real_costs()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-python", type=Path, default=Path(sys.executable))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy raw files here")
    parser.add_argument("--gil", action="store_true", help="profile: only samples holding the GIL")
    parser.add_argument("--mix", default="opener_page", help="the kiosk's part (bench/kiosk.lua)")
    parser.add_argument("--floor-mix", default="floor_page", help="the floor's: floor, floor_page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiosk-reads-") as workdir:
        work = Path(workdir)
        kiosk = start_kiosk(args.server_python, work / "instance", work / "servers.log")
        page = work / "opener.html"
        page.write_bytes(pages.fetch(kiosk.base_url + "/").body)
        floor = start_floor(args.server_python, work / "servers.log", page, work / "floor.db")
        try:
            session = pages.start_session(kiosk.base_url)
            keys = pages.ContentKeys.from_default_pack()
            load = Load(kiosk, floor, session, keys, has_signup(session))
            load.on_kiosk(args.mix, TARGET_TABLETS, 2)  # warm: the page is kept
            load.on_floor(TARGET_TABLETS, 2, args.floor_mix)
            for _ in range(args.rounds):
                mine = recorded(
                    args,
                    "kiosk",
                    kiosk.process.pid,
                    lambda: load.on_kiosk(args.mix, TARGET_TABLETS, args.seconds),
                )
                bare = recorded(
                    args,
                    "floor",
                    floor.process.pid,
                    lambda: load.on_floor(TARGET_TABLETS, args.seconds, args.floor_mix),
                )
                print(
                    f"kiosk {mine.rps:,.0f} req/s, {mine.cpu_ms_per_request:.3f} ms CPU | "
                    f"{args.floor_mix} {bare.rps:,.0f} req/s, "
                    f"{bare.cpu_ms_per_request:.3f} ms CPU | "
                    f"{mine.rps / bare.rps:.2f}x",
                    flush=True,
                )  # fmt: skip
        finally:
            kiosk.stop()
            floor.stop()


def recorded(args: argparse.Namespace, name: str, pid: int, run):  # type: ignore[no-untyped-def]
    """`run()`, sampled by py-spy into DIR/name.raw when --profile asks."""
    if args.profile is None:
        return run()
    args.profile.mkdir(parents=True, exist_ok=True)
    command = [
        profile.py_spy() or "py-spy", "record", "--pid", str(pid), "--duration",
        str(args.seconds + 1), "--rate", "250", "--nonblocking", "--format", "raw",
        "--output", str(args.profile / f"{name}.raw"), *(["--gil"] if args.gil else []),
    ]  # fmt: skip
    recording = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = run()
    recording.wait()
    return result


if __name__ == "__main__":
    main()
