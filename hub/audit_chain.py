"""The audit log as a hash chain: each entry holds the hash of the one before it.

An entry's ``hash`` is the SHA-256 of the previous entry's hash, a newline, and the entry's
canonical content (its fields as compact JSON with sorted keys, times in UTC). Changing an entry
breaks its own hash; removing one breaks the link of the entry after it; inserting one breaks the
link of the entry after it too. ``hub audit verify`` walks the chain and names the first break.

Appends are serialised: before it reads the chain's head, the flush that adds entries bumps the
``audit`` counter row, which takes SQLite's write lock (writers begin IMMEDIATE anyway) and the
row's lock on PostgreSQL, so two processes can never link to the same head.

What a chain cannot show by itself: someone who can write the database may rewrite every entry
from the one they changed onwards. ``head()`` is the value to copy somewhere else (a log line, a
letter to the province) to anchor it; docs/security.md says more.

The migration that added the chain (0007) fills it for the entries that existed before, with the
same rule, written out again there as migrations must stand alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from hub.models import AuditEvent, Counter
from hub.periodic import Periodic

log = logging.getLogger("hub.audit")

FIELDS = ("at", "actor", "action", "object_type", "object_id", "from_status", "to_status", "revision",
          "content_hash", "detail")
COUNTER = "audit"


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(entry: AuditEvent | dict[str, Any]) -> bytes:
    get = entry.get if isinstance(entry, dict) else lambda name: getattr(entry, name)
    body = {name: get(name) for name in FIELDS}
    body["at"] = _utc(body["at"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def link(previous: str | None, entry: AuditEvent | dict[str, Any]) -> str:
    return hashlib.sha256((previous or "").encode() + b"\n" + canonical(entry)).hexdigest()


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    new = [obj for obj in session.new if isinstance(obj, AuditEvent)]
    if not new:
        return
    # The lock first (see the module's docstring), then the head it protects.
    bumped = session.execute(update(Counter).where(Counter.name == COUNTER).values(value=Counter.value + 1))
    if bumped.rowcount == 0:
        session.add(Counter(name=COUNTER, value=1))
    with session.no_autoflush:
        head = session.scalar(select(AuditEvent.hash).where(AuditEvent.hash.is_not(None))
                              .order_by(AuditEvent.id.desc()).limit(1))
    for entry in new:
        # In UTC, as the column keeps it (SQLite drops the offset): what is hashed is what is read back.
        at = entry.at or datetime.now(timezone.utc)
        entry.at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)
        entry.prev_hash = head
        entry.hash = head = link(head, entry)


def install(session_class: Any) -> None:
    """Chain every AuditEvent added through sessions of this class (a sessionmaker)."""
    if not event.contains(session_class, "before_flush", _before_flush):
        event.listen(session_class, "before_flush", _before_flush)


def head(session: Session) -> str | None:
    return session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))


@dataclass(frozen=True)
class Break:
    entry_id: int
    what: str

    def __str__(self) -> str:
        return f"audit entry #{self.entry_id}: {self.what}"


def verify(session: Session) -> tuple[int, Break | None]:
    """(entries checked, the first break or None), walking the chain in id order."""
    previous_hash: str | None = None
    previous_id: int | None = None
    seen: dict[str, int] = {}
    count = 0
    for entry in session.scalars(select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000):
        count += 1
        if entry.hash is None:
            return count, Break(entry.id, "not in the chain (written outside the hub)")
        if link(entry.prev_hash, entry) != entry.hash:
            return count, Break(entry.id, "changed (its content no longer matches its hash)")
        if entry.prev_hash != previous_hash:
            if entry.prev_hash in seen:
                return count, Break(previous_id, f"inserted (entry #{entry.id} links to #{seen[entry.prev_hash]}, "
                                                 "the entry before it)")
            where = f"between #{previous_id} and #{entry.id}" if previous_id is not None else f"before #{entry.id}"
            return count, Break(entry.id, f"an entry was removed {where} (its link to the previous entry is broken)")
        seen[entry.hash] = entry.id
        previous_hash, previous_id = entry.hash, entry.id
    return count, None


class HeadLogger:
    """Writes the chain's head to the log at start and every ``every_s`` seconds (``hub serve``):
    a log shipped elsewhere (syslog, the province's collector) then holds anchors that a later
    rewrite of the database cannot change (docs/security.md). ``head`` reads it (the audit service)."""

    def __init__(self, head: Any, every_s: float) -> None:
        self.head = head
        self._last: dict[str, Any] | None = None
        self._thread = Periodic("audit-head", self.write, every_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop(5)

    def write(self) -> None:
        try:
            found = self.head()
        except Exception:  # a store that is down now is logged by others; try again next time
            log.warning("audit head: the store could not be read", exc_info=True)
            return
        log.info("audit head: entry #%s hash %s%s", found["entry"], found["head"],
                 " (unchanged)" if found == self._last else "")
        self._last = found
