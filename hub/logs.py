"""Logs without secrets: tokens in request lines are masked before anything is written.

Display boards put ``?token=hubd_…`` on their first request (a kiosk cannot set a header), and
uvicorn's access log writes every request line as it came. A log is read by more people than the
token was meant for (and kept longer), so ``token=`` values in a query string, and the hub's own
token shapes anywhere in the line, become ``…``-masked before the record is formatted (issue 14).
"""

from __future__ import annotations

import logging
import re

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


def install() -> None:
    """On the loggers that write request lines: uvicorn's access and error logs."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
