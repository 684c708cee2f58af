"""waitress, served so that slow and many clients never lock visitors out.

waitress reads each request whole before a thread sees it, so a slow client costs no thread,
but it holds a connection, and waitress bounds neither well: it stops accepting at
`connection_limit` (100 by default) and closes only connections that were quiet for
`channel_timeout` (120 s). A phone on the table's Wi-Fi that sends one header line every two
seconds is never quiet: 100 of them took the kiosk off the air (issue 20). So here:

- a request must arrive whole within `KIOSK_REQUEST_READ_SECONDS` of its first byte, whatever
  its pace (a large upload, the lead's import, gets time on top for its declared size at a
  slow hotspot's pace); otherwise it is answered 408 and closed;
- an answer the client takes none of for as long is dropped too (a client that never reads);
- up to `KIOSK_CONNECTION_LIMIT` connections (1,000, far more than a table's tablets open),
  within the process's open-file limit, whose soft limit is raised as far as that needs;
- near the limit, the connections that have waited longest for their client (an unfinished
  request since its first byte, an unread answer or an idle connection since it last moved)
  are closed first, so a new visitor always gets in;
- poll() rather than waitress's default select(), which fails past file descriptor 1023.

`serve` is what `kiosk serve` calls; tests that stop `kiosk serve` at its last step replace
`waitress.serve`, which this still calls with the server made here.
"""

import contextlib
import functools
import logging
import time
from collections import Counter
from typing import Any

import waitress
import waitress.adjustments
import waitress.server
import waitress.task
from flask import Flask
from waitress import wasyncore
from waitress.channel import HTTPChannel

from kiosk.lead.data import IMPORT_MAX_BYTES

try:
    import resource
except ImportError:  # not a Unix: the open-file limit is left as it is
    resource = None  # type: ignore[assignment]  # the module or nothing

log = logging.getLogger("kiosk.serving")

# A large body (the lead's import) gets time on top for its declared size, at the pace of a
# slow hotspot; bodies the kiosk refuses anyway get no more than its largest.
SLOW_UPLOAD_BYTES_PER_SECOND = 256 * 1024
# Open files that are not connections: the database and its journal, logs, the listening
# socket and waitress's trigger pipe, Python's own.
OTHER_FILES = 64
# How often unfinished requests and unread answers are checked against their time limit.
SWEEP_SECONDS = 1.0
# At most this many connections taken at once (see KioskListener).
ACCEPT_BATCH = 64
# How often the connections dropped are reported in the log (a flood would fill it).
REPORT_SECONDS = 60.0
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


class KioskChannel(HTTPChannel):
    """waitress's connection, knowing since when it has waited for its client."""

    # When the first byte of the request not yet whole arrived; None between requests.
    request_started: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # When bytes last moved either way, or a thread finished an answer.
        self.last_progress = time.monotonic()
        super().__init__(*args, **kwargs)

    def received(self, data: bytes) -> bool:
        now = time.monotonic()
        before = self.request
        try:
            return bool(super().received(data))
        finally:
            self.last_progress = now
            if self.request is None:
                self.request_started = None
            elif self.request is not before:  # a new request began in these bytes
                self.request_started = now

    def _flush_some(self, do_close: bool = True) -> bool:
        sent = bool(super()._flush_some(do_close=do_close))
        if sent:
            self.last_progress = time.monotonic()
        return sent

    def service(self) -> None:
        super().service()
        self.last_progress = time.monotonic()

    def waiting_since(self) -> float | None:
        """Since when this connection has waited for its client; None while a thread
        serves it (never dropped then)."""
        if self.requests:
            return None
        if self.request_started is not None:
            return self.request_started
        return self.last_progress

    def overdue(self, now: float, read_seconds: float) -> bool:
        """Whether its request has not arrived, or its answer not been taken, in time."""
        if self.requests:
            return False
        if self.request_started is not None:
            request = self.request
            declared = request.content_length if request and request.headers_finished else 0
            allowed = read_seconds + min(declared, IMPORT_MAX_BYTES) / SLOW_UPLOAD_BYTES_PER_SECOND
            return now - self.request_started > allowed
        # An idle connection is waitress's to close (channel_timeout).
        return bool(self.total_outbufs_len) and now - self.last_progress > read_seconds

    def drop(self) -> None:
        """Close now; a request cut short is told why, if its client still listens."""
        if self.request_started is not None and not self.total_outbufs_len:
            with contextlib.suppress(OSError):
                self.socket.send(REQUEST_TIMEOUT)
        # Not waitress's `will_close`, which waits for the socket to take more of the answer:
        # a client that never reads would keep its connection.
        self.handle_close()


class KioskListener(waitress.server.TcpWSGIServer):
    """waitress's listening socket, making our connections and taking a burst at once."""

    channel_class = KioskChannel

    def handle_accept(self) -> None:
        # waitress takes one connection per poll, and each poll passes over every
        # connection: 500 arriving at once kept a visitor's waiting 1.4 s. Take what waits,
        # up to the limit (making room is done between polls).
        for _ in range(max(1, min(ACCEPT_BATCH, self.adj.connection_limit - len(self._map)))):
            before = len(self._map)
            super().handle_accept()
            if len(self._map) == before:  # none waiting any more
                return


class GuardedServer:
    """waitress's listeners in a loop that drops overdue connections and makes room."""

    def __init__(
        self,
        listeners: list[KioskListener],
        dispatcher: Any,
        adj: Any,
        connections: dict,
        read_seconds: float,
    ) -> None:
        self.listeners = listeners
        self.dispatcher = dispatcher
        self.adj = adj
        self.connections = connections  # waitress's socket map: listeners, triggers, channels
        self.read_seconds = read_seconds
        self.limit = int(self.adj.connection_limit)
        self.headroom = max(1, self.limit // 20)
        self.dropped: Counter[str] = Counter()
        self.reported = time.monotonic()
        self.stopping = False

    @property
    def effective_port(self) -> int:
        return int(self.listeners[0].effective_port)

    def print_listen(self, format_str: str) -> None:
        for listener in self.listeners:
            listener.print_listen(format_str)

    def run(self) -> None:
        """waitress's own loop, one poll at a time, with the checks between."""
        next_sweep = 0.0
        try:
            while self.connections and not self.stopping:
                now = time.monotonic()
                if now >= next_sweep:
                    self.drop_overdue(now)
                    self.report(now)
                    next_sweep = now + SWEEP_SECONDS
                self.make_room()
                wasyncore.loop(
                    timeout=self.adj.asyncore_loop_timeout,
                    map=self.connections,
                    use_poll=True,
                    count=1,
                )
        except (SystemExit, KeyboardInterrupt):
            pass
        finally:
            self.dispatcher.shutdown()
            wasyncore.close_all(self.connections, ignore_all=True)

    def close(self) -> None:
        """Stop serving, from another thread: the loop wakes and ends."""
        self.stopping = True
        for listener in self.listeners:
            listener.pull_trigger()

    def channels(self) -> list[KioskChannel]:
        return [each for each in list(self.connections.values()) if isinstance(each, KioskChannel)]

    def drop_overdue(self, now: float) -> None:
        for channel in self.channels():
            if channel.overdue(now, self.read_seconds):
                self.dropped["took too long"] += 1
                channel.drop()

    def make_room(self) -> None:
        """Near the limit, close the connections that have waited longest for their client."""
        if len(self.connections) < self.limit - self.headroom:
            return
        waiting = []
        for channel in self.channels():
            since = channel.waiting_since()
            if since is not None:
                waiting.append((since, id(channel), channel))
        waiting.sort()
        excess = len(self.connections) - (self.limit - 2 * self.headroom)
        for _, _, channel in waiting[:excess]:
            self.dropped["made room"] += 1
            channel.drop()

    def report(self, now: float) -> None:
        if self.dropped and now - self.reported >= REPORT_SECONDS:
            log.warning(
                "closed %d connection(s) whose request or answer took over %s s, and %d "
                "that waited longest, to keep room below the limit of %d",
                self.dropped["took too long"],
                self.read_seconds,
                self.dropped["made room"],
                self.limit,
            )
            self.dropped.clear()
            self.reported = now


def create_server(app: Any, *, read_seconds: float, **adjustments: Any) -> GuardedServer:
    """What `waitress.serve` runs: waitress's server (as its create_server makes it, for
    the TCP addresses the kiosk listens on), with our connections and loop."""
    adj = waitress.adjustments.Adjustments(asyncore_use_poll=True, **adjustments)
    connections: dict = {}
    dispatcher = waitress.task.ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    listeners = [
        KioskListener(app, connections, dispatcher=dispatcher, adj=adj, sockinfo=address)
        for address in adj.listen
    ]
    return GuardedServer(listeners, dispatcher, adj, connections, read_seconds)


def fit_file_limit(wanted: int) -> int:
    """The connection limit the process's open-file limit allows: its soft limit is raised
    toward the hard one as far as `wanted` connections need (systemd's soft limit is 1,024)."""
    if resource is None:
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + OTHER_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - OTHER_FILES))


def serve(app: Flask, **adjustments: Any) -> None:
    """Serve `app` with waitress until the process is stopped (see the module's note)."""
    limit = fit_file_limit(app.config["KIOSK_CONNECTION_LIMIT"])
    if limit < app.config["KIOSK_CONNECTION_LIMIT"]:
        log.warning(
            "KIOSK_CONNECTION_LIMIT is %d, but this process may open only enough files for %d "
            "connections: raise its hard limit (LimitNOFILE= in the service's unit)",
            app.config["KIOSK_CONNECTION_LIMIT"],
            limit,
        )
    waitress.serve(
        app,
        # waitress.serve's hook for the server it runs (it calls it a test shim); a waitress
        # without it would refuse to start ("Unknown adjustment '_server'"), never serve
        # unguarded. tests/test_serving.py runs what it makes.
        _server=functools.partial(
            create_server, read_seconds=app.config["KIOSK_REQUEST_READ_SECONDS"]
        ),
        connection_limit=limit,
        **adjustments,
    )
