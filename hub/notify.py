"""Several processes, one hub: on PostgreSQL, ``LISTEN/NOTIFY`` tells every process at once of a
change another one committed.

Two channels. ``hub_changes``: the schedule (and devices) counter went up — what the device
caches, the event-stream fan-out, device tokens and media audiences follow — sent by
``hub.changes.bump`` inside the transaction that bumps it. ``hub_jobs``: render jobs were queued,
sent by ``hub.pipeline.enqueue``. PostgreSQL delivers a notification only when its transaction
commits, and delivers identical ones of one transaction once, so a listener never hears of a
change before it can read it.

Each process holds one listening connection in a thread (:class:`Listener`); on a notification it
calls the process's own handlers — ``ScheduleCounter.invalidate`` (which also wakes the event
watcher) and ``Pipeline.wake`` — the same ones this process's own commits call. A lost connection
is opened again, and the handlers are called once after it (a change may have gone by unheard).
The timed checks stay as the safety net: the counter's refresher and the workers' poll.
On SQLite nothing is sent or heard: every process on the one machine reads the counter row.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
CHANGES = "hub_changes"
JOBS = "hub_jobs"


def announce(session: Session, channel: str, payload: str = "") -> None:
    """Queue a notification in the session's transaction (sent on commit; PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as psycopg itself takes it."""
    scheme, _, rest = url.partition("://")
    return "postgresql://" + rest if scheme.startswith("postgresql") else url


class Listener:
    """One thread, one connection: ``LISTEN`` on each channel, call its handler on each notification."""

    def __init__(self, url: str, handlers: dict[str, Callable[[], None]], *, retry_s: float = 1.0) -> None:
        self.url = libpq_url(url)
        self.handlers = handlers
        self.retry_s = retry_s
        self._stop = threading.Event()
        #: A channel of this listener's own: stop() notifies it so the thread wakes at once instead
        #: of at its next timeout (a second per stop, which tests and restarts would wait through).
        self._wake = f"hub_listener_{uuid.uuid4().hex}"
        self._thread: threading.Thread | None = None
        #: Set once the first LISTEN is in place (tests and start-up wait for it).
        self.listening = threading.Event()
        self.heard = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hub-listen", daemon=True)
        self._thread.start()

    def _call_all(self) -> None:
        for handler in self.handlers.values():
            self._call(handler)

    def _call(self, handler: Callable[[], None]) -> None:
        try:
            handler()
        except Exception:
            log.exception("notification handler")

    def _run(self) -> None:
        import psycopg

        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    for channel in (*self.handlers, self._wake):
                        conn.execute(f'LISTEN "{channel}"')
                    self.listening.set()
                    if not first:
                        self._call_all()  # what went by while the connection was down
                    first = False
                    while not self._stop.is_set():
                        # Returns at the timeout so that stop() is seen within a second.
                        for note in conn.notifies(timeout=1.0):
                            if self._stop.is_set():  # woken by stop() (or stopping anyway)
                                break
                            self.heard += 1
                            handler = self.handlers.get(note.channel)
                            if handler is not None:
                                self._call(handler)
            except Exception as exc:
                if self._stop.is_set():
                    return
                log.warning("listening for other processes' changes: %s; again in %.0f s", exc, self.retry_s)
                self._stop.wait(self.retry_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is None or not self._thread.is_alive():
            return
        if self.listening.is_set():
            import psycopg

            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=2) as conn:
                    conn.execute(f'NOTIFY "{self._wake}"')
            except Exception as exc:  # the thread still sees the flag at its timeout
                log.debug("waking the listener: %s", exc)
        self._thread.join(5)


def install_job_announcer(session_factory) -> None:
    """Announce on ``hub_jobs`` from any transaction that queues a job (new, or queued again)."""
    from sqlalchemy import event, inspect

    from hub.models import Job

    def before_flush(session: Session, _context, _instances) -> None:
        if session.info.get("jobs_announced"):
            return
        queued = any(isinstance(obj, Job) for obj in session.new) or any(
            isinstance(obj, Job) and inspect(obj).attrs.status.history.has_changes() and obj.status == "queued"
            for obj in session.dirty)
        if queued:
            session.info["jobs_announced"] = True
            announce(session, JOBS)

    def after_end(session: Session, *_args) -> None:
        session.info.pop("jobs_announced", None)

    event.listen(session_factory, "before_flush", before_flush)
    event.listen(session_factory, "after_commit", after_end)
    event.listen(session_factory, "after_rollback", after_end)
