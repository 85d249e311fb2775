"""Logs without secrets: tokens in request lines are masked before anything is written.

Display boards put ``?token=hubd_…`` on their first request (a kiosk cannot set a header), and
uvicorn's access log writes every request line as it came. A log is read by more people than the
token was meant for (and kept longer), so ``token=`` values in a query string, and the hub's own
token shapes anywhere in the line, become ``…``-masked before the record is formatted (issue 14).
"""

from __future__ import annotations

import logging
import re
import threading
import time

#: ``token=…`` / ``access_token=…`` in a query string, and the hub's own token prefixes anywhere.
_QUERY = re.compile(r"((?:^|[?&;])(?:access_)?token=)[^&#\s]*", re.IGNORECASE)
_BARE = re.compile(r"\b(hub[a-z]_)[A-Za-z0-9_\-]{8,}")


def redact(text: str) -> str:
    return _BARE.sub(r"\1…", _QUERY.sub(r"\1…", text))


class RedactTokens(logging.Filter):
    """Masks tokens in a record's message and string arguments (uvicorn's access log passes the
    request line as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


class Repeats(logging.Filter):
    """Lets the same message through at most ``burst`` times per ``window_s`` seconds, then one
    line saying how many were held back. Under a flood of connections uvicorn warns "Exceeded
    concurrency limit." and asyncio's accept loop logs every failed accept: 188,416 lines in 30 s
    in issue 14's test, a disk-filling attack of its own."""

    def __init__(self, burst: int = 5, window_s: float = 10.0) -> None:
        super().__init__()
        self.burst, self.window_s = burst, window_s
        self._seen: dict[str, list[float]] = {}  # message → [window start, count]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{record.msg}"
        now = time.monotonic()
        with self._lock:
            start, count = self._seen.get(key, (now, 0))
            if now - start >= self.window_s:
                held = count - self.burst
                start, count = now, 0
                if held > 0:
                    record.msg = f"{record.msg} (and {held} more like it in the last {self.window_s:.0f} s)"
            count += 1
            if len(self._seen) > 1000:
                self._seen.clear()
            self._seen[key] = (start, count)
        return count <= self.burst


def install() -> None:
    """On the loggers that write request lines: uvicorn's access and error logs; floods of one
    warning (uvicorn's, asyncio's accept loop) are thinned by :class:`Repeats`."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
    for name in ("uvicorn.error", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, Repeats) for f in logger.filters):
            logger.addFilter(Repeats())
