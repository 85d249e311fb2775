"""The service layer: every operation the hub offers, one function each, for every door.

The API's routes, the console's pages, CAP and RSS ingest, the command line and the demo all call
these and nothing beneath them. A service runs its operation in one transaction and, after the
commit, its after-effects (wake the render workers, fire ``hub_on_*`` hooks), so no door can
forget one. Services compose: pass ``tx=`` to run several in one transaction (CAP ingest creates,
submits and approves in one); the after-effects then run once, after that transaction commits.

    route / page / ingest / cli ──► hub.services.<resource> ──► domain modules (hub/bulletins.py …)
                                          │                         └─► store (one transaction)
                                          └─ after commit: pipeline.wake(), hooks
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from hub.runtime import Hub

log = logging.getLogger(__name__)


@dataclass
class Transaction:
    """An open transaction and the effects to run once it has committed."""

    session: Session
    _effects: list[Callable[[], None]] = field(default_factory=list)

    def after_commit(self, effect: Callable[[], None]) -> None:
        """Run ``effect`` after the commit (never if the transaction rolls back)."""
        self._effects.append(effect)


class Services:
    """The hub's operations, grouped by resource: ``hub.services.bulletins.approve(…)``."""

    def __init__(self, hub: Hub) -> None:
        from hub.services.audit import AuditService
        from hub.services.bulletins import BulletinService
        from hub.services.devices import DeviceService
        from hub.services.directory import DirectoryService
        from hub.services.history import PlayHistory
        from hub.services.live import LiveService
        from hub.services.media import MediaService
        from hub.services.monitoring import MonitoringService
        from hub.services.playlists import PlaylistService
        from hub.services.pronunciations import PronunciationService
        from hub.services.sessions import SessionService
        from hub.services.sources import SourceService

        self.hub = hub
        self.bulletins = BulletinService(self)
        self.playlists = PlaylistService(self)
        self.directory = DirectoryService(self)
        self.devices = DeviceService(self)
        self.monitoring = MonitoringService(self)
        self.media = MediaService(self)
        self.sources = SourceService(self)
        self.sessions = SessionService(self)
        self.audit = AuditService(self)
        self.history = PlayHistory(self)
        self.pronunciations = PronunciationService(self)
        self.live = LiveService(self)

    @contextmanager
    def transaction(self, tx: Transaction | None = None) -> Iterator[Transaction]:
        """A new transaction that commits on success and then runs its after-effects; or, given
        ``tx``, that same transaction (its owner commits and runs the effects)."""
        if tx is not None:
            yield tx
            return
        with self.hub.store.session() as session:
            tx = Transaction(session)
            yield tx
        for effect in tx._effects:
            try:
                effect()
            except Exception:  # the write has committed: an after-effect must not turn it into an error
                log.exception("after-commit effect %r failed", effect)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session (on SQLite it never takes the write lock)."""
        with self.hub.store.reader() as session:
            yield session


class Service:
    """Base of each resource's service: reaches the hub and its transactions."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @property
    def hub(self) -> Hub:
        return self.services.hub

    def transaction(self, tx: Transaction | None = None):
        return self.services.transaction(tx)

    @contextmanager
    def reading(self, tx: Transaction | None = None) -> Iterator[Session]:
        """A read-only session, or the session of ``tx`` when the read belongs to a transaction."""
        if tx is not None:
            yield tx.session
            return
        with self.services.reading() as session:
            yield session


__all__ = ["Service", "Services", "Transaction"]
