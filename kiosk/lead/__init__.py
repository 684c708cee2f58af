"""The team lead's console, behind a passphrase: one module per job.

- auth.py: logging in and out, and the first-run setup link
- dashboard.py: the live dashboard (and its "session ends" prompt), the printable summary,
  questions answered
- connect.py: connecting a tablet (the kiosk's address as a QR code), the paper sheet's link
- events.py: creating, editing, activating and closing events
- data.py: exports, merging another tablet's file, erasure
- records.py: searching, correcting and erasing one record
- settings.py: the volunteer PIN, timeouts, retention
- hub.py: many tables, one hub: tables and their join codes (on the hub), joining one
- team.py: Our team, the team's own page (name, fundraising page, contact, next events)
- audit.py: the audit log
- blueprint.py: the blueprint and what every page shares: the session guard, no-store,
  and how a form answers (422 with a message next to each field at fault)

This module puts them together: importing a view module registers its views on `bp`.
"""

# Imported for what they do: each registers its views on `bp`.
from kiosk.lead import (  # noqa: F401
    audit,
    auth,
    connect,
    dashboard,
    data,
    events,
    hub,
    records,
    settings,
    team,
)
from kiosk.lead.blueprint import OPEN_ENDPOINTS, bp

__all__ = ["OPEN_ENDPOINTS", "bp"]
