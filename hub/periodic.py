"""A daemon thread that calls a function at start and then every few seconds, until stopped
(``hub serve``'s background chores: the audit head in the log, the live archive recovery)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, call: Callable[[], object], every_s: float) -> None:
        self.name, self.call, self.every_s = name, call, every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.every_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                self.call()
            except Exception:  # the store down now, say: try again next time
                log.warning("%s failed; trying again in %s s", self.name, self.every_s, exc_info=True)
            if self._stop.wait(self.every_s):
                return
