"""The lead's settings form: the volunteer PIN, the kiosk's idle timeout, how long personal
data is kept, and how long the lead's own session lasts, checked and saved together."""

from collections.abc import Mapping

from flask_babel import gettext as _

from kiosk.services import lead_auth, volunteers
from kiosk.services.audit import record_audit
from kiosk.services.records import Checker
from kiosk.services.settings import (
    IDLE_SECONDS,
    RETENTION_DAYS,
    idle_seconds,
    retention_days,
    set_setting,
)

# (low, high) of each whole-number setting.
IDLE_SECONDS_RANGE = (20, 3600)
RETENTION_DAYS_RANGE = (1, 3650)
SESSION_MINUTES_RANGE = (5, 720)


def current_form() -> dict[str, str]:
    """The form as the settings stand now; the PIN is never shown."""
    return {
        "idle_seconds": str(idle_seconds()),
        "retention_days": str(retention_days()),
        "session_minutes": str(lead_auth.idle_minutes()),
        "pin": "",
    }


def save(form: Mapping[str, str], actor: str) -> None:
    """Check every field, then save them all (InvalidInput names each field at fault)."""
    check = Checker()
    idle = check.whole_number("idle_seconds", form.get("idle_seconds"), *IDLE_SECONDS_RANGE)
    retention = check.whole_number(
        "retention_days", form.get("retention_days"), *RETENTION_DAYS_RANGE
    )
    minutes = check.whole_number(
        "session_minutes", form.get("session_minutes"), *SESSION_MINUTES_RANGE
    )
    pin = (form.get("pin") or "").strip()
    if pin and not volunteers.valid_pin(pin):
        check.errors["pin"] = _(
            "The PIN is %(low)d to %(high)d digits.",
            low=volunteers.PIN_MIN_DIGITS,
            high=volunteers.PIN_MAX_DIGITS,
        )
    elif pin and lead_auth.check_passphrase(pin):
        check.errors["pin"] = _("The PIN must not be the lead passphrase.")
    check.done()
    set_setting(IDLE_SECONDS, str(idle))
    set_setting(RETENTION_DAYS, str(retention))
    set_setting(lead_auth.SESSION_IDLE_MINUTES, str(minutes))
    if pin:
        volunteers.set_volunteer_pin(pin, actor=actor)
    record_audit(
        "settings.saved",
        f"Idle {idle} s, retention {retention} days, lead session {minutes} min",
        actor,
    )
