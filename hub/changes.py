"""The ``schedule`` counter: it goes up, in the same transaction, with every change that can alter
what a device must play or show, so a device poll can tell in one query whether anything changed.
The ``devices`` counter goes up (with it) only when a device is added, moved, deactivated or given
a new token: what device tokens are cached by, so an approval does not make every device of the
fleet authenticate against the store again on the download that follows it.

A session listener does the bumping, so no write path can forget it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session

from hub import notify
from hub.models import Artifact, Bulletin, Commune, Counter, Device, MediaObject, Playlist

log = logging.getLogger(__name__)
SCHEDULE = "schedule"
DEVICES = "devices"
#: Device columns that change what its manifest says (heartbeats touch others and must stay cheap).
_DEVICE_FIELDS = ("commune", "kind", "active", "token_hash")
_BULLETIN_FIELDS = ("status", "revision", "approved_revision")


def _matters(obj: object) -> bool:
    """Whether a changed row can change a manifest."""
    if isinstance(obj, (Playlist, Commune, Artifact, MediaObject)):
        return True
    state = inspect(obj)
    fields = _DEVICE_FIELDS if isinstance(obj, Device) else _BULLETIN_FIELDS if isinstance(obj, Bulletin) else None
    if fields is None:
        return False
    return any(state.attrs[name].history.has_changes() for name in fields)


def _new_matters(session: Session, obj: object) -> bool:
    """Whether a new row can change a manifest. Not a stored file's record (nothing plays it until
    a playlist or an artifact names it), nor an artifact of a revision not yet published (rendered
    at submission: its approval, a change of the bulletin, is what devices must hear of)."""
    if isinstance(obj, MediaObject):
        return False
    if isinstance(obj, Artifact):
        bulletin = session.get(Bulletin, obj.bulletin_id)
        return bulletin is None or bulletin.publishes(obj.revision)
    return isinstance(obj, (Playlist, Commune, Device, Bulletin))


def _before_flush(session: Session, _context, _instances) -> None:
    if session.info.get("devices_bumped"):
        return
    dirty = [obj for obj in session.dirty if session.is_modified(obj)]
    if any(isinstance(obj, Device) for obj in (*session.new, *session.deleted)) or \
            any(isinstance(obj, Device) and _matters(obj) for obj in dirty):
        bump(session, devices=True)
        return
    if session.info.get("schedule_bumped"):
        return
    if any(isinstance(obj, (Playlist, Commune, Artifact, MediaObject, Bulletin)) for obj in session.deleted) \
            or any(_new_matters(session, obj) for obj in session.new) or any(_matters(obj) for obj in dirty):
        bump(session)


def _after_rollback(session: Session, *_args) -> None:
    session.info.pop("schedule_bumped", None)
    session.info.pop("devices_bumped", None)


def install(session_factory, on_bump=None) -> None:
    """Bump the counter from sessions of ``session_factory``; call ``on_bump()`` after such a commit."""

    def after_commit(session: Session) -> None:
        session.info.pop("devices_bumped", None)
        if session.info.pop("schedule_bumped", None) and on_bump is not None:
            on_bump()

    event.listen(session_factory, "before_flush", _before_flush)
    event.listen(session_factory, "after_commit", after_commit)
    event.listen(session_factory, "after_rollback", _after_rollback)


def bump(session: Session, *, devices: bool = False) -> None:
    """Raise the schedule counter (and with ``devices`` the devices counter) once per transaction
    (a write lock SQLite holds until commit anyway)."""
    names = [name for name, flag, wanted in ((SCHEDULE, "schedule_bumped", True), (DEVICES, "devices_bumped", devices))
             if wanted and not session.info.get(flag)]
    for name in names:
        session.info["schedule_bumped" if name == SCHEDULE else "devices_bumped"] = True
        changed = session.execute(update(Counter).where(Counter.name == name).values(value=Counter.value + 1)).rowcount
        if changed == 0:
            session.add(Counter(name=name, value=1))
    if names:
        # Other processes hear of it when this transaction commits (PostgreSQL; hub/notify.py).
        notify.announce(session, notify.CHANGES, "schedule")


def generation(session: Session) -> int:
    return session.scalar(select(Counter.value).where(Counter.name == SCHEDULE)) or 0


def generations(session: Session) -> tuple[int, int]:
    """The schedule and devices counters, in one query."""
    values = dict(session.execute(select(Counter.name, Counter.value).where(Counter.name.in_((SCHEDULE, DEVICES)))).all())
    return values.get(SCHEDULE, 0), values.get(DEVICES, 0)


class ScheduleCounter:
    """This process's view of the counter: read in the background, so that a device poll never
    waits on the store, and told at once of this process's own commits.

    Another process's change shows after at most ``ttl_s``; this process's own at once (the store
    calls :meth:`invalidate` after such a commit, and listeners — the event fan-out — are woken).
    """

    def __init__(self, store, ttl_s: float = 0.25) -> None:
        self.store = store
        self.ttl_s = ttl_s
        #: (when read, schedule, devices)
        self._cached: tuple[float, int, int] | None = None
        #: Counts invalidations: a read that began before one must not be cached after it (it
        #: may have read the value from before this process's own commit).
        self._epoch = 0
        self._lock = threading.Lock()
        self._listeners: list = []
        self._refresher = None
        store.on_schedule_change.append(self.invalidate)

    def listen(self, callback) -> None:
        """Call ``callback()`` (from any thread) whenever this process commits a change."""
        self._listeners.append(callback)

    def invalidate(self) -> None:
        with self._lock:
            self._epoch += 1
            self._cached = None
        for callback in self._listeners:
            callback()

    def _read(self) -> tuple[int, int]:
        with self.store.reader() as session:
            return generations(session)

    def _both(self) -> tuple[int, int]:
        cached = self._cached
        clock = time.monotonic()
        if cached is not None and clock - cached[0] < self.ttl_s:
            return cached[1], cached[2]
        epoch = self._epoch
        values = self._read()
        self._keep(epoch, clock, values)
        return values

    def value(self) -> int:
        """The schedule counter, from the cache while it is fresh, else from the store."""
        return self._both()[0]

    def devices(self) -> int:
        """The devices counter, from the cache while it is fresh, else from the store."""
        return self._both()[1]

    def _keep(self, epoch: int, clock: float, values: tuple[int, int]) -> None:
        """Cache a read that began at ``epoch`` and ``clock``, unless an invalidation came since."""
        with self._lock:
            if self._epoch == epoch:
                self._cached = (clock, *values)

    def fresh(self) -> int | None:
        """The schedule counter if the cache is fresh, without any I/O; else None."""
        cached = self._cached
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        return None

    def devices_fresh(self) -> int | None:
        """The devices counter if the cache is fresh, without any I/O; else None."""
        cached = self._cached
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[2]
        return None

    async def keep_fresh(self) -> None:
        """Read the counter every ``ttl_s / 2`` in a worker thread (a crowd of polls never all ask
        the store at once when the value ages)."""
        while True:
            try:
                epoch, clock = self._epoch, time.monotonic()
                values = await asyncio.to_thread(self._read)
                self._keep(epoch, clock, values)
            except Exception:
                log.exception("reading the schedule counter")
            await asyncio.sleep(self.ttl_s / 2)

    def start(self) -> None:
        """Start the refresher on the running event loop (the server's lifespan calls this)."""
        self._refresher = asyncio.get_running_loop().create_task(self.keep_fresh())

    def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
