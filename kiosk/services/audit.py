"""The audit log: logins, exports, imports, erasures and purges, with time and what."""

from datetime import datetime

from sqlalchemy import select

from kiosk.extensions import db
from kiosk.models import AuditEntry, utcnow


def record_audit(
    action: str, detail: str = "", actor: str = "", at: datetime | None = None
) -> AuditEntry:
    """Append one entry and commit it, so the log holds even if what follows fails.

    `at` lets a service with its own clock (the login throttle) stamp the entry.
    """
    entry = AuditEntry(action=action, detail=detail[:500], actor=actor[:60], at=at or utcnow())
    db.session.add(entry)
    db.session.commit()
    return entry


def recent_audit(limit: int = 200) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.at.desc()).limit(limit)))
