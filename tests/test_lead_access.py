"""The team lead's door: passphrase, setup link, sessions, throttling, and every page behind it."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, text

import kiosk.clock
from kiosk import lead
from kiosk.extensions import db
from kiosk.models import AuditEntry, LeadSession, Setting
from kiosk.parsing import IdConverter
from kiosk.services import lead_auth
from kiosk.services.hashing import hash_secret
from kiosk.services.settings import VOLUNTEER_PIN_HASH, get_setting, set_setting
from tests.helpers import HX, database_snapshot
from tests.lead_helpers import PASSPHRASE, Clock, log_in, session_cookie, set_passphrase


def _lead_routes() -> list[tuple[str, str, str]]:
    """Every (endpoint, method, url) of the lead blueprint, read from its url_map."""
    app = Flask(__name__)
    app.url_map.converters["id"] = IdConverter  # as create_app does
    app.register_blueprint(lead.bp)
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in lead.OPEN_ENDPOINTS or not rule.endpoint.startswith("lead."):
            continue
        url = rule.rule
        for name, converter in rule._converters.items():
            # The Records page's <kind> takes only its record kinds (any(...)).
            word = "signup" if name == "kind" else "x"
            value = "1" if isinstance(converter, IdConverter) else word
            url = re.sub(rf"<[^>]*{name}>", value, url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, url))
    return routes


LEAD_ROUTES = _lead_routes()


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(lead_auth, "now", clock)
    return clock


@pytest.fixture
def lead_client(app, client):
    set_passphrase(app)
    assert log_in(client).status_code == 303
    return client


def test_the_lead_blueprint_has_pages_to_protect():
    endpoints = {endpoint for endpoint, _, _ in LEAD_ROUTES}
    assert {"lead.index", "lead.events_list", "lead.settings", "lead.audit"} <= endpoints


@pytest.mark.parametrize(("endpoint", "method", "url"), LEAD_ROUTES, ids=lambda v: str(v))
def test_every_lead_page_redirects_to_the_login_without_a_session(
    app, client, endpoint, method, url
):
    response = client.open(url, method=method)
    assert response.status_code == 303, endpoint
    assert response.headers["Location"].endswith("/lead/login")
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("endpoint", "method", "url"), LEAD_ROUTES, ids=lambda v: str(v))
def test_every_lead_fragment_answers_401_to_htmx_without_a_session(
    app, client, endpoint, method, url
):
    response = client.open(url, method=method, headers=HX)
    assert response.status_code == 401, endpoint
    assert response.headers["HX-Redirect"].endswith("/lead/login")


def test_a_visitor_reaching_the_lead_area_first_cannot_set_the_passphrase(app, client):
    page = client.get("/lead/login")
    assert page.status_code == 503
    assert 'name="passphrase"' not in page.get_data(as_text=True)
    assert client.post("/lead/login", data={"passphrase": "anything at all"}).status_code == 503
    assert client.get("/lead/setup/guess").status_code == 404
    assert client.post("/lead/setup/guess", data={"passphrase": "x" * 12}).status_code == 404
    with app.app_context():
        assert not lead_auth.has_passphrase()


def test_the_setup_token_sets_the_passphrase_once(app, client):
    with app.app_context():
        token = lead_auth.new_setup_token()
    assert client.get(f"/lead/setup/{token}").status_code == 200
    form = {"passphrase": "our table in spring", "confirmation": "our table in spring"}
    response = client.post(f"/lead/setup/{token}", data=form)
    assert response.status_code == 303
    assert client.get("/lead/").status_code == 200  # logged in straight away
    other = app.test_client()
    assert other.get(f"/lead/setup/{token}").status_code == 404
    again = {"passphrase": "a prankster's words", "confirmation": "a prankster's words"}
    assert other.post(f"/lead/setup/{token}", data=again).status_code == 404
    with app.app_context():
        assert lead_auth.check_passphrase("our table in spring")
        assert get_setting(lead_auth.SETUP_TOKEN_HASH) is None


def test_setup_refuses_a_short_or_mismatched_passphrase(app, client):
    with app.app_context():
        token = lead_auth.new_setup_token()
    short = client.post(
        f"/lead/setup/{token}", data={"passphrase": "short", "confirmation": "short"}
    )
    assert short.status_code == 422
    assert "at least 10 characters" in short.get_data(as_text=True)
    mismatch = {"passphrase": "long enough words", "confirmation": "other long words"}
    refused = client.post(f"/lead/setup/{token}", data=mismatch)
    assert refused.status_code == 422
    assert "not the same" in refused.get_data(as_text=True)
    with app.app_context():
        assert not lead_auth.has_passphrase()
        assert lead_auth.setup_token_valid(token)


def test_serve_announces_the_setup_link_only_while_no_passphrase_is_set(app):
    with app.app_context():
        notes = app.extensions["kiosk_startup_notes"]
        line = "\n".join(note() for note in notes)
        token = re.search(r"/lead/setup/([\w-]+)", line).group(1)
        assert lead_auth.setup_token_valid(token)
        lead_auth.set_passphrase(PASSPHRASE)
        assert "/lead/setup/" not in "\n".join(note() for note in notes)
        assert not lead_auth.setup_token_valid(token)


@pytest.mark.both_engines
def test_the_passphrase_never_appears_in_the_database_in_clear(app, dialect, tmp_path):
    set_passphrase(app)
    with app.app_context():
        stored = get_setting(lead_auth.PASSPHRASE_HASH)
        assert stored.startswith("$argon2id$")
        if dialect == "sqlite":  # the file itself, free pages included
            db.session.execute(text("PRAGMA wal_checkpoint(FULL)"))
            db.session.commit()
    if dialect == "sqlite":
        raw = (tmp_path / "kiosk.db").read_bytes()
    else:
        raw = repr(database_snapshot(app)).encode()
    assert PASSPHRASE.encode() not in raw
    assert b"$argon2id$" in raw


def test_the_passphrase_cli_sets_it_from_stdin_and_ends_every_session(app, client, runner):
    set_passphrase(app)
    log_in(client)
    wrong = runner.invoke(args=["passphrase", "--stdin"], input="a brand new passphrase\nguess\n")
    assert wrong.exit_code != 0 and "opens nothing" in wrong.output
    assert log_in(client, PASSPHRASE).status_code == 303  # nothing changed
    # The second line opens the team key, to wrap it anew with the new passphrase.
    result = runner.invoke(
        args=["passphrase", "--stdin"], input=f"a brand new passphrase\n{PASSPHRASE}\n"
    )
    assert result.exit_code == 0, result.output
    assert client.get("/lead/").status_code == 303
    assert log_in(client, PASSPHRASE).status_code == 422
    assert log_in(client, "a brand new passphrase").status_code == 303


def test_the_passphrase_cli_asks_twice_and_refuses_a_short_one(app, runner):
    result = runner.invoke(args=["passphrase"], input="spring table talk\nspring table talk\n")
    assert result.exit_code == 0, result.output
    refused = runner.invoke(args=["passphrase", "--stdin"], input="short\n")
    assert refused.exit_code != 0
    assert "at least 10 characters" in refused.output
    with app.app_context():
        assert lead_auth.check_passphrase("spring table talk")


def test_a_login_rotates_the_session_and_the_old_cookie_is_refused(app, client):
    set_passphrase(app)
    log_in(client)
    first = session_cookie(client)
    log_in(client)
    second = session_cookie(client)
    assert first and second and first != second
    replay = app.test_client()
    replay.set_cookie("kiosk_lead", first, path="/lead")
    assert replay.get("/lead/").status_code == 303
    assert client.get("/lead/").status_code == 200


def test_the_session_cookie_is_httponly_and_samesite_and_secure_over_tls(app, client):
    set_passphrase(app)
    header = log_in(client).headers.getlist("Set-Cookie")
    lead_cookie = next(h for h in header if h.startswith("kiosk_lead="))
    assert "HttpOnly" in lead_cookie and "SameSite=Strict" in lead_cookie
    assert "Secure" not in lead_cookie
    over_tls = app.test_client().post(
        "/lead/login", data={"passphrase": PASSPHRASE}, base_url="https://localhost"
    )
    tls_cookie = next(
        h for h in over_tls.headers.getlist("Set-Cookie") if h.startswith("kiosk_lead=")
    )
    assert "Secure" in tls_cookie and "HttpOnly" in tls_cookie


def test_the_database_keeps_only_a_hash_of_the_session_token(app, client):
    set_passphrase(app)
    log_in(client)
    token = session_cookie(client)
    with app.app_context():
        hashes = list(db.session.scalars(select(LeadSession.token_hash)))
    assert token not in hashes
    assert len(hashes) == 1 and len(hashes[0]) == 64


def test_a_cookie_replayed_after_logout_is_refused(app, client):
    set_passphrase(app)
    log_in(client)
    token = session_cookie(client)
    assert client.post("/lead/logout").status_code == 303
    replay = app.test_client()
    replay.set_cookie("kiosk_lead", token, path="/lead")
    assert replay.get("/lead/").status_code == 303
    assert replay.get("/lead/", headers=HX).status_code == 401


def test_a_session_ends_after_the_idle_minutes(app, client, clock):
    set_passphrase(app)
    with app.app_context():
        set_setting(lead_auth.SESSION_IDLE_MINUTES, "10")
    log_in(client)
    clock.advance(minutes=9)
    assert client.get("/lead/").status_code == 200  # activity restarts the idle clock
    clock.advance(minutes=9)
    assert client.get("/lead/").status_code == 200
    clock.advance(minutes=10, seconds=1)
    assert client.get("/lead/").status_code == 303


def test_dashboard_polling_does_not_keep_an_idle_session_alive(app, client, clock):
    set_passphrase(app)
    log_in(client)
    for _ in range(5):
        clock.advance(minutes=5)
        assert client.get("/lead/", headers=HX).status_code == 200
    clock.advance(minutes=5)
    assert client.get("/lead/", headers=HX).status_code == 401


def test_a_session_ends_after_its_absolute_lifetime_even_when_busy(app, client, clock):
    set_passphrase(app)
    log_in(client)
    for _ in range(12 * 4 - 1):
        clock.advance(minutes=15)
        assert client.get("/lead/events").status_code == 200
    clock.advance(minutes=15)
    assert client.get("/lead/events").status_code == 303


def test_wrong_passphrases_slow_down_then_lock_out_and_the_lockout_is_logged(app, client, clock):
    set_passphrase(app)
    statuses = []
    for _ in range(lead_auth.CLIENT_LOCKOUT_AFTER):
        statuses.append(log_in(client, "wrong guess").status_code)
        clock.advance(seconds=60)
    assert statuses[0] == 422
    # Now locked out: even the right passphrase is not checked.
    clock.advance(minutes=5)
    locked = log_in(client)
    assert locked.status_code == 429
    assert "locked" in locked.get_data(as_text=True)
    with app.app_context():
        lockouts = list(
            db.session.scalars(select(AuditEntry).where(AuditEntry.action == "lead.lockout"))
        )
    assert len(lockouts) == 1 and "127.0.0.1" in lockouts[0].detail


def test_after_a_few_failures_the_next_try_must_wait(app, client, clock):
    set_passphrase(app)
    for _ in range(lead_auth.CLIENT_SLOWDOWN_AFTER):
        log_in(client, "wrong guess")
    too_soon = log_in(client)
    assert too_soon.status_code == 429
    assert "Try again in" in too_soon.get_data(as_text=True)
    clock.advance(seconds=3)
    assert log_in(client).status_code == 303


def test_a_lockout_expires(app, client, clock):
    set_passphrase(app)
    for _ in range(lead_auth.CLIENT_LOCKOUT_AFTER):
        log_in(client, "wrong guess")
        clock.advance(seconds=20)
    assert log_in(client).status_code == 429
    clock.advance(minutes=15)
    assert log_in(client).status_code == 303


def test_a_lockout_of_one_client_leaves_another_client_free(app, clock):
    set_passphrase(app)
    prankster = app.test_client()
    for _ in range(lead_auth.CLIENT_LOCKOUT_AFTER):
        prankster.post(
            "/lead/login", data={"passphrase": "x"}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
        )
        clock.advance(seconds=20)
    lead_phone = app.test_client()
    ok = lead_phone.post(
        "/lead/login", data={"passphrase": PASSPHRASE}, environ_base={"REMOTE_ADDR": "10.0.0.2"}
    )
    assert ok.status_code == 303


def test_many_failures_from_anywhere_lock_the_account_briefly_but_not_a_known_device(app, clock):
    set_passphrase(app)
    lead_phone = app.test_client()
    assert log_in(lead_phone).status_code == 303  # this browser is now a known device
    for n in range(lead_auth.ACCOUNT_LOCKOUT_AFTER):
        app.test_client().post(
            "/lead/login", data={"passphrase": "x"}, environ_base={"REMOTE_ADDR": f"10.0.1.{n}"}
        )
    stranger = app.test_client()
    refused = stranger.post(
        "/lead/login", data={"passphrase": PASSPHRASE}, environ_base={"REMOTE_ADDR": "10.0.2.1"}
    )
    assert refused.status_code == 429
    assert log_in(lead_phone).status_code == 303
    clock.advance(minutes=6)
    again = stranger.post(
        "/lead/login", data={"passphrase": PASSPHRASE}, environ_base={"REMOTE_ADDR": "10.0.2.1"}
    )
    assert again.status_code == 303


def test_a_visitor_tapping_many_times_from_a_locked_out_kiosk_is_never_throttled(
    app, client, clock
):
    set_passphrase(app)
    for _ in range(lead_auth.CLIENT_LOCKOUT_AFTER):
        log_in(client, "wrong guess")
    for _ in range(50):
        assert client.post("/opener", data={"choice": "people"}).status_code == 303
    assert client.get("/").status_code == 200


def test_the_volunteer_pin_never_opens_the_lead_area(app, client):
    set_passphrase(app)
    with app.app_context():
        set_setting(VOLUNTEER_PIN_HASH, hash_secret("4321"))
    assert log_in(client, "4321").status_code == 422
    assert client.get("/lead/").status_code == 303


def test_lead_pages_are_never_stored_by_the_browser(lead_client):
    for url in ("/lead/", "/lead/events", "/lead/settings", "/lead/audit", "/lead/login"):
        assert lead_client.get(url).headers["Cache-Control"] == "no-store"


def test_logins_and_failures_are_in_the_audit_log(app, client):
    set_passphrase(app)
    log_in(client, "wrong guess")
    log_in(client)
    page = client.get("/lead/audit").get_data(as_text=True)
    assert "lead.login_failed" in page and "lead.login" in page


def test_a_login_post_without_a_csrf_token_is_refused(app):
    app.config["WTF_CSRF_ENABLED"] = True
    set_passphrase(app)
    client = app.test_client()
    assert log_in(client).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(LeadSession)) is None
        assert db.session.get(Setting, lead_auth.PASSPHRASE_HASH) is not None


LEAD_POSTS = [(endpoint, url) for endpoint, method, url in LEAD_ROUTES if method == "POST"]


@pytest.mark.parametrize(("endpoint", "url"), LEAD_POSTS, ids=lambda v: str(v))
def test_every_lead_post_refuses_a_missing_csrf_token_even_with_a_session(app, endpoint, url):
    app.config["WTF_CSRF_ENABLED"] = True
    set_passphrase(app)
    client = app.test_client()
    page = client.get("/lead/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert log_in_with_token(client, token).status_code == 303
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(AuditEntry))
    assert client.post(url, data={"confirm": "yes", "email": "a@example.org"}).status_code == 400
    with app.app_context():
        after = db.session.scalar(select(func.count()).select_from(AuditEntry))
        assert after == before
    assert client.get("/lead/").status_code == 200  # still logged in: nothing was changed


def log_in_with_token(client, token: str):
    return client.post("/lead/login", data={"passphrase": PASSPHRASE, "csrf_token": token})


def test_sessions_past_their_lifetime_are_deleted_at_the_next_login(app, client, clock):
    set_passphrase(app)
    log_in(client)
    log_in(client)
    clock.advance(hours=13)
    log_in(client)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LeadSession)) == 1


@pytest.mark.parametrize(
    ("failures", "length"),
    [
        (lead_auth.CLIENT_SLOWDOWN_AFTER, timedelta(seconds=2)),
        (lead_auth.CLIENT_LOCKOUT_AFTER, lead_auth.CLIENT_LOCKOUT),
    ],
    ids=["slow-down", "lockout"],
)
def test_wrong_passphrases_under_a_clock_a_day_ahead_never_lock_out_for_longer_than_the_lockout(
    app, client, monkeypatch, failures, length
):
    """Issue 10: a Raspberry Pi's clock a day ahead, then put right, must not lock the lead
    out for a day: no wait is ever longer than its own length."""
    set_passphrase(app)
    right = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    moment = [right + timedelta(days=1)]
    monkeypatch.setattr(kiosk.clock, "now", lambda: moment[0])
    for _ in range(failures):
        assert log_in(client, "wrong guess").status_code in (422, 429)
        moment[0] += timedelta(seconds=60)  # a person's pace: each guess is checked
    moment[0] -= timedelta(seconds=60)
    with app.app_context():
        ahead = lead_auth.login_gate("127.0.0.1")
    assert not ahead.allowed and ahead.wait_seconds <= length.total_seconds()
    assert ahead.reason == ("client" if failures == lead_auth.CLIENT_LOCKOUT_AFTER else "slow")
    moment[0] = right  # the clock is put right
    with app.app_context():
        gate = lead_auth.login_gate("127.0.0.1")
    assert gate.allowed or gate.wait_seconds <= length.total_seconds()
    moment[0] = right + length
    assert log_in(client).status_code == 303


def test_an_account_locked_under_a_clock_a_day_ahead_is_free_within_the_lockout_once_put_right(
    app, monkeypatch
):
    set_passphrase(app)
    right = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    moment = [right + timedelta(days=1)]
    monkeypatch.setattr(kiosk.clock, "now", lambda: moment[0])
    for n in range(lead_auth.ACCOUNT_LOCKOUT_AFTER):
        app.test_client().post(
            "/lead/login", data={"passphrase": "x"}, environ_base={"REMOTE_ADDR": f"10.0.3.{n}"}
        )
    stranger = {"REMOTE_ADDR": "10.0.4.1"}
    login = {"passphrase": PASSPHRASE}
    assert (
        app.test_client().post("/lead/login", data=login, environ_base=stranger).status_code == 429
    )
    moment[0] = right + lead_auth.ACCOUNT_LOCKOUT
    assert (
        app.test_client().post("/lead/login", data=login, environ_base=stranger).status_code == 303
    )
