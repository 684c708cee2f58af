"""A hub behind a reverse proxy: the visitor's address comes from X-Forwarded-For only when
the request arrives from a proxy the kiosk was told to trust (KIOSK_TRUSTED_PROXIES), and
cookies are Secure when the configured public address is https:// (KIOSK_PUBLIC_URL)."""

import pytest
from flask import request

from kiosk import create_app
from kiosk.config import ConfigError


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))

    def make(**config: object):
        app = create_app(
            {"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'k.db'}"} | config
        )

        @app.get("/whoami")
        def whoami():
            return f"{request.remote_addr} {request.scheme}"

        return app

    return make


def who(app, peer: str, **headers: str) -> str:
    response = app.test_client().get("/whoami", headers=headers, environ_base={"REMOTE_ADDR": peer})
    return response.get_data(as_text=True)


def test_without_trusted_proxies_forwarded_headers_are_ignored(make_app):
    app = make_app()
    assert who(app, "192.0.2.7", **{"X-Forwarded-For": "10.0.0.9"}) == "192.0.2.7 http"


def test_a_trusted_proxy_names_the_visitor_and_the_scheme(make_app):
    app = make_app(KIOSK_TRUSTED_PROXIES="127.0.0.1, ::1")
    forwarded = {"X-Forwarded-For": "10.0.0.9", "X-Forwarded-Proto": "https"}
    assert who(app, "127.0.0.1", **forwarded) == "10.0.0.9 https"


def test_an_address_a_client_wrote_before_the_proxy_is_not_believed(make_app):
    app = make_app(KIOSK_TRUSTED_PROXIES="127.0.0.1")
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended what it saw.
    assert who(app, "127.0.0.1", **{"X-Forwarded-For": "1.2.3.4, 10.0.0.9"}).startswith("10.0.0.9 ")


def test_forwarded_headers_from_anyone_else_are_ignored(make_app):
    app = make_app(KIOSK_TRUSTED_PROXIES="127.0.0.1")
    forwarded = {"X-Forwarded-For": "10.0.0.9", "X-Forwarded-Proto": "https"}
    assert who(app, "192.0.2.7", **forwarded) == "192.0.2.7 http"


def test_a_trusted_proxy_that_is_not_an_address_is_refused_by_name(make_app):
    with pytest.raises(ConfigError, match="KIOSK_TRUSTED_PROXIES"):
        make_app(KIOSK_TRUSTED_PROXIES="proxy.local")


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [("", False), ("http://kiosk.local", False), ("https://hub.example.org", True)],
)
def test_cookies_are_secure_when_the_configured_address_is_https(make_app, public_url, secure):
    app = make_app(KIOSK_PUBLIC_URL=public_url, WTF_CSRF_ENABLED=False)
    response = app.test_client().get("/signup")
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies
    assert all(("; Secure" in cookie) is secure for cookie in cookies), cookies


def test_secure_cookies_are_not_guessed_from_a_header(make_app):
    app = make_app()
    response = app.test_client().get("/signup", headers={"X-Forwarded-Proto": "https"})
    assert not any("; Secure" in c for c in response.headers.getlist("Set-Cookie"))
