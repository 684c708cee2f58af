"""The floors: bare Flask views, served like the kiosk, that say what the machine allows.

Every kiosk throughput and latency figure is divided by a floor measured in the same run
with the same waitress settings and the same wrk command, so the ratios say what the
kiosk's own work costs on top of Flask and waitress on whatever machine runs the bench.

    GET  /        "ok": the least a Flask view can do (the bare floor)
    GET  /page    the kiosk's own opener page, as bytes read once at start (--page FILE):
                  the most a read could reach if it did no work but send the same bytes
    POST /insert  one durable SQLite insert (WAL, synchronous=FULL) per request, in turns
                  on one connection (--db FILE): the most a durable tap could reach

    python -m bench.floor_app --port 8121 --threads 8 --page opener.html --db floor.sqlite3
"""

import argparse
import sqlite3
import threading
from pathlib import Path

from flask import Flask, Response

app = Flask(__name__)
PAGE: dict[str, bytes] = {"body": b""}
DURABLE: dict[str, sqlite3.Connection] = {}
TURN = threading.Lock()


@app.get("/")
def index() -> str:
    """A short string: the least a Flask view can do."""
    return "ok"


@app.get("/page")
def page() -> Response:
    """The kiosk's opener page, bytes read once: sending a page without making it."""
    return Response(PAGE["body"], mimetype="text/html")


@app.post("/insert")
def insert() -> str:
    """One row, committed and fsynced before the answer: a durable write and nothing else."""
    with TURN:
        connection = DURABLE["db"]
        connection.execute("INSERT INTO tap (key) VALUES (?)", ("floor",))
        connection.commit()
    return "ok"


def open_durable(path: Path) -> sqlite3.Connection:
    """A SQLite database opened as the kiosk opens its own: WAL, synchronous=FULL."""
    connection = sqlite3.connect(path, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE IF NOT EXISTS tap (id INTEGER PRIMARY KEY, key TEXT)")
    connection.commit()
    return connection


def main() -> None:
    from waitress import serve

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--page", type=Path, help="bytes GET /page returns")
    parser.add_argument("--db", type=Path, help="SQLite file POST /insert writes to")
    args = parser.parse_args()
    if args.page is not None:
        PAGE["body"] = args.page.read_bytes()
    if args.db is not None:
        DURABLE["db"] = open_durable(args.db)
    serve(app, host=args.host, port=args.port, threads=args.threads, ident="floor")


if __name__ == "__main__":
    main()
