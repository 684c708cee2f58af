"""Measure, once, what a season's data costs the chart after a tap and the dashboard's poll.

    .venv/bin/python -m bench.counts_probe [--taps 1000000] [--signups 100000]

Builds a SQLite kiosk whose active event holds `--taps` opener taps and `--signups`
sign-ups (direct SQL, spread over three days), then times, through Flask's test client, the
opener chart right after a tap (the kept screen is gone: it renders afresh) and the lead
dashboard's htmx poll: median of a few runs each, also on an empty event for comparison.
Not a test: a figure for bench/results.md and the report of issue 21.
"""

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

import bench
from kiosk.schema import upgrade

TAPS = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :many)
INSERT INTO tally (uuid, event_id, kind, key, created_at)
SELECT 'tap-' || i, :event_id, 'opener', :key, datetime(:start, '+' || (i % 259200) || ' seconds')
FROM n
"""
SIGNUPS = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :many)
INSERT INTO signup (uuid, event_id, email, first_name, last_name, phone, organisation,
    interests, source, locale, revision, created_at, updated_at)
SELECT 'signup-' || i, :event_id, 'p' || i || '@example.org', 'P', '', '', '', '', 'kiosk',
    '', 1, datetime(:start, '+' || (i * 2) || ' seconds'), :start FROM n
"""


def median_ms(ask: Callable[[], None], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        ask()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(taps: int, signups: int) -> dict[str, float]:
    from kiosk import create_app
    from kiosk.content import current_content
    from kiosk.extensions import db
    from kiosk.services.events import ensure_demo_event
    from tests.data_helpers import logged_in_lead

    folder = Path(tempfile.mkdtemp(prefix="counts-probe-"))
    os.environ["KIOSK_INSTANCE"] = str(folder)
    app = create_app(
        {
            "SECRET_KEY": "probe",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'kiosk.db'}",
            "WTF_CSRF_ENABLED": False,
        }
    )
    built = 0.0
    with app.app_context():
        upgrade()
        event = ensure_demo_event()
        keys = [choice.key for choice in current_content().choices]
        started = time.perf_counter()
        for place, key in enumerate(keys):
            share = taps // len(keys) + (1 if place < taps % len(keys) else 0)
            values = {"event_id": event.id, "key": key, "start": "2026-12-01 09:00:00"}
            db.session.execute(
                text(TAPS.replace("'tap-'", f"'tap-{key}-'")), values | {"many": share}
            )
        db.session.execute(
            text(SIGNUPS), {"event_id": event.id, "start": "2026-12-01 09:00:00", "many": signups}
        )
        db.session.commit()
        built = time.perf_counter() - started
    visitor = app.test_client()
    lead = logged_in_lead(app)
    hx = {"HX-Request": "true"}

    def chart_after_a_tap() -> None:
        assert visitor.post("/opener", data={"choice": keys[0]}, headers=hx).status_code == 200
        started = time.perf_counter()
        assert visitor.get("/opener/chart", headers=hx).status_code == 200
        chart_times.append((time.perf_counter() - started) * 1000)

    chart_times: list[float] = []
    for _ in range(7):
        chart_after_a_tap()
    tap_ms = median_ms(
        lambda: visitor.post("/opener", data={"choice": keys[0]}, headers=hx), runs=7
    )
    poll_ms = median_ms(lambda: lead.get("/lead/", headers=hx))
    return {
        "built_s": built,
        "tap_ms": tap_ms,
        "chart_after_tap_ms": statistics.median(chart_times),
        "dashboard_poll_ms": poll_ms,
    }


def main() -> None:
    bench.measure_real_costs()
    parser = argparse.ArgumentParser()
    parser.add_argument("--taps", type=int, default=1_000_000)
    parser.add_argument("--signups", type=int, default=100_000)
    args = parser.parse_args()
    for label, taps, signups in (("empty", 0, 0), ("grown", args.taps, args.signups)):
        figures = measure(taps, signups)
        shown = ", ".join(f"{name} {value:.1f}" for name, value in figures.items())
        print(f"{label} ({taps:,} taps, {signups:,} sign-ups): {shown}", flush=True)


if __name__ == "__main__":
    main()
