"""The bench's count of a hub's answers (bench/sync_scale.py), loaded by the hub's Python only
when the bench puts this folder on its PYTHONPATH and names a file in BENCH_HUB_REQUESTS.

Each answer waitress gives is counted by method, path and status, with the seconds its task
took (the app and the writing of its answer into waitress's buffer); every COUNT_EVERY_S the
counts are written to that file as JSON (replaced whole), where the bench reads them at each
window's edges. Nothing of the kiosk changes: waitress's WSGITask.execute is wrapped.
"""

import json
import os
import threading
import time

COUNT_EVERY_S = 0.1
_out = os.environ.get("BENCH_HUB_REQUESTS")

if _out:
    import waitress.task

    _lock = threading.Lock()
    _counts: dict[str, list[float]] = {}  # "POST /hub/records 503" -> [answers, seconds]
    _execute = waitress.task.WSGITask.execute

    def _counted(self):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        try:
            return _execute(self)
        finally:
            seconds = time.perf_counter() - began
            key = f"{self.request.command} {self.request.path} {str(self.status)[:3]}"
            with _lock:
                seen = _counts.setdefault(key, [0, 0.0])
                seen[0] += 1
                seen[1] += seconds

    waitress.task.WSGITask.execute = _counted

    def _write() -> None:
        path = str(_out)
        while True:
            time.sleep(COUNT_EVERY_S)
            with _lock:
                text = json.dumps(_counts)
            with open(path + ".tmp", "w") as file:
                file.write(text)
            os.replace(path + ".tmp", path)

    threading.Thread(target=_write, name="bench-request-count", daemon=True).start()
