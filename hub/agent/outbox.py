"""The outbox: play reports and heartbeats waiting for the hub, in a SQLite file that outlives crashes."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('play', 'heartbeat')),
    body TEXT NOT NULL,
    queued_at REAL NOT NULL
);
-- Plays already dealt with (played, interrupted, failed or skipped), so a restart does not repeat them.
CREATE TABLE IF NOT EXISTS done (
    item_id TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    result TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (item_id, starts_at)
);
"""


class Outbox:
    """A report is stored with its report_id before anything is sent, and deleted only once the hub
    has answered 200; a redelivery after a crash between the two is counted once by the hub.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a report the agent queued must survive a power cut, not just a crash.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
            #: The done table's keys, also kept in memory: the scheduler and the fetcher ask about
            #: every manifest item on each pass, and must not queue behind a heartbeat's commit.
            self._done = {(item_id, starts_at) for item_id, starts_at in
                          self._db.execute("SELECT item_id, starts_at FROM done")}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self, statements: list[tuple[str, tuple]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._db.execute(sql, params)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # --- plays -------------------------------------------------------------------------------

    def finish(self, key: tuple[str, datetime], result: str, report: dict[str, Any] | None) -> str | None:
        """Mark a play done and queue its report (None: nothing to report), in one transaction."""
        statements = [("INSERT OR REPLACE INTO done (item_id, starts_at, result, at) VALUES (?, ?, ?, ?)",
                       (key[0], key[1].isoformat(), result, time.time()))]
        report_id = None
        if report is not None:
            report_id = str(uuid.uuid4())
            statements.append(("INSERT INTO outbox (kind, body, queued_at) VALUES ('play', ?, ?)",
                               (json.dumps({"report_id": report_id, **report}), time.time())))
        self._tx(statements)
        self._done.add((key[0], key[1].isoformat()))
        return report_id

    def is_done(self, key: tuple[str, datetime]) -> bool:
        """Whether a play was dealt with (from memory: the table is read once, at start)."""
        return (key[0], key[1].isoformat()) in self._done

    def forget_done(self, older_than_s: float) -> None:
        self._tx([("DELETE FROM done WHERE at < ?", (time.time() - older_than_s,))])
        self._done = {(item_id, starts_at) for item_id, starts_at in self._rows("SELECT item_id, starts_at FROM done")}

    def plays(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self._rows("SELECT id, body FROM outbox WHERE kind = 'play' ORDER BY id LIMIT ?", (limit,))
        return [(row_id, json.loads(body)) for row_id, body in rows]

    def pending_plays(self) -> int:
        return self._rows("SELECT count(*) FROM outbox WHERE kind = 'play'")[0][0]

    # --- heartbeats --------------------------------------------------------------------------

    def add_heartbeat(self, payload: dict[str, Any]) -> None:
        """Queue a heartbeat in place of any older one: the hub stamps last_seen on receipt, so only
        the newest status carries information after an outage."""
        self._tx([("DELETE FROM outbox WHERE kind = 'heartbeat'", ()),
                  ("INSERT INTO outbox (kind, body, queued_at) VALUES ('heartbeat', ?, ?)",
                   (json.dumps(payload), time.time()))])

    def heartbeat(self) -> tuple[int, dict[str, Any]] | None:
        rows = self._rows("SELECT id, body FROM outbox WHERE kind = 'heartbeat' ORDER BY id DESC LIMIT 1")
        return (rows[0][0], json.loads(rows[0][1])) if rows else None

    def remove(self, ids: list[int]) -> None:
        if ids:
            self._tx([(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(ids))})", tuple(ids))])
