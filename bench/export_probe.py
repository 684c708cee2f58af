"""The export figure, in a process of its own so its memory is the export's alone.

    python -m bench.export_probe generate --instance DIR --count 100000
    python -m bench.export_probe measure --instance DIR --event ID --format csv --out FILE

`generate` writes sign-ups straight into the instance's database in bulk (not through the
web forms: 100,000 forms would take minutes) and prints the event id. `measure` runs
`kiosk export` inside this process, as the lead's command does, while a thread samples the
process's resident memory; it prints one JSON line with seconds, peak RSS growth and size.
"""

import argparse
import gc
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bench.servers import rss_mb

BATCH = 10_000
SAMPLE_INTERVAL_S = 0.002
# Names with characters Excel mangles without a BOM, and one that starts a formula.
FIRST_NAMES = ["Ada", "Min-jun", "지민", "Seo-yeon", "=HYPERLINK", "Joseph", "Grace", "Hana"]


class PeakRss:
    """Samples this process's RSS on a thread; `growth_mb` is the peak above the start."""

    def __init__(self) -> None:
        self.baseline = rss_mb(os.getpid())
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(os.getpid()))
            time.sleep(SAMPLE_INTERVAL_S)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(os.getpid()))

    @property
    def growth_mb(self) -> float:
        return self.peak - self.baseline


# Since issue 11 every form and import stores a phone in E.164, which the export writes
# as it is; one row in LEGACY_EVERY keeps a number typed before that ("+1 555 ..."), which
# the export parses with libphonenumber (about 0.1 ms a row: 10 s if all 100,000 were).
LEGACY_EVERY = 100


def bench_phone(n: int) -> str:
    """A phone as the kiosk stores it: E.164 (a London number), or now and then an old one."""
    return f"+1 555 {n:07d}" if n % LEGACY_EVERY == 0 else f"+44207{n:07d}"


def signup_rows(event_id: int, count: int, interests: list[str]) -> Iterator[dict[str, object]]:
    now = datetime.now(UTC)
    for n in range(count):
        yield {
            "uuid": str(uuid.uuid4()),
            "event_id": event_id,
            "first_name": FIRST_NAMES[n % len(FIRST_NAMES)],
            "last_name": f"Visitor {n}",
            "email": f"visitor{n}@example.org",
            "phone": bench_phone(n),
            "organisation": "Bench High School",
            "interests": ",".join(interests[: n % (len(interests) + 1)]),
            "source": "kiosk",
            "idempotency_key": f"bulk-{n}",
            "consent_version": "bench",
            "consent_text": "Bench consent text.",
            "consent_at": now,
            "created_at": now,
            "updated_at": now,
        }


def batched(rows: Iterator[dict[str, object]], size: int) -> Iterator[list[dict[str, object]]]:
    batch: list[dict[str, object]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# The lead's passphrase of the benchmark's kiosk: personal data is sealed at rest, and
# `kiosk export` opens it with the passphrase (read from stdin, as a lead's script would).
PASSPHRASE = "bench lead passphrase 42"


def generate(count: int) -> dict[str, object]:
    """Migrate a fresh database, set the lead's passphrase and bulk-insert `count` sign-ups
    into the active event."""
    from sqlalchemy import insert

    from kiosk import create_app
    from kiosk.content import current_content
    from kiosk.extensions import db
    from kiosk.models import Signup
    from kiosk.schema import upgrade
    from kiosk.services import lead_auth, sealing
    from kiosk.services.events import current_event, ensure_demo_event

    with create_app().app_context():
        upgrade()
        sealing.ensure_team_key()
        lead_auth.set_passphrase(PASSPHRASE, actor="bench")
        db.session.commit()
        ensure_demo_event()
        event_id = current_event().id
        interests = [i.key for i in current_content().interests]
        for batch in batched(signup_rows(event_id, count, interests), BATCH):
            db.session.execute(insert(Signup), batch)
        db.session.commit()
    return {"event": event_id, "signups": count}


def measure(event_id: int, export_format: str, out: Path) -> dict[str, object]:
    """Time `kiosk export` in this process and sample its memory while it runs."""
    from kiosk import create_app

    app = create_app()
    if "export" not in app.cli.commands:
        return {"available": False}
    runner = app.test_cli_runner()
    args = ["export", "--event", str(event_id), "--format", export_format, "--out", str(out)]
    args.append("--passphrase-stdin")
    gc.collect()
    with PeakRss() as memory:
        started, cpu_started = time.perf_counter(), time.process_time()
        result = runner.invoke(args=args, input=f"{PASSPHRASE}\n")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if result.exit_code != 0:
        raise RuntimeError(f"kiosk export failed: {result.output}{result.exception!r}")
    return {
        "available": True,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "growth_mb": memory.growth_mb,
        "bytes": out.stat().st_size,
        "lines": sum(1 for _ in out.open("rb")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate sign-ups, or measure one export.")
    parser.add_argument("action", choices=["generate", "measure"])
    parser.add_argument("--instance", required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--event", type=int)
    parser.add_argument("--format", default="csv")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ["KIOSK_INSTANCE"] = args.instance
    if args.action == "generate":
        print(json.dumps(generate(args.count)))
    else:
        print(json.dumps(measure(args.event, args.format, args.out)))


if __name__ == "__main__":
    main()
