"""A hub behind a reverse proxy: who the visitor is, from the proxies the kiosk trusts.

Behind Caddy or nginx every request comes from the proxy's address, so the lead's login
limits would count every browser as one. KIOSK_TRUSTED_PROXIES lists the proxies'
addresses (comma-separated: 127.0.0.1 when the proxy runs on the same machine). Only a
request that arrives from one of them has its X-Forwarded-For read: the address is the
right-most one there that is not a trusted proxy (what the last trusted proxy saw; anything
to its left a client could have written). X-Forwarded-Proto from a trusted proxy sets the
scheme. From any other address both headers are ignored. Cookies are Secure by the
configuration (KIOSK_PUBLIC_URL), not by these headers.
"""

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from kiosk.config import ConfigError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_FORWARDED",
)


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def trusted_proxies(setting: str) -> frozenset[Address]:
    """The addresses of KIOSK_TRUSTED_PROXIES; ConfigError naming one that is not one."""
    found = set()
    for part in (p.strip() for p in setting.split(",")):
        if not part:
            continue
        address = _address(part)
        if address is None:
            raise ConfigError(f"KIOSK_TRUSTED_PROXIES: {part!r} is not an IP address")
        found.add(address)
    return frozenset(found)


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR and the scheme as the trusted proxies forwarded them."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], trusted: frozenset[Address]):
        self.wsgi_app = wsgi_app
        self.trusted = trusted

    def visitor(self, forwarded_for: str) -> Address | None:
        for hop in reversed(forwarded_for.split(",")):
            address = _address(hop)
            if address is None:
                return None  # not an address: believe nothing further left
            if address not in self.trusted:
                return address
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        peer = _address(environ.get("REMOTE_ADDR", ""))
        if peer is not None and peer in self.trusted:
            visitor = self.visitor(environ.get("HTTP_X_FORWARDED_FOR", ""))
            if visitor is not None:
                environ["REMOTE_ADDR"] = str(visitor)
            scheme = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if scheme in ("http", "https"):
                environ["wsgi.url_scheme"] = scheme
        else:
            for header in FORWARDED_HEADERS:  # from anyone else: as if never sent
                environ.pop(header, None)
        return self.wsgi_app(environ, start_response)


def reads_forwarded_headers(app: Flask) -> bool:
    """Whether the app reads X-Forwarded-* itself: then waitress must pass them on (it
    drops them by default, trusting no proxy of its own)."""
    return isinstance(app.wsgi_app, TrustedProxies)


def init_app(app: Flask) -> None:
    trusted = trusted_proxies(str(app.config.get("KIOSK_TRUSTED_PROXIES") or ""))
    if trusted:
        app.wsgi_app = TrustedProxies(app.wsgi_app, trusted)  # type: ignore[method-assign]  # Flask's documented way to add WSGI middleware
