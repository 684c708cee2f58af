"""The growth scenario: a season's data in the active event, and what it costs the kiosk.

    python -m bench.growth fill --instance DIR --taps 1000000 --signups 100000
    python -m bench.growth lead --instance DIR

`fill` migrates the instance's database (a fresh one, or one `kiosk serve` made) and writes
the taps and sign-ups straight into its active event by direct SQL, in large batches (not
through the kiosk: a million taps would take hours), then prints one JSON line: the event's
id, the counts, the seconds it took and the file's size. Taps are opener answers and FAQ
opens spread over the content pack's keys, a few hours apart from now, as a busy season's.
`lead` prints a lead session token for that instance, for the dashboard and the exports.

Runs in the server's environment (bench/run.py starts it with the server's python).
"""

import argparse
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.export_probe import batched, signup_rows

TAP_BATCH = 100_000
SIGNUP_BATCH = 10_000


def tap_rows(
    event_id: int, kiosk_id: str, count: int, choices: list[str], slugs: list[str]
) -> Iterator[tuple[str, int, str, str, str, str]]:
    """(uuid, event_id, kind, key, created_at, kiosk_id): 3 opener answers to 1 FAQ open."""
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=6)
    step = timedelta(hours=6) / max(count, 1)
    for n in range(count):
        if n % 4 == 3:
            kind, key = "faq_open", slugs[n % len(slugs)]
        else:
            kind, key = "opener", choices[n % len(choices)]
        moment = (start + step * n).isoformat(sep=" ", timespec="microseconds")
        yield (str(uuid.uuid4()), event_id, kind, key, moment, kiosk_id)


def fill(taps: int, signups: int) -> dict[str, object]:
    """Migrate, make the active event, and write `taps` and `signups` into it."""
    from sqlalchemy import insert

    from kiosk import create_app
    from kiosk.config import sqlite_file
    from kiosk.content import current_content
    from kiosk.extensions import db
    from kiosk.models import Signup
    from kiosk.schema import upgrade
    from kiosk.services import identity
    from kiosk.services.events import current_event, ensure_demo_event

    started = time.perf_counter()
    app = create_app()
    with app.app_context():
        upgrade()
        ensure_demo_event()
        kiosk_id = identity.kiosk_id()
        event_id = current_event().id
        content = current_content()
        choices = [c.key for c in content.choices]
        slugs = [e.slug for e in content.faq_entries]
        interests = [i.key for i in content.interests]
        for batch in batched(signup_rows(event_id, signups, interests), SIGNUP_BATCH):
            db.session.execute(insert(Signup), batch)
        db.session.commit()
        path = sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
        db.engine.dispose()
    if path is None:
        raise SystemExit("the growth scenario fills a SQLite instance")
    taps_from = time.perf_counter()
    # The taps through the driver itself: a million rows through the ORM took minutes.
    with sqlite3.connect(path) as connection:
        # A cache that holds the indexes being filled (the UUIDs land anywhere in theirs);
        # the fill is written once, checkpointed, and only then served.
        connection.execute("PRAGMA cache_size = -400000")
        connection.execute("PRAGMA synchronous = OFF")
        rows = tap_rows(event_id, kiosk_id, taps, choices, slugs)
        statement = (
            "INSERT INTO tally (uuid, event_id, kind, key, created_at, kiosk_id) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        for batch in batched(rows, TAP_BATCH):  # type: ignore[arg-type]  # tuples batch too
            connection.executemany(statement, batch)
        connection.commit()
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filled = time.perf_counter()
    return {
        "event": event_id,
        "taps": taps,
        "signups": signups,
        "seconds": time.perf_counter() - started,
        "tap_seconds": filled - taps_from,
        "bytes": path.stat().st_size,
    }


def lead_token() -> str:
    """A new lead session in the instance (the benchmark logs in without a passphrase)."""
    from kiosk import create_app
    from kiosk.extensions import db
    from kiosk.services import lead_auth

    with create_app().app_context():
        token = lead_auth.start_session()
        db.engine.dispose()
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description="Fill an instance with a season's data.")
    parser.add_argument("action", choices=["fill", "lead"])
    parser.add_argument("--instance", required=True)
    parser.add_argument("--taps", type=int, default=1_000_000)
    parser.add_argument("--signups", type=int, default=100_000)
    args = parser.parse_args()
    os.environ["KIOSK_INSTANCE"] = args.instance
    Path(args.instance).mkdir(parents=True, exist_ok=True)
    if args.action == "fill":
        print(json.dumps(fill(args.taps, args.signups)))
    else:
        print(json.dumps({"token": lead_token()}))


if __name__ == "__main__":
    main()


# ---- Measured from the benchmark's side (bench/run.py) -------------------------------------

DASHBOARD_POLLS = 15
CSRF_INPUT = 'name="csrf_token" value="'


def dashboard_poll_ms(base_url: str, token: str, polls: int = DASHBOARD_POLLS) -> float:
    """The median time of the lead dashboard's 5-second htmx poll (GET /lead/), in ms."""
    from bench.pages import fetch

    headers = {"Cookie": f"kiosk_lead={token}", "HX-Request": "true"}
    fetch(base_url + "/lead/", headers=headers)  # warm
    times = []
    for _ in range(polls):
        started = time.perf_counter()
        reply = fetch(base_url + "/lead/", headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        if reply.status != 200:
            raise RuntimeError(f"the dashboard poll answered {reply.status}")
    return sorted(times)[len(times) // 2]


def web_export(base_url: str, token: str, format_name: str, event_id: int) -> dict[str, float]:
    """Download one export from the lead's data page as a browser would: seconds and bytes."""
    import urllib.parse

    from bench.pages import cookie_header, fetch

    lead = f"kiosk_lead={token}"
    page = fetch(base_url + "/lead/data", headers={"Cookie": lead})
    body = page.body.decode()
    csrf = body.split(CSRF_INPUT, 1)[1].split('"', 1)[0]
    cookies = "; ".join([lead, cookie_header(page.set_cookies)])
    form = {"csrf_token": csrf, "format": format_name, "event": str(event_id)}
    started = time.perf_counter()
    reply = fetch(
        base_url + "/lead/export",
        urllib.parse.urlencode(form).encode(),
        {"Cookie": cookies},
    )
    if reply.status != 200:
        raise RuntimeError(f"the {format_name} export answered {reply.status}")
    return {"seconds": time.perf_counter() - started, "bytes": len(reply.body)}
