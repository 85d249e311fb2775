"""For a plugin that calls a service over the network (a cloud voice): a circuit breaker, and
retries with jittered exponential back-off within a deadline.

Consecutive failures open the breaker; after a cool-down one trial call may close it again
(half-open). The gTTS and FPT.AI voices each keep one per engine object and retry the same way
(docs/voices.md, "The circuit breaker").
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


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


class Retryable(Exception):
    """A failure worth another attempt (429, 5xx, a timeout, a refused connection); it may carry
    the seconds a ``Retry-After`` header asked for."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def retry_after(headers: Any) -> float | None:
    """A ``Retry-After`` header in seconds (its date form is not used), or None."""
    try:
        return max(0.0, float(headers.get("Retry-After", "")))
    except (TypeError, ValueError):
        return None


def with_retries(call: Callable[[float], T], *, what: str, retries: int, deadline: float, timeout_s: float,
                 backoff_s: float, backoff_max_s: float, deadline_s: float, error: type[Exception],
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """``call(timeout)`` until it returns, retrying :class:`Retryable` failures ``retries`` more
    times: waits ``backoff_s`` × 2ⁿ (capped at ``backoff_max_s``) jittered to 50-100 % so many
    workers do not retry in step, a ``Retry-After`` honoured up to the cap; never past
    ``deadline`` (a ``time.monotonic()`` value). Gives up with ``error`` naming ``what``."""
    attempts = retries + 1
    for attempt in range(attempts):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise error(f"{what} gave up after {deadline_s:g}s")
        try:
            return call(min(timeout_s, remaining))
        except Retryable as exc:
            if attempt + 1 == attempts:
                raise error(f"{what} failed after {attempts} attempts: {exc}") from exc
            delay = min(backoff_max_s, backoff_s * 2**attempt) * random.uniform(0.5, 1.0)
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, backoff_max_s))
            if time.monotonic() + delay >= deadline:
                raise error(f"{what} gave up within {deadline_s:g}s: {exc}") from exc
            log.info("%s: %s; retry %d in %.2fs", what, exc, attempt + 1, delay)
            sleep(delay)
    raise AssertionError("unreachable")


def looks_like_mp3(audio: bytes) -> bool:
    """Whether bytes start as MP3 does (an ID3 tag, or a frame sync): a cloud voice's answer check."""
    if audio.startswith(b"ID3"):
        return len(audio) > 10
    return len(audio) >= 4 and audio[0] == 0xFF and (audio[1] & 0xE0) == 0xE0
