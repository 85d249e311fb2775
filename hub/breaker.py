"""A circuit breaker for a plugin that calls a service over the network (a cloud voice).

Consecutive failures open it; after a cool-down one trial call may close it again (half-open).
The gTTS and FPT.AI voices each keep one per engine object (docs/voices.md, "The circuit breaker").
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class CircuitBreaker:
    """Consecutive-failure breaker with a cool-down and a single half-open trial; thread-safe."""

    def __init__(self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic):
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._open_until is None:
            return "closed"
        if self._clock() < self._open_until:
            return "open"
        return "half-open"

    def allows(self) -> bool:
        """Whether a call may be tried now (no side effects)."""
        with self._lock:
            state = self._state()
            return state == "closed" or (state == "half-open" and not self._trial_running)

    def acquire(self) -> bool:
        """Claim the right to call; in half-open only one caller gets it until it reports back."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half-open" and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._open_until = None
            self._trial_running = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_running = False
            if self._failures >= self.threshold:
                self._open_until = self._clock() + self.cooldown_s

    def release(self) -> None:
        """Give back a half-open trial that ended without a verdict (a bug, not Google)."""
        with self._lock:
            self._trial_running = False
