"""Kept visitor screens answered in front of Flask: the cache's fast path (issue 15).

A screen kept per generation (kiosk/page_cache.py) still cost a read Flask's whole request
cycle around a dictionary look-up: the session cookie opened, the CSRF token signed, the
hooks, the headers, the locale, about four fifths of its time (bench/findings.md). This WSGI
layer answers such a request before Flask sees it, with exactly what Flask answered before:

- It only ever repeats an answer Flask gave. When a GET is answered from a shared screen
  (`page_cache.personal` leaves an Offer in the environ), and Flask's whole answer is a 200
  without a cookie whose body is that screen, its status, headers and screen are kept as a
  Recipe, under everything the answer can depend on: the path, the query parameters its
  view reads (page_cache.cached's `query`: a request that sent exactly the values Flask
  used, so made-up parameters share the one recipe and odd values go to Flask), whether
  htmx asked, and the visitor's language choice.
- It repeats it only to a request that Flask would have answered the same way: a GET
  without conditional or range headers, with no cookie but the session, the language and
  the visit cookies, whose session holds nothing but its CSRF token (nothing to flash,
  nothing to save), and only while the generations the screen was made under stand. The
  counters are those of kiosk/change_signal.py (on PostgreSQL kept in memory, told of every
  commit by a NOTIFY while its listener is sure; else read from the database on every
  answer), so on a hub no process repeats a screen older than a write committed in another
  once its notification arrived.
- The visitor's own values are filled in as Flask would: the session's CSRF token, signed
  (one signature per session is reused, as the token never expires: WTF_CSRF_TIME_LIMIT),
  and a fresh tap key.
- It keeps to the declared contract (kiosk/hooks.py, page_cache.SCREENS): only a declared
  screen is kept; a header declared per request is made afresh for each answer; a hook
  declared per request runs its stand-in (`fast`) before each answer, and Flask answers when
  it says so. An answer with an undeclared hook or header, or a per-request one that has no
  stand-in, is never kept.

Taps too (issue 21): an htmx opener tap or FAQ open (page_cache.TAP_SCREENS) whose answer
Flask gave before is counted in the tap batch as its view counts it (services/tallies.py:
answered only once the commit holding it returned) and answered with that answer, after
every check Flask's path makes: the session, the form's CSRF token checked as Flask-WTF
checks it, the per-request hooks' stand-ins (a lost database file refuses the write), the
answer's generations, and an idempotency key (`_tap`).

Anything else, and any database error, goes to Flask, which answers it the kiosk's way.

What it keeps is bounded in bytes (kiosk/bounded.py), and only ever what Flask made or a
signature it checked: never a cookie whose signature failed, nor a raw query string.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, RequestHeaderFieldsTooLarge, RequestURITooLarge
from werkzeug.http import parse_cookie

from kiosk import hooks, page_cache, wal_stamp, write_queue
from kiosk.bounded import ByteBudget, forget_long_addresses
from kiosk.change_signal import ChangeSignal, signal_of
from kiosk.extensions import db, detached_connection
from kiosk.i18n import LANG_COOKIE
from kiosk.privacy import new_form_key
from kiosk.security import VISIT_COOKIE
from kiosk.services import tallies
from kiosk.services.records import clean_idempotency_key
from kiosk.wal_stamp import WalStamp

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# What a kept answer may depend on besides the path, the query and the language choice.
HTMX_HEADERS = ("HTTP_HX_REQUEST", "HTTP_HX_BOOSTED", "HTTP_HX_HISTORY_RESTORE_REQUEST")
# Requests Flask may answer otherwise than in full (304, 206): always Flask's.
CONDITIONAL_HEADERS = (
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_RANGE",
    "HTTP_RANGE",
)
# A session cookie is trusted this long after its signature was checked, then checked again
# (Flask's own limit, the cookie's age, is checked each time it is).
SESSION_RECHECK_S = 60.0
# Bytes one process keeps: every screen of both languages as page and fragment is about
# 4 MB of recipes; sessions and their signed tokens are a few hundred bytes each (a
# session's cookie is kept only once its signature was checked). Beyond a budget the least
# recently used goes; Flask answers it again.
RECIPE_BYTES = 12 * 1024 * 1024
SESSION_BYTES = 2 * 1024 * 1024
# Browsers keep no cookie longer than 4 KB, and a session holding a CSRF token is ~100
# bytes: a longer one is not even opened here.
MAX_COOKIE = 4096
# Refused before anything reads them (414, 431; the kiosk's error page): a request target
# longer than this (the kiosk's own are under 1 KB; the language switch's way back under
# 4 KB), or more cookies than this (the kiosk sets three small ones; browsers keep at most
# 4 KB a cookie).
MAX_TARGET = 8 * 1024
MAX_COOKIES = 16 * 1024
EXTENSION = "kiosk_fast_path"
# A tap's form as a tablet sends it: a few short fields of letters, digits, '-', '_' and '.'
# (a choice, a depth, the idempotency key, the signed CSRF token), nothing to unescape.
# Any other body (longer, escaped, another kind) goes to Flask, which reads it its way.
MAX_TAP_FORM = 2048
TAP_FORM = re.compile(rb"[A-Za-z0-9_.=&-]*")
FORM_TYPE = "application/x-www-form-urlencoded"

Key = tuple[object, ...]
# A path's place: SCRIPT_NAME (a trusted proxy's prefix) and PATH_INFO.
Where = tuple[str, str]


# Where a kept answer's body takes the visitor's values (kiosk/page_cache.py's placeholders).
CSRF, TAP_KEY = 0, 1
SLOTS = re.compile(f"({re.escape(page_cache.CSRF_SLOT)}|{re.escape(page_cache.TAP_KEY_SLOT)})")


HeaderValue = Callable[[dict[str, Any], bytes], str]
Check = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Recipe:
    """Flask's answer to one kind of request, with places for the visitor's values."""

    status: str
    # As Flask sent them, in its order; a per-request header's value is made per answer.
    headers: list[tuple[str, str | HeaderValue]]
    pieces: tuple[bytes | int, ...]  # the body's bytes, and CSRF or TAP_KEY between them
    counters: tuple[tuple[str, int], ...]
    checks: tuple[Check, ...] = ()  # the per-request hooks' stand-ins: all must say yes
    tap: page_cache.TapAnswer | None = None  # a tap's answer: the tap it counts

    @classmethod
    def of(
        cls,
        status: str,
        headers: list[tuple[str, str | HeaderValue]],
        offer: page_cache.Offer,
        checks: tuple[Check, ...] = (),
    ) -> Recipe:
        pieces: list[bytes | int] = []
        for part in SLOTS.split(offer.text):
            if part == page_cache.CSRF_SLOT:
                pieces.append(CSRF)
            elif part == page_cache.TAP_KEY_SLOT:
                pieces.append(TAP_KEY)
            elif part:
                pieces.append(part.encode())
        return cls(status, list(headers), tuple(pieces), offer.counters, checks, offer.tap)

    @property
    def needs_csrf(self) -> bool:
        return CSRF in self.pieces

    def body(self, csrf: bytes, tap_key: bytes) -> bytes:
        values = {CSRF: csrf, TAP_KEY: tap_key}
        return b"".join(values[p] if isinstance(p, int) else p for p in self.pieces)

    def headers_for(self, environ: dict[str, Any], body: bytes) -> list[tuple[str, str]]:
        """Flask's headers, in Flask's order, the per-request ones made for this answer."""
        return [
            (name, value if isinstance(value, str) else value(environ, body))
            for name, value in self.headers
        ]

    def allows(self, environ: dict[str, Any]) -> bool:
        """Whether every per-request hook's stand-in lets this request have the answer."""
        return all(check(environ) for check in self.checks)

    def stands(self, counters: dict[str, int]) -> bool:
        return all(counters.get(name, 0) == value for name, value in self.counters)


class Counters:
    """The generations for each answer the fast path gives, with their trust period.

    On PostgreSQL, while the change signal's listener is sure of them, they are the process's
    memory (kiosk/change_signal.py): no read at all. On SQLite they are read again only when
    a commit rewrote the wal-index's header since the last read (kiosk/wal_stamp.py), each
    server thread on a connection of its own for this one read, out of the pool (whose
    check-out and check-in cost more than the read itself); each read ends its transaction,
    so no snapshot is held. PostgreSQL keeps to the pool, whose size a hub's connection
    limits are planned around."""

    def __init__(self, engine: Engine, signal: ChangeSignal, stamp: WalStamp | None) -> None:
        self.engine = engine
        self.signal = signal
        self.stamp = stamp
        self.own_connections = engine.dialect.name == "sqlite"
        self.local = threading.local()

    def read(self) -> dict[str, int] | None:
        """The counters, or None when the database cannot say (Flask then answers)."""
        kept = self.signal.counters()
        if kept is not None:
            return kept
        # SQLite: read only when a commit rewrote its wal-index since (kiosk/wal_stamp.py).
        read = self._read() if self.stamp is None else self.stamp.counters(self._read)
        return None if read is None else read | {page_cache.SIGNAL: 0}

    def _read(self) -> dict[str, int] | None:
        if not self.own_connections:
            try:
                return page_cache.read_generations(self.engine)
            except SQLAlchemyError:
                return None
        connection = getattr(self.local, "connection", None)
        try:
            if connection is None:
                connection = self.local.connection = self._new_connection()
            rows = connection.execute(page_cache.READ).fetchall()
            connection.commit()
        except (sqlite3.Error, SQLAlchemyError):
            self.local.connection = None
            if connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
            return None
        return {name: value for name, value in rows}

    def _new_connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection = detached_connection(self.engine)  # pysqlite's
        return connection


class FastPath:
    """WSGI middleware in front of the Flask app: see the module's docstring."""

    def __init__(self, app: Flask, wsgi_app: WsgiApp, engine: Engine) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.counters = Counters(engine, signal_of(app), wal_stamp.of(app))
        self.recipes: ByteBudget[Key, Recipe] = ByteBudget(RECIPE_BYTES)
        # a kept screen's path -> the query parameters its view reads (Offer.query)
        self.reads: ByteBudget[Where, tuple[str, ...]] = ByteBudget(SESSION_BYTES)
        # a verified cookie's value -> (its session's raw CSRF token, checked at)
        self.sessions: ByteBudget[str, tuple[str, float]] = ByteBudget(SESSION_BYTES)
        # raw CSRF token -> its signed form, as Flask-WTF makes it
        self.signed: ByteBudget[str, str] = ByteBudget(SESSION_BYTES)
        # a signed CSRF token a tap sent, checked -> the raw token it was signed for (a
        # tablet sends the one its page was given, signed when Flask rendered that page)
        self.verified: ByteBudget[str, str] = ByteBudget(SESSION_BYTES)
        # a tap's path -> the form fields its view reads (TapAnswer.form)
        self.tap_reads: ByteBudget[Where, tuple[str, ...]] = ByteBudget(SESSION_BYTES)
        self.hits = 0  # answers given here (the tests read it)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self._call(environ, start_response)
        finally:
            forget_long_addresses(environ)

    def _call(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        refusal = _too_long(environ)
        if refusal is not None:
            return self._refuse(environ, start_response, refusal)
        method = environ.get("REQUEST_METHOD")
        if method == "POST" and not _conditional(environ):
            return self._tap(environ, start_response)
        if method != "GET" or _conditional(environ):
            return self.wsgi_app(environ, start_response)
        visitor = self._visitor(environ)
        if visitor is None:
            return self.wsgi_app(environ, start_response)
        key, raw_token = visitor
        recipe = self.recipes.get(key) if key is not None else None
        if recipe is not None:
            counters = self.counters.read()
            if counters is None:
                return self.wsgi_app(environ, start_response)  # Flask says what is wrong
            if recipe.stands(counters) and recipe.allows(environ):
                return self._answer(recipe, raw_token, environ, start_response)
        return self._learn(environ, start_response, key, raw_token)

    def _refuse(
        self, environ: dict[str, Any], start_response: StartResponse, error: HTTPException
    ) -> Iterable[bytes]:
        """Flask's answer to `error` (its error page, its response hooks), made without
        reading what was too long: the request as if it asked for the opener, cookieless."""
        short = environ | {"PATH_INFO": "/", "QUERY_STRING": "", "HTTP_COOKIE": ""}
        with self.app.request_context(short):
            response = self.app.finalize_request(self.app.handle_user_exception(error))
        return response(environ, start_response)

    # ---- who asks: the request's key and the session's CSRF token --------------------------

    def _visitor(
        self, environ: dict[str, Any], form: MultiDict[str, str] | None = None
    ) -> tuple[Key | None, str] | None:
        """The key of what this request would be answered (None: not known yet), and its
        session's raw CSRF token; None when Flask must answer it (other cookies, a session
        to set or save). A tap's key is made of the `form` fields its view reads."""
        cookies = parse_cookie(environ.get("HTTP_COOKIE"))
        session_cookie = self.app.config["SESSION_COOKIE_NAME"]
        if not set(cookies).issubset({session_cookie, LANG_COOKIE, VISIT_COOKIE}):
            return None
        raw_token = self._session_token(cookies.get(session_cookie))
        if raw_token is None:
            return None
        language = cookies.get(LANG_COOKIE)
        if language not in self.app.extensions["kiosk_packs"]:
            language = None  # Flask ignores a language the kiosk does not speak
        where = (environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""))
        if form is not None:
            tap_names = self.tap_reads.get(where)
            if tap_names is None:
                return None, raw_token
            sent = _sent_form(form, tap_names)
            return self._key(environ, where, sent, language, "POST"), raw_token
        names = self.reads.get(where)
        if names is None:
            return None, raw_token  # Flask answers; its offer says what the view reads
        return self._key(environ, where, _sent(environ, names), language), raw_token

    @staticmethod
    def _key(
        environ: dict[str, Any],
        where: Where,
        query: tuple[tuple[str, str | None], ...],
        language: str | None,
        method: str = "GET",
    ) -> Key:
        # htmx_flask reads its headers as "true" or not: nothing else of them can matter.
        htmx = tuple(environ.get(name, "").lower() == "true" for name in HTMX_HEADERS)
        return (method, *where, query, *htmx, language)

    def _session_token(self, cookie: str | None) -> str | None:
        """The raw CSRF token of a session that holds nothing else, as Flask opens it."""
        if not cookie or len(cookie) > MAX_COOKIE:
            return None  # Flask tells a made-up one
        now = time.monotonic()
        known = self.sessions.get(cookie)
        if known is not None and now - known[1] < SESSION_RECHECK_S:
            return known[0]
        token = self._open_session(cookie)
        if token is None:
            # Not kept: a cookie whose signature failed (or a session holding more) is
            # checked again each time, so junk cookies never take a byte of the process.
            self.sessions.pop(cookie)
            return None
        self.sessions.put(cookie, (token, now))
        return token

    def _open_session(self, cookie: str) -> str | None:
        interface = self.app.session_interface
        serializer = interface.get_signing_serializer(self.app)  # type: ignore[attr-defined]  # Flask's SecureCookieSessionInterface
        if serializer is None:
            return None
        max_age = int(self.app.permanent_session_lifetime.total_seconds())
        try:
            data = serializer.loads(cookie, max_age=max_age)
        except BadData:
            return None  # Flask would start a new session and set its cookie
        field = self._csrf_field()
        if not isinstance(data, dict) or set(data) != {field}:
            return None
        token = data[field]
        return token if isinstance(token, str) else None

    def _csrf_field(self) -> str:
        return str(self.app.config.get("WTF_CSRF_FIELD_NAME") or "csrf_token")

    def _signed(self, raw_token: str) -> str:
        """The token as Flask-WTF's generate_csrf signs it (kept: it never expires here)."""
        signed = self.signed.get(raw_token)
        if signed is None:
            secret = self.app.config.get("WTF_CSRF_SECRET_KEY") or self.app.secret_key
            if not secret:  # config.ensure_secret_key gives every app one
                raise RuntimeError("The kiosk has no secret key to sign CSRF tokens with.")
            signed = URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw_token)
            self._remember_signed(raw_token, signed)
        return signed

    def _remember_signed(self, raw_token: str, signed: str) -> None:
        if self.app.config.get("WTF_CSRF_TIME_LIMIT") is not None:
            return  # a token that expires is signed afresh for each answer
        self.signed.put(raw_token, signed)

    # ---- taps: counted and answered in front of Flask ----------------------------------------

    def _tap(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """A POST: a tap whose answer Flask gave before (page_cache.TAP_SCREENS) is counted
        in the tap batch as its view counts it, and answered with that answer, after every
        check Flask's path makes: the session and the CSRF token in the form (Flask-WTF's
        check), the per-request hooks' stand-ins (a lost database file refuses the write),
        the answer's generations, and an idempotency key (a tap sent again is counted once).

        Anything else goes to Flask from the start, the body put back as it came: another
        POST, a tap without a key, over HTTPS (Flask-WTF also checks the referrer), with no
        active event (Flask opens a walk-up one) or failing to be written (Flask's calm 503
        and its note of the problem; the key keeps a tap that did commit from counting twice).
        """
        form = _small_form(environ)
        if form is None:
            return self.wsgi_app(environ, start_response)
        visitor = self._visitor(environ, form)
        if visitor is None:
            return self.wsgi_app(environ, start_response)
        key, raw_token = visitor
        recipe = self.recipes.get(key) if key is not None else None
        if recipe is None or recipe.tap is None:
            return self._learn(environ, start_response, key, raw_token, form)
        idempotency_key = clean_idempotency_key(form.get("idempotency_key"))
        if (
            idempotency_key is None
            or environ.get("wsgi.url_scheme") != "http"
            or not self._csrf_valid(form, raw_token)
        ):
            return self.wsgi_app(environ, start_response)
        counters = self._count(recipe, recipe.tap, environ, idempotency_key)
        if counters is None:
            return self.wsgi_app(environ, start_response)
        if not recipe.stands(counters):
            # Counted already: Flask counts it again, which its key makes no second count,
            # and answers under the new generations.
            return self._learn(environ, start_response, key, raw_token, form)
        return self._answer(recipe, raw_token, environ, start_response)

    def _count(
        self,
        recipe: Recipe,
        tap: page_cache.TapAnswer,
        environ: dict[str, Any],
        idempotency_key: str,
    ) -> dict[str, int] | None:
        """Count `tap` as its view does (services/tallies.py: in the tap batch, answered once
        its commit returned), in the app's context, after the per-request hooks' stand-ins
        said yes. Returns the generations the answer must stand under: this process's memory
        while the change signal is sure of them, else as the batch's own transaction read
        them after its inserts (one read per batch, none per tap: a screen's generations
        are read before what it shows, and the tap's answer shows nothing the batch wrote).
        None when Flask must answer instead (nothing was written)."""
        with self.app.app_context():
            if not recipe.allows(environ):
                return None
            batcher: tallies.TapBatcher = self.app.extensions[tallies.BATCHER]
            counted = tallies.Tap(tap.kind, tap.key, idempotency_key, wants_generations=True)
            try:
                # A writer outside a request: it takes the SQLite write turn like one.
                with write_queue.background_writer():
                    if batcher.record(counted) is None:
                        return None  # no event is active (Flask opens a walk-up one)
            except Exception:  # any failure: Flask answers it, the kiosk's way
                return None
        kept = self.counters.signal.counters()
        if kept is not None:
            return kept
        if counted.generations is None:
            return None
        return counted.generations | {page_cache.SIGNAL: 0}

    def _csrf_valid(self, form: MultiDict[str, str], raw_token: str) -> bool:
        """Flask-WTF's check of a POST's token (CSRFProtect.protect, validate_csrf) for the
        token in the form, as the kiosk's forms send it: signed for this session's token,
        within the time limit if one is set. False: Flask judges it (and refuses it)."""
        sent = form.get(self._csrf_field())
        if not sent:
            return False  # a token in a header only: Flask's
        if sent == self.signed.get(raw_token):
            return True  # the very signature Flask or we made of this session's token
        known = self.verified.get(sent)
        if known is not None:
            return hmac.compare_digest(raw_token, known)
        secret = self.app.config.get("WTF_CSRF_SECRET_KEY") or self.app.secret_key
        if not secret:
            return False
        time_limit = self.app.config.get("WTF_CSRF_TIME_LIMIT")
        serializer = URLSafeTimedSerializer(secret, salt="wtf-csrf-token")
        try:
            token = serializer.loads(sent, max_age=time_limit)
        except BadData:
            return False  # never kept: junk tokens take no byte of the process
        if not isinstance(token, str) or not hmac.compare_digest(raw_token, token):
            return False
        if time_limit is None:  # a token that expires is checked afresh each time
            self.verified.put(sent, token)
        return True

    # ---- answering, and learning from Flask's answers ---------------------------------------

    def _answer(
        self,
        recipe: Recipe,
        raw_token: str,
        environ: dict[str, Any],
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        csrf = self._signed(raw_token).encode() if recipe.needs_csrf else b""
        body = recipe.body(csrf, new_form_key().encode())
        start_response(recipe.status, recipe.headers_for(environ, body))
        self.hits += 1
        return [body]

    def _learn(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        key: Key | None,
        raw_token: str,
        form: MultiDict[str, str] | None = None,
    ) -> Iterable[bytes]:
        """Flask answers; a shared screen answered in full and without a cookie is kept (a
        GET's, or a tap's answer to the tap's `form`)."""
        seen: list[Any] = []

        def recording_start_response(status: str, headers: list, *rest: Any) -> Any:
            seen[:] = [status, headers]
            return start_response(status, headers, *rest)

        body = self.wsgi_app(environ, recording_start_response)
        offer = environ.get(page_cache.OFFER)
        if not isinstance(offer, page_cache.Offer) or not seen:
            return body
        if (form is None) != (offer.tap is None):
            return body  # a GET's screen is kept for GETs, a tap's answer for that tap
        status, headers = seen
        if not status.startswith("200 ") or any(n.lower() == "set-cookie" for n, _ in headers):
            return body
        try:
            data = b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        recipe = self._recipe(status, headers, offer)
        if recipe is not None and data == offer.filled.encode():
            self._keep(environ, offer, recipe, form)
            if offer.csrf:
                # No cookie was set, so the session and its token are the ones we opened:
                # Flask signed this visitor's token, and the signature can be sent again.
                self._remember_signed(raw_token, offer.csrf)
        return [data]

    def _recipe(
        self, status: str, headers: list[tuple[str, str]], offer: page_cache.Offer
    ) -> Recipe | None:
        """Flask's answer as a recipe, if the contract lets it be sent again (kiosk/hooks.py)."""
        if offer.endpoint not in page_cache.SCREENS:
            return None
        kept: list[tuple[str, str | HeaderValue]] = []
        same_body = SLOTS.search(offer.text) is None  # nothing per visitor in it (a QR code)
        for name, value in headers:
            declared = hooks.header_declaration(name)
            if declared is None:
                return None
            if declared.kind == hooks.FOR_EVERYONE or (same_body and declared.from_body):
                kept.append((name, value))
            elif declared.value is not None:
                kept.append((name, declared.value))
            else:
                return None
        checks = self._checks(offer.endpoint)
        if checks is None:
            return None
        return Recipe.of(status, kept, offer, checks)

    def _checks(self, endpoint: str) -> tuple[Check, ...] | None:
        """The stand-ins of the per-request hooks that run for `endpoint`; None when a hook
        is undeclared or has no stand-in (Flask must answer every time)."""
        blueprint = endpoint.rpartition(".")[0] or None
        checks: list[Check] = []
        for function in hooks.all_hooks(self.app, blueprint):
            declared = hooks.declaration(self.app, function)
            if declared is None or (declared.kind == hooks.PER_REQUEST and declared.fast is None):
                return None
            if declared.kind == hooks.PER_REQUEST and declared.fast is not None:
                checks.append(declared.fast)
        return tuple(checks)

    def _keep(
        self,
        environ: dict[str, Any],
        offer: page_cache.Offer,
        recipe: Recipe,
        form: MultiDict[str, str] | None = None,
    ) -> None:
        """Keep Flask's answer for the requests that send exactly the parameters its view
        read, with the values it used: another value of one (a made-up view, a second copy)
        went to Flask for a screen kept under another address, and goes to Flask again.
        A tap's answer likewise, for the taps that send exactly its form's fields."""
        where = (environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""))
        language = self._language(environ)
        if form is not None and offer.tap is not None:
            names = tuple(name for name, _ in offer.tap.form)
            if _sent_form(form, names) != offer.tap.form:
                return
            if self.tap_reads.get(where) != names:
                self.tap_reads.put(where, names)
            key = self._key(environ, where, offer.tap.form, language, "POST")
            self.recipes.put(key, recipe)
            return
        names = tuple(name for name, _ in offer.query)
        if _sent(environ, names) != offer.query:
            return
        if self.reads.get(where) != names:
            self.reads.put(where, names)
        self.recipes.put(self._key(environ, where, offer.query, language), recipe)

    def _language(self, environ: dict[str, Any]) -> str | None:
        language = parse_cookie(environ.get("HTTP_COOKIE")).get(LANG_COOKIE)
        return language if language in self.app.extensions["kiosk_packs"] else None


def _sent_form(
    form: MultiDict[str, str], names: tuple[str, ...]
) -> tuple[tuple[str, str | None], ...]:
    """The values a tap's form sent for the fields `names` (the first of each, as Flask's
    request.form.get reads them; None when absent), in their order."""
    return tuple((name, form.get(name)) for name in names)


def _sent(environ: dict[str, Any], names: tuple[str, ...]) -> tuple[tuple[str, str | None], ...]:
    """The values the request sent for the parameters `names` (the first of each, as Flask's
    request.args.get reads them; None when absent), in their order."""
    if not names:
        return ()  # nothing read: the query string is not even parsed
    sent = MultiDict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    return tuple((name, sent.get(name)) for name in names)


def _small_form(environ: dict[str, Any]) -> MultiDict[str, str] | None:
    """A tap's form as a tablet sends it (TAP_FORM, at most MAX_TAP_FORM bytes, no query
    string), read and parsed as werkzeug parses it; the body is put back for Flask either
    way. None when it is anything else (Flask reads it its own way)."""
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if mimetype != FORM_TYPE or environ.get("QUERY_STRING") or "HTTP_TRANSFER_ENCODING" in environ:
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 < length <= MAX_TAP_FORM:
        return None
    data = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(data)
    if len(data) != length or not TAP_FORM.fullmatch(data):
        return None
    return MultiDict(parse_qsl(data.decode("ascii"), keep_blank_values=True))


def _too_long(environ: dict[str, Any]) -> HTTPException | None:
    """A refusal for a target or cookies no page of the kiosk makes, else None."""
    target = len(environ.get("PATH_INFO", "")) + len(environ.get("QUERY_STRING", ""))
    if target > MAX_TARGET:
        return RequestURITooLarge()
    if len(environ.get("HTTP_COOKIE", "")) > MAX_COOKIES:
        return RequestHeaderFieldsTooLarge()
    return None


def _conditional(environ: dict[str, Any]) -> bool:
    return any(name in environ for name in CONDITIONAL_HEADERS)


def fast_path_of(app: Flask) -> FastPath | None:
    """The app's fast path (behind any other WSGI layer), or None."""
    return app.extensions.get(EXTENSION)


def init_app(app: Flask) -> None:
    """Put the fast path in front of Flask (inside the trusted proxies' layer, which must
    come after it: kiosk/proxies.py sees the request first)."""
    with app.app_context():
        engine = db.engine
    layer = app.extensions[EXTENSION] = FastPath(app, app.wsgi_app, engine)
    app.wsgi_app = layer  # type: ignore[method-assign]  # Flask's documented way to add WSGI middleware
