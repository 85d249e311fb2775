"""Failed authentication slowed per client address (issue 14).

Tokens are unguessable, but a scan must still be visible and must not load the database: past
``limit`` failed token checks from one address within ``window_s``, that address gets ``429`` with
``Retry-After`` until the window has passed, without a token lookup. Successful requests do not
count. Each process keeps its own count (in memory); behind nginx the address is the one uvicorn
takes from X-Forwarded-For, which it trusts only from the proxy.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class FailedAuth:
    def __init__(self, limit: int = 30, window_s: float = 60.0, *, clock=time.monotonic,
                 max_addresses: int = 100_000) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self.max_addresses = max_addresses
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str | None) -> int | None:
        """Seconds to wait if this address is throttled now, else None."""
        if not address:
            return None
        now = self.clock()
        with self._lock:
            times = self._failures.get(address)
            if times is None:
                return None
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if not times:
                del self._failures[address]
                return None
            if len(times) < self.limit:
                return None
            return max(1, math.ceil(times[0] + self.window_s - now))

    def failed(self, address: str | None) -> None:
        if not address:
            return
        now = self.clock()
        with self._lock:
            if address not in self._failures and len(self._failures) >= self.max_addresses:
                # A flood from many addresses must not grow memory without bound: forget the oldest.
                self._failures.pop(next(iter(self._failures)))
            times = self._failures.setdefault(address, deque(maxlen=self.limit))
            times.append(now)
