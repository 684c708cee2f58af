"""The volunteer PIN: set it, check it, and notice when it changed."""

import hashlib

from kiosk.services.audit import record_audit
from kiosk.services.hashing import hash_secret, verify_secret
from kiosk.services.settings import VOLUNTEER_PIN_HASH, get_setting, set_setting

PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 12


def valid_pin(pin: str) -> bool:
    """4 to 12 ASCII digits: short enough for a table, long enough not to guess at a glance."""
    return pin.isascii() and pin.isdigit() and PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS


def set_volunteer_pin(pin: str, actor: str = "") -> None:
    if not valid_pin(pin):
        raise ValueError(f"The PIN must be {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits.")
    set_setting(VOLUNTEER_PIN_HASH, hash_secret(pin))
    record_audit("volunteer_pin", "volunteer PIN set", actor)


def volunteer_pin_is_set() -> bool:
    return bool(get_setting(VOLUNTEER_PIN_HASH))


def check_volunteer_pin(pin: str) -> bool:
    return valid_pin(pin) and verify_secret(get_setting(VOLUNTEER_PIN_HASH), pin)


def pin_fingerprint() -> str:
    """A short digest of the stored hash: an unlock made with an old PIN stops working."""
    stored = get_setting(VOLUNTEER_PIN_HASH) or ""
    return hashlib.sha256(stored.encode()).hexdigest()[:16]
