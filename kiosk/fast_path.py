"""Kept visitor screens answered in front of Flask: the cache's fast path (issue 15).

A screen kept per generation (kiosk/page_cache.py) still cost a read Flask's whole request
cycle around a dictionary look-up: the session cookie opened, the CSRF token signed, the
hooks, the headers, the locale, about four fifths of its time (bench/findings.md). This WSGI
layer answers such a request before Flask sees it, with exactly what Flask answered before:

- It only ever repeats an answer Flask gave. When a GET is answered from a shared screen
  (`page_cache.personal` leaves an Offer in the environ), and Flask's whole answer is a 200
  without a cookie whose body is that screen, its status, headers and screen are kept as a
  Recipe, under everything the answer can depend on: the path and query, the htmx headers,
  and the visitor's language choice.
- It repeats it only to a request that Flask would have answered the same way: a GET
  without conditional or range headers, with no cookie but the session, the language and
  the visit cookies, whose session holds nothing but its CSRF token (nothing to flash,
  nothing to save), and only while the generations the screen was made under stand. The
  counters are read from the database on every answer, so on a hub no process repeats a
  screen older than a write committed in another.
- The visitor's own values are filled in as Flask would: the session's CSRF token, signed
  (one signature per session is reused, as the token never expires: WTF_CSRF_TIME_LIMIT),
  and a fresh tap key.
- It keeps to the declared contract (kiosk/hooks.py, page_cache.SCREENS): only a declared
  screen is kept; a header declared per request is made afresh for each answer; a hook
  declared per request runs its stand-in (`fast`) before each answer, and Flask answers when
  it says so. An answer with an undeclared hook or header, or a per-request one that has no
  stand-in, is never kept.

Anything else, and any database error, goes to Flask, which answers it the kiosk's way.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.http import parse_cookie

from kiosk import hooks, page_cache
from kiosk.extensions import db
from kiosk.i18n import LANG_COOKIE
from kiosk.privacy import new_form_key
from kiosk.security import VISIT_COOKIE

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
# Bounds on what one process keeps: beyond them, start again (made-up query strings or
# cookies only make requests go to Flask, never grow the process).
MAX_RECIPES = 512
MAX_SESSIONS = 4096
EXTENSION = "kiosk_fast_path"

Key = tuple[str | None, ...]


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
        return cls(status, list(headers), tuple(pieces), offer.counters, checks)

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
    """The generations, read for each answer the fast path gives.

    On SQLite each server thread keeps a connection of its own for this one read, out of
    the pool (whose check-out and check-in cost more than the read itself); each read ends
    its transaction, so no snapshot is held. PostgreSQL keeps to the pool, whose size a hub's
    connection limits are planned around."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.own_connections = engine.dialect.name == "sqlite"
        self.local = threading.local()

    def read(self) -> dict[str, int] | None:
        """The counters, or None when the database cannot say (Flask then answers)."""
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
        # Made by the pool, so with the kiosk's connection settings; then detached from it.
        pooled = self.engine.raw_connection()
        pooled.detach()
        return pooled.dbapi_connection  # type: ignore[return-value]  # pysqlite's: a sqlite3.Connection


class FastPath:
    """WSGI middleware in front of the Flask app: see the module's docstring."""

    def __init__(self, app: Flask, wsgi_app: WsgiApp, engine: Engine) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.counters = Counters(engine)
        self.recipes: dict[Key, Recipe] = {}
        # cookie value -> (the session's raw CSRF token, or None: not for us; checked at)
        self.sessions: dict[str, tuple[str | None, float]] = {}
        # raw CSRF token -> its signed form, as Flask-WTF makes it
        self.signed: dict[str, str] = {}
        self.hits = 0  # answers given here (the tests read it)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET" or _conditional(environ):
            return self.wsgi_app(environ, start_response)
        visitor = self._visitor(environ)
        if visitor is None:
            return self.wsgi_app(environ, start_response)
        key, raw_token = visitor
        recipe = self.recipes.get(key)
        if recipe is not None:
            counters = self.counters.read()
            if counters is None:
                return self.wsgi_app(environ, start_response)  # Flask says what is wrong
            if recipe.stands(counters) and recipe.allows(environ):
                return self._answer(recipe, raw_token, environ, start_response)
        return self._learn(environ, start_response, key, raw_token)

    # ---- who asks: the request's key and the session's CSRF token --------------------------

    def _visitor(self, environ: dict[str, Any]) -> tuple[Key, str] | None:
        """The key of what this request would be answered, and its session's raw CSRF
        token; None when Flask must answer it (other cookies, a session to set or save)."""
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
        key = (
            environ.get("SCRIPT_NAME", ""),
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            *(environ.get(name) for name in HTMX_HEADERS),
            language,
        )
        return key, raw_token

    def _session_token(self, cookie: str | None) -> str | None:
        """The raw CSRF token of a session that holds nothing else, as Flask opens it."""
        if not cookie:
            return None
        now = time.monotonic()
        known = self.sessions.get(cookie)
        if known is not None and now - known[1] < SESSION_RECHECK_S:
            return known[0]
        token = self._open_session(cookie)
        if len(self.sessions) >= MAX_SESSIONS:
            self.sessions.clear()
        self.sessions[cookie] = (token, now)
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
        if len(self.signed) >= MAX_SESSIONS:
            self.signed.clear()
        self.signed[raw_token] = signed

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
        self, environ: dict[str, Any], start_response: StartResponse, key: Key, raw_token: str
    ) -> Iterable[bytes]:
        """Flask answers; a shared screen answered in full and without a cookie is kept."""
        seen: list[Any] = []

        def recording_start_response(status: str, headers: list, *rest: Any) -> Any:
            seen[:] = [status, headers]
            return start_response(status, headers, *rest)

        body = self.wsgi_app(environ, recording_start_response)
        offer = environ.get(page_cache.OFFER)
        if not isinstance(offer, page_cache.Offer) or not seen:
            return body
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
            self._keep(key, recipe)
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

    def _keep(self, key: Key, recipe: Recipe) -> None:
        if len(self.recipes) >= MAX_RECIPES:
            self.recipes.clear()
        self.recipes[key] = recipe


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
