"""Helpers for the team lead's tests: a passphrase, a logged-in client, a movable clock."""

from datetime import UTC, datetime, timedelta

from kiosk.services import lead_auth

PASSPHRASE = "correct horse battery staple"


class Clock:
    """Stands in for lead_auth.now so tests can move time forward."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


def set_passphrase(app, passphrase: str = PASSPHRASE) -> None:
    """Set the passphrase, re-wrapping the team key with the test's own copy of it."""
    from kiosk.services import sealing
    from tests.conftest import TEST_KEYS

    with app.app_context():
        key = TEST_KEYS.get(bytes(sealing.own_public_key()))
        lead_auth.set_passphrase(passphrase, key=key)


def log_in(client, passphrase: str = PASSPHRASE):
    return client.post("/lead/login", data={"passphrase": passphrase})


def session_cookie(client) -> str | None:
    cookie = client.get_cookie("kiosk_lead", path="/lead")
    return cookie.value if cookie else None
