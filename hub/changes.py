"""The ``schedule`` counter: it goes up, in the same transaction, with every change that can alter
what a device must play or show, so a device poll can tell in one query whether anything changed.

A session listener does the bumping, so no write path can forget it.
"""

from __future__ import annotations

from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session

from hub.models import Artifact, Bulletin, Commune, Counter, Device, MediaObject, Playlist

SCHEDULE = "schedule"
#: Device columns that change what its manifest says (heartbeats touch others and must stay cheap).
_DEVICE_FIELDS = ("commune", "kind", "active", "token_hash")
_BULLETIN_FIELDS = ("status", "revision", "approved_revision")


def _matters(obj: object) -> bool:
    if isinstance(obj, (Playlist, Commune, Artifact, MediaObject)):
        return True
    state = inspect(obj)
    fields = _DEVICE_FIELDS if isinstance(obj, Device) else _BULLETIN_FIELDS if isinstance(obj, Bulletin) else None
    if fields is None:
        return False
    return any(state.attrs[name].history.has_changes() for name in fields)


def _before_flush(session: Session, _context, _instances) -> None:
    if session.info.get("schedule_bumped"):
        return
    touched = [*session.new, *session.deleted]
    dirty = [obj for obj in session.dirty if session.is_modified(obj)]
    if any(isinstance(obj, (Playlist, Commune, Artifact, MediaObject, Device, Bulletin)) for obj in touched) or \
            any(_matters(obj) for obj in dirty):
        bump(session)


def _after_rollback(session: Session, *_args) -> None:
    session.info.pop("schedule_bumped", None)


def install(session_factory, on_bump=None) -> None:
    """Bump the counter from sessions of ``session_factory``; call ``on_bump()`` after such a commit."""

    def after_commit(session: Session) -> None:
        if session.info.pop("schedule_bumped", None) and on_bump is not None:
            on_bump()

    event.listen(session_factory, "before_flush", _before_flush)
    event.listen(session_factory, "after_commit", after_commit)
    event.listen(session_factory, "after_rollback", _after_rollback)


def bump(session: Session) -> None:
    """Raise the counter once per transaction (a write lock SQLite holds until commit anyway)."""
    session.info["schedule_bumped"] = True
    changed = session.execute(update(Counter).where(Counter.name == SCHEDULE).values(value=Counter.value + 1)).rowcount
    if changed == 0:
        session.add(Counter(name=SCHEDULE, value=1))


def generation(session: Session) -> int:
    return session.scalar(select(Counter.value).where(Counter.name == SCHEDULE)) or 0
