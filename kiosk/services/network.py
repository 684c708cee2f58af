"""Where tablets find the kiosk: this machine's addresses on the table's network, and a QR
code of the address for the terminal."""

import contextlib
import io
import ipaddress
import socket
import struct
from urllib.parse import urlsplit

import qrcode
from flask import current_app, request

# Hosts that listen on every interface, so tablets on the Wi-Fi can connect.
ALL_INTERFACES = ("0.0.0.0", "::", "")  # noqa: S104  # nosec B104 # compared against, not bound
LOOPBACK_NAMES = ("localhost",)

# Addresses in each private range that no network uses for a host. A UDP socket "connected"
# to one learns which of this machine's addresses the route to it leaves from, without
# sending a packet: the address a tablet on the same Wi-Fi or hotspot reaches.
ROUTE_PROBES = ("10.254.254.254", "172.31.255.254", "192.168.255.254")
# Interfaces no tablet can reach: containers' and virtual machines' bridges.
VIRTUAL_INTERFACES = ("lo", "docker", "veth", "br-", "virbr", "vmnet", "cni", "flannel")
SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses a tablet could reach, the one the network routes from
    first; [] when the machine is on no network."""
    found = [_route_address(probe) for probe in ROUTE_PROBES]
    found += _interface_addresses()
    found += _hostname_addresses()
    addresses: list[str] = []
    for address in found:
        if address and _reachable(address) and address not in addresses:
            addresses.append(address)
    return addresses


def _reachable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def _route_address(probe: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect((probe, 9))  # connect() on UDP sends nothing
            return str(udp.getsockname()[0])
        except OSError:
            return None  # no route: no network at all


def _interface_addresses() -> list[str]:
    """The IPv4 address of each real interface (Linux); [] where the call is not known."""
    try:
        import fcntl  # not on Windows

        names = [name for _index, name in socket.if_nameindex()]
    except (ImportError, OSError):
        return []
    addresses = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for name in names:
            if name.startswith(VIRTUAL_INTERFACES):
                continue
            request = struct.pack("256s", name.encode()[:15])
            with contextlib.suppress(OSError):
                answer = fcntl.ioctl(udp.fileno(), SIOCGIFADDR, request)
                addresses.append(socket.inet_ntoa(answer[20:24]))
    return addresses


def _hostname_addresses() -> list[str]:
    try:
        return socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        return []


def tablet_urls(host: str, port: int) -> list[str]:
    """The addresses to open on a tablet when the kiosk listens on `host`; [] when it
    listens on this machine alone (127.0.0.1)."""
    at = "" if port == 80 else f":{port}"
    if host in ALL_INTERFACES:
        return [f"http://{address}{at}/" for address in lan_addresses()]
    if host in LOOPBACK_NAMES:
        return []
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return [f"http://{host}{at}/"]  # a name the network resolves
    if ip.is_loopback:
        return []
    return [f"http://{host if ip.version == 4 else f'[{ip}]'}{at}/"]


def terminal_qr(url: str) -> str:
    """A QR code of `url` in text, light on the dark background of most terminals."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(url)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def kiosk_url(path: str = "/") -> str | None:
    """The kiosk's address (plus `path`) as a tablet or phone on the table's network opens
    it; None when the kiosk listens on this machine alone or the machine has no network.

    The request's own host is used only when it is one of this machine's addresses, so a
    forged Host header never ends up in a QR code.
    """
    asked = urlsplit(request.host_url)
    listens_on = current_app.config.get("KIOSK_SERVE_HOST", ALL_INTERFACES[0])
    port = current_app.config.get("KIOSK_SERVE_PORT") or asked.port or 80
    if asked.hostname and asked.hostname in lan_addresses():
        base = f"{asked.scheme}://{asked.netloc}/"
    else:
        urls = tablet_urls(listens_on, port)
        if not urls:
            return None
        base = urls[0]
    return base.rstrip("/") + "/" + path.lstrip("/")
