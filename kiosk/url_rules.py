"""URL rules that compile their URL builders on first use instead of when the app is made.

Werkzeug compiles two Python functions per route (to build its URLs, with and without extra
arguments) as each route is added: about two thirds of `create_app`, that is of every start of
a kiosk (a Pi after a power cut) and of every test. Most routes are never built into a URL by
a given process (the hub's sync routes at a table, the lead's at a visitors' tablet), and a
builder that is needed costs the same compiled once, later.

One lock around every compile: CPython 3.11 keeps the `ast` module's recursion count per
interpreter, not per thread (python/cpython#106905), and Werkzeug builds each function with
`ast.parse`, so two threads compiling at once can fail with "AST constructor recursion depth
mismatch" (seen in the suite, once in about twenty runs, before the builders were lazy).
"""

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.routing import Rule

_COMPILING = threading.Lock()

Builder = Callable[..., tuple[str, str]]


class LazyBuilderRule(Rule):
    """A Werkzeug rule whose URL builders are compiled the first time a URL is built."""

    def _compile_builder(self, append_unknown: bool = True) -> Builder:
        compiled: Builder | None = None

        def build(rule: Rule, *args: Any, **kwargs: Any) -> tuple[str, str]:
            nonlocal compiled
            if compiled is None:
                with _COMPILING:
                    if compiled is None:
                        builder = Rule._compile_builder(rule, append_unknown)
                        compiled = builder.__get__(rule, None)
            return compiled(*args, **kwargs)

        # Rule.compile binds what this returns to the rule (`.__get__(self, None)`).
        return build


class KioskFlask(Flask):
    """Flask, with routes whose URL builders compile on first use."""

    url_rule_class = LazyBuilderRule
