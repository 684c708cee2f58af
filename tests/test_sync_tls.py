"""A table reaches its hub over TLS: a certificate verified, or the one pinned by the join
code's fingerprint; a wrong certificate is refused before the table's token is sent."""

import hashlib
import http.server
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.services import hub, sync


class Hub(http.server.BaseHTTPRequestHandler):
    """A stand-in hub that answers /hub/hello and notes every token it was sent."""

    tokens: list[str] = []

    def do_POST(self) -> None:  # noqa: N802  # http.server's name
        Hub.tokens.append(self.headers.get("Authorization", ""))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"table": "T", "events": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path, str]:
    """A self-signed certificate for 127.0.0.1: its files and SHA-256 fingerprint."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "hub.pem", folder / "hub.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return cert, key, hashlib.sha256(der).hexdigest()


@pytest.fixture
def https_hub(certificate) -> Iterator[str]:
    cert, key, _fingerprint = certificate
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hub.tokens.clear()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def code(address: str, fingerprint: str = "") -> hub.JoinCode:
    return hub.JoinCode(
        address, ("00000000-0000-4000-8000-000000000000",), "s" * 43, "T", fingerprint
    )


def test_the_pinned_certificate_is_trusted(https_hub, certificate):
    answer = sync.Client(code(https_hub, certificate[2])).post("/hub/hello", b"{}")
    assert answer["table"] == "T"
    assert Hub.tokens == ["Bearer " + "s" * 43]


def test_another_certificate_than_the_pinned_one_is_refused_before_the_token_is_sent(https_hub):
    with pytest.raises(sync.HubUnreachable, match="fingerprint"):
        sync.Client(code(https_hub, "0" * 64)).post("/hub/hello", b"{}")
    assert Hub.tokens == []


def test_a_certificate_no_authority_signed_is_refused_without_a_pin(https_hub):
    with pytest.raises(sync.HubUnreachable, match="certificate could not be verified"):
        sync.Client(code(https_hub)).post("/hub/hello", b"{}")
    assert Hub.tokens == []


def test_plain_http_to_another_machine_is_refused():
    with pytest.raises(hub.HubRefused, match="https"):
        sync.Client(code("http://192.0.2.1:8000"))
