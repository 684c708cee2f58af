"""Browser fixtures: the kiosk served by waitress on loopback, driven in Debian's Chromium.

Playwright never downloads a browser here: it launches /usr/bin/chromium. Without it the
tests skip locally, and in CI (CI=true) the run fails (see tests/conftest.py).
"""

import contextlib
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from waitress.server import create_server

CHROMIUM = os.environ.get("KIOSK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class LiveServer:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.server = create_server(app, host="127.0.0.1", port=0, threads=4)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.closing = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        try:
            self.server.run()
        except (OSError, ValueError):
            # Closing the server from the test's thread races the loop's select() on the
            # same sockets (EBADF, or a closed fd's -1): only an error while serving counts.
            if not self.closing:
                raise

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing = True
        self.server.close()
        self.thread.join(timeout=5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


class FlakyLink:
    """The network between a tablet and the kiosk, as a TCP hop that can fail like Wi-Fi.

    `down()`: nothing listens (connection refused) and open connections drop; `hang()`: a
    connection is taken and never answered (a timeout); `lose_answers()`: requests reach the
    kiosk but its answers never come back; `up()`: all is well again, on the same port.
    """

    def __init__(self, upstream: LiveServer) -> None:
        self.upstream = ("127.0.0.1", upstream.server.effective_port)
        self.mode = "up"
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.listener: socket.socket | None = None
        self._listen(0)
        assert self.listener is not None
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def _listen(self, port: int) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                self.sockets.add(client)
                mode = self.mode
            if mode == "down":
                self._close(client)
                continue
            if mode == "hang":
                continue  # held open, never read, never answered
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                self._close(client)
                continue
            with self.lock:
                self.sockets.add(server)
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        try:
            while data := source.recv(65536):
                if answers and self.mode == "lose_answers":
                    break  # the kiosk answered; the answer is lost on the way
                sink.sendall(data)
        except OSError:
            pass
        self._close(source)
        self._close(sink)

    def _close(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def _drop_connections(self) -> None:
        with self.lock:
            open_sockets = list(self.sockets)
        for sock in open_sockets:
            self._close(sock)

    def down(self) -> None:
        self.mode = "down"
        if self.listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the
            # kernel's socket listening until that accept() returned.
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        self._drop_connections()

    def hang(self) -> None:
        self._switch("hang")

    def lose_answers(self) -> None:
        self._switch("lose_answers")

    def up(self) -> None:
        self._switch("up")

    def _switch(self, mode: str) -> None:
        self.mode = mode
        self._drop_connections()
        if self.listener is None:
            self._listen(self.port)


@pytest.fixture
def link(live_server: LiveServer) -> Iterator[FlakyLink]:
    """The tablet's way to the kiosk; open pages at `link.url`."""
    flaky = FlakyLink(live_server)
    yield flaky
    flaky.down()


def _chromium_path() -> str:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright() -> Iterator[object]:
    _chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright) -> Iterator[object]:
    browser = playwright.chromium.launch(
        executable_path=_chromium_path(), args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def tablet_browser(playwright) -> Iterator[object]:
    """Chromium as on a real tablet: with its back-forward cache, which Playwright turns off."""
    browser = playwright.chromium.launch(
        executable_path=_chromium_path(),
        args=CHROMIUM_ARGS,
        headless=True,
        ignore_default_args=["--disable-back-forward-cache"],
    )
    yield browser
    browser.close()


def _watched_page(context):
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors  # type: ignore[attr-defined]
    return page


@pytest.fixture
def tablet(tablet_browser):
    """A page in the tablet browser (back-forward cache on), portrait like a pinned tablet."""
    context = tablet_browser.new_context(
        viewport={"width": 800, "height": 1280}, service_workers="block"
    )
    yield _watched_page(context)
    context.close()


@pytest.fixture(params=[(1280, 800)], ids=["landscape"])
def page(browser, request: pytest.FixtureRequest):
    width, height = request.param
    context = browser.new_context(
        viewport={"width": width, "height": height}, service_workers="block"
    )
    yield _watched_page(context)
    context.close()
