"""Where imported bulletins come from: polled feeds, the ledger of processed messages, and the system
principals that imports are written (and, when trusted, approved) by.

The RSS/Atom importer and CAP ingest live in the ingest plugin; what they keep in the store lives
here, so the plugin never touches the tables.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hub import accounts
from hub.auth import Principal
from hub.errors import Conflict, Invalid
from hub.models import AuditEvent, Commune, Source, User, utcnow
from hub.services import Service, Transaction


@dataclass(frozen=True)
class FeedSource:
    """A stored feed as the importer reads it."""

    id: str
    url: str
    commune: str | None
    active: bool
    etag: str | None
    modified: str | None
    last_polled_at: datetime | None
    last_error: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Source) -> FeedSource:
        return cls(row.id, row.url, row.commune, row.active, row.etag, row.modified, row.last_polled_at,
                   row.last_error, row.created_at)

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "commune": self.commune, "active": self.active,
                "etag": self.etag, "modified": self.modified, "last_polled_at": self.last_polled_at,
                "last_error": self.last_error, "created_at": self.created_at}


def ledger_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class SourceService(Service):
    # --- feeds ------------------------------------------------------------------------------------

    def add_feed(self, url: str, commune: str | None = None, *, tx: Transaction | None = None) -> dict[str, Any]:
        """Store a feed to poll (``url`` already checked by the importer); its entries will target
        ``commune``, or every commune when None."""
        with self.transaction(tx) as t:
            if commune is not None and t.session.get(Commune, commune) is None:
                raise Invalid(f"unknown commune code: {commune}")
            if t.session.scalar(select(Source).where(Source.url == url)) is not None:
                raise Conflict(f"a source with this URL exists already: {url}")
            row = Source(url=url, commune=commune)
            t.session.add(row)
            t.session.flush()
            return FeedSource.of(row).view()

    def feeds(self) -> list[FeedSource]:
        with self.reading() as session:
            return [FeedSource.of(s) for s in session.scalars(select(Source).order_by(Source.created_at, Source.id))]

    def feed(self, source_id: str) -> FeedSource | None:
        with self.reading() as session:
            row = session.get(Source, source_id)
            return FeedSource.of(row) if row is not None else None

    def record_poll(self, source_id: str, *, error: str | None, etag: str | None, modified: str | None) -> None:
        with self.transaction() as t:
            row = t.session.get(Source, source_id)
            if row is not None:
                row.last_polled_at = utcnow()
                row.last_error = error
                row.etag, row.modified = etag, modified

    # --- the ledger of processed messages ---------------------------------------------------------

    def ledger_entry(self, kind: str, key: str, *, tx: Transaction | None = None) -> dict[str, Any] | None:
        """What was recorded when the message ``key`` of ``kind`` was processed, or None."""
        with self.reading(tx) as session:
            row = session.scalar(select(AuditEvent).where(
                AuditEvent.object_type == kind, AuditEvent.object_id == ledger_id(key)).limit(1))
            return dict(row.detail or {}) if row is not None else None

    def record_ledger(self, tx: Transaction, actor: Principal, kind: str, key: str, detail: dict[str, Any]) -> None:
        """One audit row for a processed message: makes re-sent messages idempotent."""
        tx.session.add(AuditEvent(actor=actor.id, action="ingest", object_type=kind, object_id=ledger_id(key),
                                  detail=detail))
        tx.session.flush()

    # --- system principals ------------------------------------------------------------------------

    def system_principal(self, name: str, *, tx: Transaction | None = None) -> Principal:
        """The editor-role user ``name``, created on first use; it can never sign in.

        The token ``add_user`` makes is discarded and the row is deactivated, so the name stands in
        the audit log for an upstream system or a feed and nobody can act as it through the API.
        """
        with self.transaction(tx) as t:
            session = t.session
            user = session.scalar(select(User).where(User.name == name))
            if user is None:
                try:
                    # Two processes may make the same principal at once; the loser reads the winner's.
                    with session.begin_nested():
                        record = accounts.add_user(session, name, "editor")
                        user = session.get(User, record["id"])
                        user.active = False
                        session.flush()
                except IntegrityError:
                    user = session.scalar(select(User).where(User.name == name))
                    if user is None:
                        raise
            elif user.active:
                # A person's account that happens to carry the name must not become the system's voice.
                raise Conflict(f"user name {name!r} belongs to an active account; rename it so that "
                               "the ingest plugin can use the name for its system principal")
            return Principal(user.id, user.name, user.role)
