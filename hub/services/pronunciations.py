"""The province's pronunciation dictionary (issue 16): written form → what the voices should read.

Stored in the database beside the normaliser's YAML lexicon files and winning over them; edited by
an administrator (console: ``/console/pronunciations``); read by the speech normaliser for every
text it prepares, through :func:`entries_for` (``hub.plugin_api.pronunciations``), so the next
render uses a change. A process that wrote the dictionary sees the change at once; another
process (a render worker) within :data:`REFRESH_S`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from hub.auth import Principal
from hub.errors import Conflict, Invalid, NotFound
from hub.models import AuditEvent, Pronunciation

if TYPE_CHECKING:
    from hub.services import Services, Transaction

log = logging.getLogger(__name__)

WRITTEN_MAX, SPOKEN_MAX, NOTE_MAX = 80, 200, 200
#: Seconds another process may go on using the dictionary it read before a change.
REFRESH_S = 1.0
_LETTER = r"[^\W\d_]"


def _clean(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def check_entry(written: str, spoken: str) -> tuple[str, str]:
    """The entry as stored (NFC, single spaces), or :class:`Invalid` saying what is wrong."""
    written, spoken = _clean(written), _clean(spoken)
    if not written or not spoken:
        raise Invalid("both the written and the spoken form are needed (blank)")
    if len(written) > WRITTEN_MAX or len(spoken) > SPOKEN_MAX:
        raise Invalid(f"the written form takes at most {WRITTEN_MAX} characters, the spoken form {SPOKEN_MAX} (too long)")
    if not re.search(_LETTER, written):
        raise Invalid("the written form must contain a letter (numbers are read by the normaliser)")
    # The normaliser replaces whole tokens; an expansion holding its key would grow on each pass.
    if _holds(spoken, written):
        raise Invalid("the spoken form must not contain the written form as a word (it would be read twice)")
    return written, spoken


def _holds(text: str, word: str) -> bool:
    return re.search(rf"(?<!{_LETTER}){re.escape(word)}(?!{_LETTER})", text) is not None


def _check_against(others: list[Pronunciation], written: str, spoken: str) -> None:
    """No entry's reading may hold another entry's written form: normalising would not settle."""
    for other in others:
        if other.written != written and _holds(spoken, other.written):
            raise Invalid(f"the spoken form holds {other.written!r}, itself in the dictionary (it would be read twice)")
        if other.written != written and _holds(other.spoken, written):
            raise Invalid(f"the reading of {other.written!r} holds this written form (it would be read twice)")


def _view(entry: Pronunciation) -> dict[str, Any]:
    return {"id": entry.id, "written": entry.written, "spoken": entry.spoken, "note": entry.note,
            "updated_at": entry.updated_at, "updated_by": entry.updated_by}


class PronunciationService:
    """List, add, change and remove dictionary entries (admin), in one transaction each, audited."""

    def __init__(self, services: Services) -> None:
        self.services = services
        _STORES[services.hub.settings.sqlalchemy_url] = services.hub.store

    def transaction(self, tx: Transaction | None = None):
        return self.services.transaction(tx)

    def list(self, actor: Principal | None = None) -> list[dict[str, Any]]:
        """Every entry, by written form (any signed-in user may read: editors check spellings)."""
        with self.services.hub.store.reader() as session:
            rows = session.scalars(select(Pronunciation).order_by(Pronunciation.written)).all()
            return [_view(r) for r in rows]

    def get(self, entry_id: str) -> dict[str, Any]:
        with self.services.hub.store.reader() as session:
            entry = session.get(Pronunciation, entry_id)
            if entry is None:
                raise NotFound("no such dictionary entry")
            return _view(entry)

    def put(self, actor: Principal | None, written: str, spoken: str, note: str | None = None, *,
            entry_id: str | None = None, tx: Transaction | None = None) -> dict[str, Any]:
        """Add an entry, or (``entry_id``) change one; a written form is in the dictionary once."""
        if actor is not None:
            actor.require("admin")
        written, spoken = check_entry(written, spoken)
        note = _clean(note or "")[:NOTE_MAX] or None
        with self.transaction(tx) as t:
            session = t.session
            same = session.scalars(select(Pronunciation).where(Pronunciation.written == written)).first()
            others = [e for e in session.scalars(select(Pronunciation)) if e.id != entry_id]
            _check_against(others, written, spoken)
            if entry_id is None:
                if same is not None:
                    raise Conflict(f"{written!r} is in the dictionary already")
                entry = Pronunciation(written=written, spoken=spoken, note=note)
                session.add(entry)
                action = "create"
            else:
                entry = session.get(Pronunciation, entry_id)
                if entry is None:
                    raise NotFound("no such dictionary entry")
                if same is not None and same.id != entry.id:
                    raise Conflict(f"{written!r} is in the dictionary already")
                entry.written, entry.spoken, entry.note = written, spoken, note
                action = "update"
            entry.updated_by = actor.name[:32] if actor else None
            session.flush()
            session.add(AuditEvent(actor=actor.id if actor else None, action=action, object_type="pronunciation",
                                   object_id=entry.id, detail={"written": written, "spoken": spoken}))
            view = _view(entry)
            t.after_commit(_changed)
        return view

    def delete(self, actor: Principal | None, entry_id: str, *, tx: Transaction | None = None) -> None:
        if actor is not None:
            actor.require("admin")
        with self.transaction(tx) as t:
            entry = t.session.get(Pronunciation, entry_id)
            if entry is None:
                raise NotFound("no such dictionary entry")
            t.session.add(AuditEvent(actor=actor.id if actor else None, action="delete", object_type="pronunciation",
                                     object_id=entry.id, detail={"written": entry.written}))
            t.session.delete(entry)
            t.after_commit(_changed)


# --- reading it for the normaliser ---------------------------------------------------------------

#: The open hubs' stores by database URL (a hub registers its own when its services are made).
_STORES: dict[str, Any] = {}
_CACHE: dict[str, tuple[float, int, dict[str, str]]] = {}
_GENERATION = [0]
_LOCK = threading.Lock()


def _changed() -> None:
    with _LOCK:
        _GENERATION[0] += 1


def entries_for(settings: Any) -> dict[str, str]:
    """The dictionary as written → spoken for the hub ``settings`` name (its database), or {}.

    Read at most every :data:`REFRESH_S` per database, and at once after this process changed it.
    A command that opens no hub (``hub say``) reads the database file if there is one; a store
    without the table yet, or none at all, is an empty dictionary.
    """
    url = getattr(settings, "sqlalchemy_url", None)
    if not isinstance(url, str):
        return {}
    now = time.monotonic()
    with _LOCK:
        cached = _CACHE.get(url)
        generation = _GENERATION[0]
    if cached and cached[1] == generation and now - cached[0] < REFRESH_S:
        return cached[2]
    entries = _read(url)
    with _LOCK:
        _CACHE[url] = (now, generation, entries)
    return entries


def _read(url: str) -> dict[str, str]:
    store = _STORES.get(url)
    try:
        if store is not None:
            with store.reader() as session:
                return {w: sp for w, sp in session.execute(select(Pronunciation.written, Pronunciation.spoken))}
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
            return {}  # never create a database file just to find it empty
        from hub.store import make_engine

        engine = make_engine(url, writer=False)
        try:
            with engine.connect() as conn:
                return {w: sp for w, sp in conn.execute(select(Pronunciation.written, Pronunciation.spoken))}
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        log.warning("pronunciation dictionary not read (%s); the YAML lexicons alone apply", type(exc).__name__)
        return {}
