"""kiosk/serving.py: waitress, with a time limit for a request to arrive, a connection limit
within the open-file limit, and the longest-waiting connections closed first near it.

Served in this process by a tiny WSGI app, with a half-second request limit checked every
tenth of a second, to stay quick; the kiosk itself beside 500 slow connections is
tests/test_slow_clients.py."""

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import waitress
import waitress.adjustments
from waitress import wasyncore

from kiosk import create_app, serving
from kiosk.config import ConfigError

READ_SECONDS = 0.5


@pytest.fixture(autouse=True)
def frequent_checks(monkeypatch):
    monkeypatch.setattr(serving, "SWEEP_SECONDS", 0.1)


def tiny_app(environ, start_response):
    """Answers `?N` with N bytes (2 unless asked)."""
    body = b"x" * int(environ.get("QUERY_STRING") or 2)
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


@contextlib.contextmanager
def served(**adjustments) -> Iterator[serving.GuardedServer]:
    settings = {"connection_limit": 100, "threads": 2} | adjustments
    server = serving.create_server(
        tiny_app, read_seconds=READ_SECONDS, host="127.0.0.1", port=0, **settings
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.close()
        thread.join(timeout=10)
        assert not thread.is_alive()


def connect(server: serving.GuardedServer, opening: bytes = b"", **options) -> socket.socket:
    sock = socket.socket()
    for option, value in options.items():
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, option), value)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", server.effective_port))
    sock.sendall(opening)
    return sock


def trickle_until_closed(sock: socket.socket, line: bytes) -> tuple[float, bytes]:
    """Send `line` every 0.2 s until the server closes: how long that took, what it said."""
    started = time.monotonic()
    sock.settimeout(0.2)
    answer = b""
    while time.monotonic() - started < 10:
        try:
            data = sock.recv(1024)
        except TimeoutError:
            with contextlib.suppress(OSError):
                sock.sendall(line)
            continue
        if not data:
            break
        answer += data
    return time.monotonic() - started, answer


def answer(sock: socket.socket, body: bytes) -> bytes:
    """Read one answer, up to the `body` it should end with."""
    received = b""
    while not received.endswith(b"\r\n\r\n" + body):
        data = sock.recv(1024)
        if not data:
            break
        received += data
    return received


def is_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1024) is None  # never: a closed one reads b"" or the 408
    except BlockingIOError:
        return True
    except OSError:
        return False


def test_a_request_trickled_past_the_time_limit_is_answered_408_and_closed():
    with served() as server, connect(server, b"GET / HTTP/1.1\r\nHost: kiosk\r\n") as sock:
        seconds, said = trickle_until_closed(sock, b"X-Slow: 1\r\n")
    assert said.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert READ_SECONDS <= seconds < READ_SECONDS + 1.5


def test_a_body_trickled_past_the_time_limit_is_closed_too():
    with served() as server:
        opening = b"POST / HTTP/1.1\r\nHost: kiosk\r\nContent-Length: 500\r\n\r\n"
        with connect(server, opening) as sock:
            seconds, said = trickle_until_closed(sock, b"a")
    assert said.startswith(b"HTTP/1.1 408")
    assert READ_SECONDS <= seconds < READ_SECONDS + 1.5


def test_a_request_that_arrives_in_time_is_answered_and_its_idle_connection_kept():
    first = b"GET /?5 HTTP/1.1\r\nHost: kiosk\r\n\r\n"
    with served() as server, connect(server, first) as sock:
        assert answer(sock, b"xxxxx").startswith(b"HTTP/1.1 200 OK")
        time.sleep(READ_SECONDS + 0.5)  # idle between requests: waitress's channel_timeout
        sock.sendall(b"GET /?3 HTTP/1.1\r\nHost: kiosk\r\n\r\n")
        assert answer(sock, b"xxx").startswith(b"HTTP/1.1 200 OK")


def test_an_answer_the_client_never_takes_is_dropped(monkeypatch):
    # Small socket buffers on both sides, so most of the answer waits in waitress's buffer.
    small = [(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)]
    monkeypatch.setattr(waitress.adjustments.Adjustments, "socket_options", small)
    with served() as server:
        opening = b"GET /?4000000 HTTP/1.1\r\nHost: kiosk\r\n\r\n"
        with connect(server, opening, SO_RCVBUF=1024):
            started = time.monotonic()
            waiting = []
            while not waiting and time.monotonic() - started < 5:
                waiting = [each for each in server.channels() if each.total_outbufs_len]
                time.sleep(0.01)
            assert waiting, "the answer is waiting in waitress's buffer"
            answered = time.monotonic()
            while server.channels() and time.monotonic() - started < 10:
                time.sleep(0.02)
            dropped_after = time.monotonic() - answered
    assert READ_SECONDS - 0.1 <= dropped_after < READ_SECONDS + 1.5


def test_near_the_limit_the_connections_waiting_longest_are_closed_first():
    with served(connection_limit=40) as server:
        slow = []
        for _ in range(60):
            slow.append(connect(server, b"GET / HTTP/1.1\r\nHost: kiosk\r\n"))
            time.sleep(0.005)
        started = time.monotonic()
        visitor = connect(server, b"GET /?7 HTTP/1.1\r\nHost: kiosk\r\n\r\n")
        answered = answer(visitor, b"xxxxxxx")
        answered_in = time.monotonic() - started
        time.sleep(0.2)
        still_open = [is_open(sock) for sock in slow]
        held = len(server.connections)
        for sock in [*slow, visitor]:
            sock.close()
    assert answered.startswith(b"HTTP/1.1 200 OK") and answered_in < 1
    assert held <= 40
    closed = still_open.index(True)
    assert closed >= 20 and all(still_open[closed:]), still_open  # the oldest, and only they


def test_a_large_upload_gets_time_for_its_declared_size_up_to_the_largest_the_kiosk_takes():
    channel = serving.KioskChannel.__new__(serving.KioskChannel)  # its clock, no socket
    channel.requests = []
    channel.total_outbufs_len = 0
    channel.request_started = 100.0
    two_seconds_of_upload = 2 * serving.SLOW_UPLOAD_BYTES_PER_SECOND
    channel.request = SimpleNamespace(headers_finished=True, content_length=two_seconds_of_upload)
    assert not channel.overdue(100.0 + 10 + 1.9, read_seconds=10)
    assert channel.overdue(100.0 + 10 + 2.1, read_seconds=10)

    channel.request.content_length = 10**12  # the kiosk refuses more than its import's limit
    largest = serving.IMPORT_MAX_BYTES / serving.SLOW_UPLOAD_BYTES_PER_SECOND
    assert channel.overdue(100.0 + 10 + largest + 0.1, read_seconds=10)

    channel.request.headers_finished = False  # headers still arriving: no body time yet
    assert channel.overdue(100.0 + 10.1, read_seconds=10)
    channel.requests = [channel.request]  # a thread is answering it: never dropped
    assert not channel.overdue(100.0 + 1000, read_seconds=10)


class FakeLimits:
    """resource's open-file limit, with a hard limit and whether raising is allowed."""

    RLIMIT_NOFILE = 7
    RLIM_INFINITY = -1

    def __init__(self, soft: int, hard: int, may_raise: bool = True) -> None:
        self.limits = (soft, hard)
        self.may_raise = may_raise

    def getrlimit(self, which: int) -> tuple[int, int]:
        return self.limits

    def setrlimit(self, which: int, limits: tuple[int, int]) -> None:
        if not self.may_raise:
            raise ValueError("not allowed")
        self.limits = limits


@pytest.mark.parametrize(
    ("soft", "hard", "may_raise", "limit", "soft_after"),
    [
        (1024, 524288, True, 1000, 1000 + serving.OTHER_FILES),  # systemd's: raised
        (1024, 800, True, 800 - serving.OTHER_FILES, 800),  # as far as the hard limit
        (1024, 524288, False, 1024 - serving.OTHER_FILES, 1024),  # refused: fit within
        (20000, 20000, True, 1000, 20000),  # enough already: left alone
    ],
)
def test_the_connection_limit_fits_the_open_file_limit_raised_as_far_as_it_may_be(
    monkeypatch, soft, hard, may_raise, limit, soft_after
):
    limits = FakeLimits(soft, hard, may_raise)
    monkeypatch.setattr(serving, "resource", limits)
    assert serving.fit_file_limit(1000) == limit
    assert limits.limits[0] == soft_after


def test_kiosk_serve_hands_waitress_the_limits_and_poll(runner, monkeypatch):
    served_with = []
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: served_with.append(kw))
    runner.app.config.update(KIOSK_CONNECTION_LIMIT=300, KIOSK_REQUEST_READ_SECONDS=7)
    assert runner.invoke(args=["serve", "--port", "8124"]).exit_code == 0
    [settings] = served_with
    assert settings["connection_limit"] == 300
    server = settings["_server"](tiny_app, host="127.0.0.1", port=0, **settings_without(settings))
    try:
        assert server.read_seconds == 7 and server.limit == 300
        assert server.adj.asyncore_use_poll is True  # select() fails past descriptor 1023
    finally:
        server.dispatcher.shutdown()
        wasyncore.close_all(server.connections)


def settings_without(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k not in ("_server", "host", "port")}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("KIOSK_CONNECTION_LIMIT", "2000", 2000),
        ("KIOSK_REQUEST_READ_SECONDS", "30", 30),
        ("KIOSK_CONNECTION_LIMIT", "5", None),
        ("KIOSK_REQUEST_READ_SECONDS", "0", None),
        ("KIOSK_REQUEST_READ_SECONDS", "ten", None),
    ],
)
def test_the_environment_sets_the_serving_limits_or_names_what_is_wrong(
    monkeypatch, tmp_path, name, value, expected
):
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path))
    monkeypatch.setenv(name, value)
    if expected is None:
        with pytest.raises(ConfigError, match=f"{name}: Enter a whole number"):
            create_app({"TESTING": True, "SECRET_KEY": "x"})
    else:
        assert create_app({"TESTING": True, "SECRET_KEY": "x"}).config[name] == expected


def test_the_serving_limits_default_to_10_s_and_1000_connections(app):
    assert app.config["KIOSK_REQUEST_READ_SECONDS"] == 10
    assert app.config["KIOSK_CONNECTION_LIMIT"] == 1000
