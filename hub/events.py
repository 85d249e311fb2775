"""Device events: each subscribed device is told, over its server-sent event stream, whenever its
manifest changes, with the manifest itself riding along.

One watcher per process tells the whole fleet in one pass, woken at once when this process
commits a change and otherwise checking every ``poll_s`` for another process's change (the
schedule counter) or time passing (a validity edge, a new window).
"""

from __future__ import annotations

import asyncio
import logging

from hub.auth import Principal
from hub.changes import ScheduleCounter
from hub.clock import utcnow
from hub.manifests import Entry, Manifests

log = logging.getLogger(__name__)


class DeviceEvents:
    """The subscribed devices of this process and the watcher that tells them of changes."""

    def __init__(self, manifests: Manifests, counter: ScheduleCounter, poll_s: float = 0.5) -> None:
        self.manifests = manifests
        self.counter = counter
        self.poll_s = poll_s
        self._subscribers: dict[str, set[tuple[asyncio.Queue, Principal]]] = {}
        #: The ETag each subscribed queue was told last.
        self._told: dict[int, str] = {}
        self._watcher: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        counter.listen(self._wake_watcher)

    async def subscribe(self, device: Principal) -> asyncio.Queue:
        """A queue that receives this device's manifest entry now and whenever it changes."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=8)
        self._subscribers.setdefault(device.id, set()).add((queue, device))
        if self._watcher is None or self._watcher.done():
            self._loop = asyncio.get_running_loop()
            self._wakeup = asyncio.Event()
            self._watcher = self._loop.create_task(self._watch())
        # A fleet reconnecting at once mostly finds its manifests cached: only a rebuild, which
        # reads the store, goes to a worker thread.
        entry = self.manifests.cached_entry(device) or await asyncio.to_thread(self.manifests.get, device)
        self._told[id(queue)] = entry.etag
        queue.put_nowait(entry)
        return queue

    def unsubscribe(self, device: Principal, queue: asyncio.Queue) -> None:
        subscribers = self._subscribers.get(device.id, set())
        subscribers.discard((queue, device))
        self._told.pop(id(queue), None)
        if not subscribers:
            self._subscribers.pop(device.id, None)

    @property
    def subscribed(self) -> int:
        """How many event streams this process holds."""
        return sum(len(queues) for queues in self._subscribers.values())

    def _wake_watcher(self) -> None:
        """Called after this process commits a change: the watcher looks at once, not at its next tick."""
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wakeup.set)

    def _pass(self) -> list[tuple[asyncio.Queue, Entry]]:
        """Every subscribed device's current manifest where its ETag differs from what its queue
        was told; nothing (and no rebuild) while every held manifest is still fresh.

        One thread hand-off for the whole fleet: devices of a commune share one resolved timeline,
        so a pass over 200 devices costs a few hundred milliseconds at most.
        """
        generation = self.counter.value()
        now = utcnow()
        # Another process's change shows in the counter; time passing shows as staleness.
        if all(self.manifests.is_fresh(device_id, generation, now) for device_id in list(self._subscribers)):
            return []
        changed = []
        for subscribers in list(self._subscribers.values()):
            for queue, device in list(subscribers):
                entry = self.manifests.get(device, generation=generation, now=now)
                if self._told.get(id(queue)) != entry.etag:
                    changed.append((queue, entry))
        return changed

    async def _watch(self) -> None:
        # Woken at once by this process's commits (no polling interval on an approval's path);
        # the timeout only catches other processes' changes and time passing.
        while self._subscribers:
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.poll_s)
            except asyncio.TimeoutError:
                pass
            self._wakeup.clear()
            try:
                for queue, entry in await asyncio.to_thread(self._pass):
                    self._told[id(queue)] = entry.etag
                    if queue.full():
                        queue.get_nowait()
                    queue.put_nowait(entry)
            except Exception:
                log.exception("device event watcher")

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
