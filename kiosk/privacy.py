"""Keeping one visitor's data away from the next. (No-store caching is global: kiosk.security.)"""

import uuid


def new_form_key() -> str:
    """A fresh idempotency key for one rendered form: a resend of it stores nothing new."""
    return uuid.uuid4().hex
