"""The kiosk's one clock: every "now" and "today" comes from here.

A Raspberry Pi has no clock battery, so the wall clock can be hours or months off until it
finds the network. Code that needs the time asks this module (never `datetime.now()`
directly), so tests can move time by patching `kiosk.clock.now` and so decisions that must
not trust the wall clock are easy to find: nothing that decides what to keep or delete may
compare these times alone.
"""

from datetime import UTC, date, datetime


def now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def today() -> date:
    """Today's date on this machine's local clock (the table's day)."""
    return now().astimezone().date()


def local_now() -> datetime:
    """The current time in this machine's local time zone."""
    return now().astimezone()
