"""Public media that nginx may send without asking the hub: links in ``media/public/``.

A stored file is public while it is an artifact of an approved bulletin's current revision on the
web channel (the ``public`` audience of hub/services/media.py). For each such file whose type
nginx knows by its extension (:data:`EXTENSIONS`) the media folder holds a relative symbolic link
``public/<sha256>.<ext>`` → ``../<ab>/<sha256>``; deploy/nginx/grassroots-hub.conf sends
``/media/<sha256>`` from there when the link exists and asks the hub otherwise. So the links must
never say more than the database: a link that is missing only costs a trip through the hub, a link
that is still there after a withdrawal would keep the file on the web.

Every process that uses the folder keeps the links right around its own commits that change the
schedule (the same commits that bump the counter, hub/changes.py), for the files of the bulletins
and artifacts the transaction touched:

- *before* the commit, a link to a file the transaction leaves non-public is removed: nginx stops
  sending it before the withdrawal is visible to anyone, even if the process dies just after;
- *after* the commit, under a lock on ``public/.lock`` that every process (on NFS: every machine,
  :meth:`PublicLinks._locked`) takes, the links of those files are made to match a fresh read of the database, so of two
  processes changing one file's bulletins at once the later sync, which read after both commits,
  has the last word.

At start (:meth:`PublicLinks.sync_all`) every link is checked against the database, which mends
what a process killed between its commit and its sync left out.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from hub.media import SHA256_RE
from hub.models import Artifact, Bulletin, Revision

log = logging.getLogger(__name__)
#: A MIME type → the extension its link gets; nginx's location lists the same (its ``types``).
#: Files of other types are still served, by the hub.
EXTENSIONS = {"audio/mpeg": "mp3", "image/png": "png"}
_TOUCHED = "public_media_touched"
_AFFECTED = "public_media_affected"


def public_files(session: Session, sha256s: Iterable[str] | None = None) -> dict[str, str]:
    """The public files among ``sha256s`` (None: all of them) → their MIME type: the ``public``
    audience of hub/services/media.py (an artifact of a revision that :meth:`Bulletin.publishes`,
    on the web channel), in SQL."""
    query = (select(Artifact.sha256, Artifact.mime, Revision.channels)
             .select_from(Artifact).join(Bulletin, Bulletin.id == Artifact.bulletin_id)
             .join(Revision, (Revision.bulletin_id == Bulletin.id) & (Revision.revision == Artifact.revision))
             .where(Bulletin.publishing(Artifact.revision)))
    if sha256s is not None:
        wanted = sorted(set(sha256s))
        if not wanted:
            return {}
        query = query.where(Artifact.sha256.in_(wanted))
    return {sha: mime for sha, mime, channels in session.execute(query).all() if "web" in (channels or [])}


class PublicLinks:
    """The links of one media folder, kept by the sessions of one store."""

    def __init__(self, media_root: Path, store) -> None:
        self.folder = media_root / "public"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.store = store
        self._threads = threading.Lock()

    def install(self, session_factory) -> None:
        event.listen(session_factory, "after_flush", self._after_flush)
        event.listen(session_factory, "before_commit", self._before_commit)
        event.listen(session_factory, "after_commit", self._after_commit)
        event.listen(session_factory, "after_rollback", self._after_rollback)

    # --- around a commit --------------------------------------------------------------------------

    @staticmethod
    def _after_flush(session: Session, _context) -> None:
        """Note the bulletins and artifacts each flush adds, changes or removes (here the
        session's lists still show what the flush wrote)."""
        touched = session.info.setdefault(_TOUCHED, (set(), set()))
        for obj in (*session.new, *session.dirty, *session.deleted):
            if isinstance(obj, Bulletin):
                touched[0].add(obj.id)
        for obj in (*session.new, *session.deleted):
            if isinstance(obj, Artifact):
                touched[1].add(obj.sha256)

    @staticmethod
    def _after_rollback(session: Session, *_args) -> None:
        session.info.pop(_TOUCHED, None)
        session.info.pop(_AFFECTED, None)

    def _before_commit(self, session: Session) -> None:
        session.flush()  # so that the counter's listener has said whether this commit matters
        bulletins, files = session.info.pop(_TOUCHED, (set(), set()))
        if not session.info.get("schedule_bumped") or not (bulletins or files):
            return
        if bulletins:
            files |= set(session.scalars(select(Artifact.sha256).where(Artifact.bulletin_id.in_(sorted(bulletins)))))
        affected = {sha for sha in files if SHA256_RE.match(sha)}
        session.info[_AFFECTED] = affected
        stays = public_files(session, affected)
        for sha in affected:
            if sha not in stays:
                self._unlink(sha)

    def _after_commit(self, session: Session) -> None:
        affected = session.info.pop(_AFFECTED, None)
        if affected:
            try:
                self.sync(affected)
            except Exception:  # committed: a link left out is mended at the next start
                log.exception("could not update the public media links of %d files", len(affected))

    # --- the links --------------------------------------------------------------------------------

    def sync(self, sha256s: Iterable[str]) -> None:
        """Make the links of ``sha256s`` match the database, under the folder's lock."""
        wanted = sorted(set(sha256s))
        with self._locked(), self.store.reader() as session:
            public = public_files(session, wanted)
            for sha in wanted:
                if sha in public:
                    self._link(sha, public[sha])
                else:
                    self._unlink(sha)

    def sync_all(self) -> None:
        """Every link checked against the database: the missing made, the stale removed."""
        with self._locked(), self.store.reader() as session:
            public = public_files(session)
            for name in os.listdir(self.folder):
                sha, _, ext = name.partition(".")
                if name != ".lock" and (sha not in public or EXTENSIONS.get(public[sha]) != ext):
                    (self.folder / name).unlink(missing_ok=True)  # stale, or a crashed process's temporary
            for sha, mime in public.items():
                self._link(sha, mime)

    def linked(self) -> set[str]:
        """The files nginx may send now (for tests and ``hub`` diagnostics)."""
        return {name.partition(".")[0] for name in os.listdir(self.folder) if not name.startswith(".")}

    def _link(self, sha: str, mime: str) -> None:
        ext = EXTENSIONS.get(mime)
        if ext is None or not (self.folder.parent / sha[:2] / sha).is_file():
            return
        link = self.folder / f"{sha}.{ext}"
        if link.is_symlink():
            return
        temporary = self.folder / f".{sha}.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        os.symlink(f"../{sha[:2]}/{sha}", temporary)
        os.replace(temporary, link)

    def _unlink(self, sha: str) -> None:
        for ext in EXTENSIONS.values():
            (self.folder / f"{sha}.{ext}").unlink(missing_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Every process's syncs one at a time: a POSIX record lock (``lockf``), which NFS carries
        to the server and which there excludes the server's own local processes too (``flock``
        would not: an NFS client emulates it with a POSIX lock, a local one is of another kind);
        such a lock belongs to the process, so its threads take turns on a mutex first."""
        with self._threads, open(self.folder / ".lock", "a+") as handle:
            fcntl.lockf(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(handle, fcntl.LOCK_UN)
