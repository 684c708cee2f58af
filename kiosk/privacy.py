"""Keeping one visitor's data away from the next: no caching of pages that carry it."""

import uuid
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec

from flask import make_response
from flask.wrappers import Response

P = ParamSpec("P")


def no_store(view: Callable[P, object]) -> Callable[P, Response]:
    """Mark the view's every answer `Cache-Control: no-store`: Back must refetch, not replay."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        response = make_response(view(*args, **kwargs))
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    return wrapper


def new_form_key() -> str:
    """A fresh idempotency key for one rendered form: a resend of it stores nothing new."""
    return uuid.uuid4().hex
