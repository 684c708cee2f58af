"""Known devices: a random token per browser the lead logged in from, stored hashed, listed in
Settings, revocable one by one, all revoked by a passphrase change, renewed at each login and
expiring by counts (renewals, logins gone by without it), never by the wall clock alone.

Before this, the "known device" cookie was one signed constant: every browser had the same
value, it was never revoked and survived a passphrase change, so a copy of it exempted any
browser from the account lockout (60 guesses from 60 addresses all checked)."""

import hashlib
import re

import pytest
from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import KnownDevice
from kiosk.services import lead_auth
from tests.lead_helpers import PASSPHRASE, log_in, set_passphrase

DEVICE = "kiosk_lead_device"


def device_cookie(client) -> str | None:
    cookie = client.get_cookie(DEVICE, path="/lead")
    return cookie.value if cookie else None


def lock_the_account(app) -> None:
    for n in range(lead_auth.ACCOUNT_LOCKOUT_AFTER):
        app.test_client().post(
            "/lead/login", data={"passphrase": "x"}, environ_base={"REMOTE_ADDR": f"10.0.1.{n}"}
        )


def log_in_from(client, address: str = "10.0.3.1"):
    return client.post(
        "/lead/login", data={"passphrase": PASSPHRASE}, environ_base={"REMOTE_ADDR": address}
    )


@pytest.fixture(autouse=True)
def small_limits(monkeypatch):
    """The same rules with smaller numbers: every login is an argon2 check (slow on purpose)."""
    monkeypatch.setattr(lead_auth, "ACCOUNT_LOCKOUT_AFTER", 4)
    monkeypatch.setattr(lead_auth, "DEVICE_IDLE_LOGINS", 3)


@pytest.fixture
def lead(app):
    set_passphrase(app)
    browser = app.test_client()
    assert log_in(browser).status_code == 303
    return browser


def test_each_browser_gets_its_own_random_token_stored_only_hashed(app, lead):
    other = app.test_client()
    assert log_in(other).status_code == 303
    tokens = {device_cookie(lead), device_cookie(other)}
    assert len(tokens) == 2 and None not in tokens
    with app.app_context():
        hashes = set(db.session.scalars(select(KnownDevice.token_hash)))
    assert hashes == {hashlib.sha256(t.encode()).hexdigest() for t in tokens}


def test_a_forged_or_copied_old_device_cookie_does_not_pass_the_lockout(app, lead):
    old = device_cookie(lead)
    assert log_in(lead).status_code == 303  # the token is renewed at each login
    assert device_cookie(lead) != old
    lock_the_account(app)
    copier = app.test_client()
    copier.set_cookie(DEVICE, old, path="/lead")
    assert log_in_from(copier).status_code == 429
    forger = app.test_client()
    forger.set_cookie(DEVICE, "anything", path="/lead")
    assert log_in_from(forger).status_code == 429
    assert log_in_from(lead, "10.0.3.2").status_code == 303


def test_settings_lists_the_browsers_and_revokes_one(app, lead):
    other = app.test_client()
    assert log_in(other, PASSPHRASE).status_code == 303
    page = lead.get("/lead/settings").get_data(as_text=True)
    assert "Browsers you logged in from" in page and "this browser" in page
    ids = re.findall(r"/lead/devices/(\d+)/revoke", page)
    assert len(ids) == 2
    with app.app_context():
        other_id = lead_auth.device_id(device_cookie(other))
    assert lead.post(f"/lead/devices/{other_id}/revoke").status_code == 303
    lock_the_account(app)
    assert log_in_from(other).status_code == 429, "a revoked browser is locked out with the rest"
    assert log_in_from(lead, "10.0.3.2").status_code == 303


def test_a_passphrase_change_revokes_every_known_device(app, lead):
    set_passphrase(app, "a completely new passphrase")
    lock_the_account(app)
    answer = lead.post(
        "/lead/login",
        data={"passphrase": "a completely new passphrase"},
        environ_base={"REMOTE_ADDR": "10.0.3.1"},
    )
    assert answer.status_code == 429
    with app.app_context():
        assert lead_auth.known_devices() == []


def test_a_device_expires_after_its_renewals_are_used_up(app, lead):
    with app.app_context():
        device = db.session.scalar(select(KnownDevice))
        device.renewals = lead_auth.DEVICE_MAX_RENEWALS
        db.session.commit()
    lock_the_account(app)
    assert log_in_from(lead).status_code == 429


def test_a_device_left_out_of_many_logins_expires_whatever_the_clock_says(app, lead, monkeypatch):
    others = [app.test_client() for _ in range(lead_auth.DEVICE_IDLE_LOGINS)]
    for other in others:
        assert log_in(other).status_code == 303
    # The clock going back (or standing still) changes nothing: only logins are counted.
    monkeypatch.setattr(lead_auth, "now", lambda: lead_auth.clock.now().replace(year=2020))
    with app.app_context():
        assert not lead_auth.is_known_device(device_cookie(lead))
        assert lead_auth.is_known_device(device_cookie(others[-1]))
