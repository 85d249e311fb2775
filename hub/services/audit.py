"""The audit log, read back: who did what to which object, newest first, filtered and paged.

Rows are written by the operations themselves (bulletins, accounts, sessions, ingest), in the
transaction that makes the change; this service only reads them, for the admin and the monitor.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from hub import audit_chain
from hub.auth import Principal
from hub.clock import LOCAL_TZ
from hub.errors import Invalid
from hub.models import AuditEvent, User
from hub.validation import OFFSET_MAX
from hub.services import Service

#: Who may read the log.
READERS = ("admin", "monitor")
PAGE_MAX = 200


def _day(value: str | date | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


def _text(value: str | None, name: str, limit: int = 64) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > limit or "\x00" in value:
        raise Invalid(f"{name} must be at most {limit} characters")
    return value


class AuditService(Service):
    def verify(self) -> dict[str, Any]:
        """Walk the hash chain (``hub audit verify``): ``{"intact", "entries", "head"}``, or, broken,
        ``{"intact": False, "entries_checked", "entry", "problem"}`` naming the first bad entry."""
        with self.reading() as session:
            count, broken = audit_chain.verify(session)
            head = audit_chain.head(session)
        if broken is None:
            return {"intact": True, "entries": count, "head": head}
        return {"intact": False, "entries_checked": count, "entry": broken.entry_id, "problem": broken.what}

    def head(self) -> dict[str, Any]:
        """The chain's newest entry and its hash, ``{"entry", "head"}``: what an outside copy anchors."""
        with self.reading() as session:
            row = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc())
                                  .limit(1)).first()
        return {"entry": row[0] if row else None, "head": row[1] if row else None}

    def events(self, principal: Principal, *, action: str | None = None, actor: str | None = None,
               object_type: str | None = None, object_id: str | None = None,
               first: str | date | None = None, last: str | date | None = None,
               limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """One page of the log, newest first: ``{"items", "total", "limit", "offset"}``.

        ``actor`` is a user's name (exact); ``first`` and ``last`` are local days (Asia/Ho_Chi_Minh),
        both included. Each item carries ``actor_name`` (None for the hub itself or a name no user
        has any more)."""
        principal.require(*READERS)
        if not 1 <= limit <= PAGE_MAX or not 0 <= offset <= OFFSET_MAX:
            raise Invalid(f"limit must be 1 to {PAGE_MAX} and offset 0 to {OFFSET_MAX}")
        action = _text(action, "action")
        actor = _text(actor, "actor", 200)
        object_type = _text(object_type, "object_type", 32)
        object_id = _text(object_id, "object_id")
        start, end = _day(first, "from"), _day(last, "to")
        if start and end and end < start:
            raise Invalid("to must not be before from")
        query = select(AuditEvent, User.name).outerjoin(User, User.id == AuditEvent.actor)
        if action:
            query = query.where(AuditEvent.action == action)
        if actor:
            query = query.where(User.name == actor)
        if object_type:
            query = query.where(AuditEvent.object_type == object_type)
        if object_id:
            query = query.where(AuditEvent.object_id == object_id)
        if start:
            query = query.where(AuditEvent.at >= datetime.combine(start, time(), LOCAL_TZ))
        if end:
            query = query.where(AuditEvent.at < datetime.combine(end + timedelta(days=1), time(), LOCAL_TZ))
        with self.reading() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.execute(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                   .limit(limit).offset(offset)).all()
            items = [{"id": e.id, "at": e.at, "actor": e.actor, "actor_name": name, "action": e.action,
                      "object_type": e.object_type, "object_id": e.object_id, "from_status": e.from_status,
                      "to_status": e.to_status, "revision": e.revision, "content_hash": e.content_hash,
                      "detail": e.detail} for e, name in rows]
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    def actions(self, principal: Principal) -> list[str]:
        """Every action the log holds, for a filter's choices."""
        principal.require(*READERS)
        with self.reading() as session:
            return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


__all__ = ["AuditService"]
