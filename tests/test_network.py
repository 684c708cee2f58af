"""Where tablets find the kiosk: `kiosk serve` prints this machine's address on the table's
network on every host, with a QR code of it that a tablet can scan off the terminal."""

import socket

import pytest
import zxingcpp
from PIL import Image

from kiosk.extensions import db
from kiosk.services import network

TABLE_ADDRESS = "192.168.43.7"


def decode_terminal_qr(text: str) -> list[str]:
    """Draw a terminal QR code as a light-on-dark terminal shows it, and read it."""
    lines = [line.removeprefix("    ") for line in text.splitlines() if line.strip()]
    width = max(len(line) for line in lines)
    image = Image.new("L", (width, 2 * len(lines)), 0)
    halves = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1)}  # (top, bottom) drawn in the text colour
    for y, line in enumerate(lines):
        for x, char in enumerate(line):
            top, bottom = halves.get(char, (0, 0))
            image.putpixel((x, 2 * y), 255 * top)
            image.putpixel((x, 2 * y + 1), 255 * bottom)
    framed = Image.new("L", (width + 8, 2 * len(lines) + 8), 255)
    framed.paste(image, (4, 4))
    big = framed.resize((framed.width * 8, framed.height * 8), Image.NEAREST)
    return [result.text for result in zxingcpp.read_barcodes(big)]


@pytest.fixture
def host_resolving_to_loopback(monkeypatch):
    """The host where the old "On a tablet" line never printed: its name is 127.0.0.1 only
    (Debian's /etc/hosts), and the LAN address must come from the network itself."""
    monkeypatch.setattr(socket, "gethostbyname_ex", lambda name: (name, [], ["127.0.1.1"]))
    monkeypatch.setattr(network, "_interface_addresses", lambda: [])
    monkeypatch.setattr(
        network, "_route_address", lambda probe: TABLE_ADDRESS if probe.startswith("10.") else None
    )


def serve_output(runner, monkeypatch, *args: str) -> str:
    served = []
    monkeypatch.setattr("waitress.serve", lambda app, **kw: served.append(kw))
    result = runner.invoke(args=["serve", "--port", "8119", *args])
    assert result.exit_code == 0, result.output
    assert served
    return result.output


def test_kiosk_serve_prints_the_tablet_address_and_its_qr_code_on_every_host(
    runner, monkeypatch, host_resolving_to_loopback
):
    output = serve_output(runner, monkeypatch, "--host", "0.0.0.0")
    assert f"On a tablet, open       http://{TABLE_ADDRESS}:8119/" in output
    qr = output.split("or scan:\n", 1)[1].split("  Volunteer", 1)[0]
    assert decode_terminal_qr(qr) == [f"http://{TABLE_ADDRESS}:8119/"]


def test_kiosk_serve_on_loopback_says_how_to_let_tablets_in(runner, monkeypatch):
    output = serve_output(runner, monkeypatch, "--host", "127.0.0.1")
    assert "HOST=0.0.0.0" in output and "On a tablet" not in output


def test_kiosk_serve_says_so_when_the_machine_is_on_no_network(runner, monkeypatch):
    monkeypatch.setattr(network, "lan_addresses", lambda: [])
    output = serve_output(runner, monkeypatch, "--host", "0.0.0.0")
    assert "No network found" in output


def test_kiosk_serve_says_which_instance_and_database_it_serves(app, runner, monkeypatch):
    output = serve_output(runner, monkeypatch)
    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=True)
    assert f"Instance {app.instance_path}, database {url}" in output


def test_lan_addresses_leave_out_loopback_and_link_local(monkeypatch):
    monkeypatch.setattr(network, "_route_address", lambda probe: None)
    monkeypatch.setattr(
        network, "_interface_addresses", lambda: ["127.0.0.1", "169.254.3.4", "10.0.0.5"]
    )
    monkeypatch.setattr(network, "_hostname_addresses", lambda: ["10.0.0.5", "192.168.1.9"])
    assert network.lan_addresses() == ["10.0.0.5", "192.168.1.9"]


def test_the_route_to_a_private_address_names_this_machine_without_sending_anything():
    # Either an address of this machine, or None on a machine with no network at all.
    found = network._route_address("10.254.254.254")
    assert found is None or found in network.lan_addresses() or found.startswith("127.")


def test_a_tablet_url_is_never_a_loopback_one():
    assert network.tablet_urls("127.0.0.1", 8000) == []
    assert network.tablet_urls("localhost", 8000) == []
    assert network.tablet_urls("192.168.1.5", 8000) == ["http://192.168.1.5:8000/"]


def test_the_qr_code_of_the_terminal_reads_back():
    assert decode_terminal_qr(network.terminal_qr("http://10.1.2.3:8000/")) == [
        "http://10.1.2.3:8000/"
    ]
