"""Request hooks and response headers, each declared "same for every visitor" or "per request".

The fast path (kiosk/fast_path.py) answers a kept screen (page_cache.SCREENS) with Flask's
earlier answer, without Flask: no hook runs and every header is sent again as it was. That is
right for what is the same for every visitor, and wrong for anything per request, so each
hook says which it is where it is registered, and each header where it is set:

- A hook: `@for_everyone(why)` (replaying Flask's answer stands in for running it) or
  `@per_request(why, fast=...)` (it must act on each request). `fast(environ)` is what it
  does in front of Flask, True when the kept answer may be given (a maintenance switch says
  False while it is on: Flask answers with its 503). A per-request hook without `fast`
  keeps the fast path away from the screens it applies to. An extension's hooks are
  declared around its init_app with `registered(app, ...)`.
- A header: `header(name, FOR_EVERYONE, why)`, or `header(name, PER_REQUEST, why,
  value=...)` where `value(environ, body)` makes it afresh for each fast answer (a request
  id, the length). A per-request header without `value` is never sent again: an answer
  carrying it is not kept.

What is not declared is treated as per request without a stand-in: never replayed.
tests/test_hooks.py walks the app's hooks and the headers of real answers and fails on any
that is not declared.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask
from werkzeug.http import generate_etag, http_date, quote_etag

F = TypeVar("F", bound=Callable[..., Any])
Environ = dict[str, Any]

FOR_EVERYONE = "same for every visitor"
PER_REQUEST = "per request"
KINDS = (FOR_EVERYONE, PER_REQUEST)
_ATTRIBUTE = "kiosk_hook"
_EXTENSION = "kiosk_hooks"

# Every list of hooks Flask keeps (blueprints' under their names, the app's under None).
HOOK_LISTS = (
    "url_value_preprocessors",
    "before_request_funcs",
    "after_request_funcs",
    "teardown_request_funcs",
    "template_context_processors",
    "url_default_functions",
)
APP_HOOK_LISTS = ("teardown_appcontext_funcs",)


@dataclass(frozen=True)
class Hook:
    kind: str
    why: str
    # In front of Flask, in the hook's place: True when the kept answer may be given.
    fast: Callable[[Environ], bool] | None = None


def _declare(function: F, hook: Hook) -> F:
    if hook.kind not in KINDS or not hook.why:
        raise ValueError(f"A hook is declared {KINDS} with a reason, not {hook.kind!r}.")
    setattr(function, _ATTRIBUTE, hook)
    return function


def for_everyone(why: str) -> Callable[[F], F]:
    """Declare a hook whose effect on a kept screen's answer is the same for every visitor:
    sending Flask's answer again stands in for running it."""
    return lambda function: _declare(function, Hook(FOR_EVERYONE, why))


def per_request(why: str, fast: Callable[[Environ], bool] | None = None) -> Callable[[F], F]:
    """Declare a hook that must act on every request; `fast(environ)` does so in front of
    Flask (False: Flask answers). Without it, the fast path leaves its screens to Flask."""
    return lambda function: _declare(function, Hook(PER_REQUEST, why, fast))


@contextlib.contextmanager
def registered(app: Flask, kind: str, why: str) -> Iterator[None]:
    """Declare every hook an extension's init_app adds to `app` inside the block."""
    before = set(map(id, all_hooks(app)))
    yield
    declared = app.extensions.setdefault(_EXTENSION, {})
    for function in all_hooks(app):
        if id(function) not in before:
            declared[function] = Hook(kind, why)


# Flask's own: it gives every template `g`, `request` and `session`. A kept screen's template
# must show nothing per visitor from them (page_cache.cached), so it is the same for everyone.
_BUILT_IN = {
    "flask.templating._default_template_ctx_processor": Hook(
        FOR_EVERYONE, "Flask's: g, request and session for templates, never shown per visitor"
    ),
}


def declaration(app: Flask, function: Callable[..., Any]) -> Hook | None:
    """How `function`, a hook of `app`, is declared; None when it is not."""
    hook = getattr(function, _ATTRIBUTE, None)
    if isinstance(hook, Hook):
        return hook
    with contextlib.suppress(TypeError):  # an unhashable callable is simply not declared
        found = app.extensions.get(_EXTENSION, {}).get(function)
        if found is not None:
            return found
    name = f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', '')}"
    return _BUILT_IN.get(name)


def all_hooks(app: Flask, blueprint: str | None = "*") -> list[Callable[..., Any]]:
    """The app's hooks: all of them, or those that run for a request to `blueprint` (None:
    no blueprint) together with the app's own."""
    found: list[Callable[..., Any]] = []
    for attribute in HOOK_LISTS:
        for scope, functions in getattr(app, attribute).items():
            if blueprint == "*" or scope is None or _in_scope(scope, blueprint):
                found.extend(functions)
    for attribute in APP_HOOK_LISTS:
        found.extend(getattr(app, attribute))
    return found


def _in_scope(scope: str, blueprint: str | None) -> bool:
    # Nested blueprints ("a.b"): a parent's hooks run for its children's requests too.
    return blueprint is not None and (blueprint == scope or blueprint.startswith(f"{scope}."))


def name_of(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', function)}"


def undeclared_hooks(app: Flask) -> list[str]:
    """Every hook of `app` that is not declared (tests/test_hooks.py wants none)."""
    return [name_of(f) for f in all_hooks(app) if declaration(app, f) is None]


# ---- headers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    name: str
    kind: str
    why: str
    # Per request: the header's value for one fast answer, from the request and the body.
    value: Callable[[Environ, bytes], str] | None = None
    # Made from the body alone: an answer whose body is the same for everyone keeps Flask's.
    from_body: bool = False


HEADERS: dict[str, Header] = {}


def header(
    name: str,
    kind: str,
    why: str,
    value: Callable[[Environ, bytes], str] | None = None,
    *,
    from_body: bool = False,
) -> str:
    """Declare a response header the app sets (where it is set); returns its name."""
    if kind not in KINDS or not why:
        raise ValueError(f"A header is declared {KINDS} with a reason, not {kind!r}.")
    if kind == FOR_EVERYONE and value is not None:
        raise ValueError(f"{name} is the same for every visitor: it has no per-request value.")
    known = HEADERS.get(name.lower())
    if known is not None and (known.kind, known.value) != (kind, value):
        raise ValueError(f"{name} is declared twice, differently: {known.why!r} and {why!r}.")
    HEADERS[name.lower()] = Header(name, kind, why, value, from_body)
    return name


def header_declaration(name: str) -> Header | None:
    return HEADERS.get(name.lower())


def undeclared_headers(names: Iterator[str] | list[str] | set[str]) -> list[str]:
    """The names among `names` that no module declared."""
    return sorted({name for name in names if header_declaration(name) is None})


# Flask's and werkzeug's own, whatever view answers.
header("Content-Type", FOR_EVERYONE, "the view's kind of content")
header(
    "Content-Length",
    PER_REQUEST,
    "the body's length (each answer has its own tap key)",
    value=lambda _environ, body: str(len(body)),
    from_body=True,
)
header("Vary", FOR_EVERYONE, "what the view's answer depends on (HX-Request)")
header(
    "ETag",
    PER_REQUEST,
    "a hash of the body (Response.add_etag: the QR codes)",
    value=lambda _environ, body: quote_etag(generate_etag(body)),
    from_body=True,
)
header(
    "Date",
    PER_REQUEST,
    "the time of the answer (werkzeug adds it with an ETag)",
    value=lambda _environ, _body: http_date(),
)
header("Last-Modified", FOR_EVERYONE, "a static file's time")
header("Accept-Ranges", FOR_EVERYONE, "static files may be asked for in parts")
header("Content-Range", PER_REQUEST, "the part of a static file asked for")
header("Location", FOR_EVERYONE, "where a redirect leads, from the request's path")
header("Set-Cookie", PER_REQUEST, "a cookie for this browser (never sent again)")
header("Content-Disposition", PER_REQUEST, "an export's file name, with its time")
header("Allow", FOR_EVERYONE, "the methods a URL takes (a 405)")
