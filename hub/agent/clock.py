"""Hub time: the device's wall clock plus an offset measured against the manifest's ``server_time``."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone


class Clock:
    """``now()`` is hub time; every schedule decision uses it, since device clocks drift or are unset.

    Each manifest response gives one sample: the hub stamped ``server_time`` somewhere between the
    request leaving and the response arriving, so the best estimate of the local time at that
    instant is the round trip's midpoint, wrong by at most half the round trip. Of the last few
    samples the one with the shortest round trip wins (as NTP does), so one slow 3G answer does not
    move the schedule by seconds.
    """

    def __init__(self, offset_s: float = 0.0, *, local: Callable[[], float] = time.time, samples: int = 8) -> None:
        self.local = local
        self._offset_s = offset_s
        self._samples: deque[tuple[float, float]] = deque(maxlen=samples)
        self._lock = threading.Lock()

    @property
    def offset_s(self) -> float:
        return self._offset_s

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.local() + self._offset_s, timezone.utc)

    @property
    def measured(self) -> bool:
        """True once a sample was taken (the offset is no longer only the starting guess)."""
        return bool(self._samples)

    def observe(self, server_time: datetime, sent: float, received: float) -> float:
        """Record one sample (``sent``/``received`` are local wall-clock seconds); return the offset."""
        rtt = max(0.0, received - sent)
        offset = server_time.timestamp() - (sent + received) / 2
        with self._lock:
            self._samples.append((rtt, offset))
            self._offset_s = min(self._samples)[1]
            return self._offset_s
