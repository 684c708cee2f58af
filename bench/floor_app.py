"""The floor: a bare Flask app returning a short string, served like the kiosk.

Every kiosk throughput and latency figure is divided by this app's, measured in the same
run with the same waitress settings and the same wrk command, so the ratios say what the
kiosk's own work costs on top of Flask and waitress on whatever machine runs the bench.

    python -m bench.floor_app --port 8121 --threads 8
"""

import argparse

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index() -> str:
    """A short string: the least a Flask view can do."""
    return "ok"


def main() -> None:
    from waitress import serve

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    serve(app, host=args.host, port=args.port, threads=args.threads, ident="floor")


if __name__ == "__main__":
    main()
