"""Media: uploaded files the hub airs — a bulletin's own recording, programme audio for playlists.

The file itself is already in the media store (``hub.media.put`` / ``put_file``) when these run:
they record who brought it and what it is, and for a recording make the bulletin's new revision
in the same transaction. The cheap checks are offered on their own too (:meth:`check_may_edit`,
:meth:`upload_commune`), so a route can refuse a caller before it decodes a large upload; the
writes check again.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import bulletins as domain
from hub import recording_check
from hub.auth import DEVICE_PREFIX, Principal
from hub.errors import Conflict, Forbidden, NotFound, TooLarge
from hub.models import Artifact, Bulletin, Commune, LiveBroadcast, MediaObject, Revision
from hub.plugin_types import RenderedMedia
from hub.services import Service, Transaction


class MediaService(Service):
    def __init__(self, services) -> None:
        super().__init__(services)
        self._audiences: dict[str, tuple[int, str, frozenset[str] | None]] = {}

    # --- a bulletin's recording -------------------------------------------------------------------

    def check_may_edit(self, principal: Principal, bulletin_id: str) -> None:
        """Raise unless this principal may change the bulletin (NotFound, Conflict, Forbidden)."""
        with self.reading() as session:
            bulletin = domain.visible(session, principal, bulletin_id)
            if bulletin.status == "withdrawn":
                raise Conflict("cannot edit a bulletin that is withdrawn")
            principal.require("admin", "editor", "operator")
            if principal.role not in ("admin", "editor") and bulletin.author_id != principal.id:
                raise Forbidden("only the author or an editor may change this bulletin")

    def record_recording(self, principal: Principal, bulletin_id: str, sha256: str, mime: str, duration_s: float,
                         *, tx: Transaction | None = None) -> dict[str, Any]:
        """Air the stored file ``sha256`` instead of synthesised speech: a new revision, to be approved.

        :returns: the bulletin's view.
        """
        with self.transaction(tx) as t:
            if t.session.get(MediaObject, sha256) is None:
                path = self.hub.media.path(sha256)
                if path is None:
                    raise NotFound(f"media {sha256} is not in the media store")
                t.session.add(MediaObject(sha256=sha256, bytes=path.stat().st_size, mime=mime,
                                          meta={"duration_s": round(duration_s, 3), "role": "recording"},
                                          uploaded_by=principal.id))
            shown = self.services.bulletins.edit(principal, bulletin_id, {"recording_sha256": sha256}, tx=t)
            # Checked by ear at once, in the worker, before anyone approves (hub/recording_check.py).
            bulletin = t.session.get(Bulletin, bulletin_id)
            if recording_check.queue(t.session, bulletin, domain.current_revision(t.session, bulletin),
                                     self.hub.pipeline.hook):
                t.after_commit(self.hub.pipeline.wake)
                t.session.flush()
                shown = domain.view(t.session, bulletin, viewer=principal)
            return shown

    def remove_recording(self, principal: Principal, bulletin_id: str, *,
                         tx: Transaction | None = None) -> dict[str, Any]:
        """Back to synthesised speech: a new revision without the recording."""
        return self.services.bulletins.edit(principal, bulletin_id, {"recording_sha256": None}, tx=tx)

    # --- programme audio --------------------------------------------------------------------------

    def require_commune(self, principal: Principal, code: str, *, session: Session | None = None) -> None:
        """NotFound for a commune that does not exist or that this principal may not see."""
        with self.reading() if session is None else nullcontext(session) as s:
            if s.get(Commune, code) is None or not principal.sees_commune(code):
                raise NotFound(f"unknown commune: {code}")

    def upload_commune(self, principal: Principal, commune: str | None, *,
                       session: Session | None = None) -> str | None:
        """The commune an upload belongs to (an operator's own by default), after checking that
        this principal may upload for it; None: for every commune."""
        principal.require("admin", "editor", "operator")
        if principal.role == "operator":
            commune = commune or principal.commune
        if commune is not None:
            self.require_commune(principal, commune, session=session)
        return commune

    def check_quota(self, commune: str | None, incoming: int, *, session: Session | None = None) -> None:
        """TooLarge unless ``commune`` (None: audio for every commune) may keep ``incoming`` more bytes
        of programme audio under ``HUB_MEDIA_COMMUNE_QUOTA_BYTES``."""
        quota = self.hub.settings.media_commune_quota_bytes
        with self.reading() if session is None else nullcontext(session) as s:
            where = MediaObject.commune.is_(None) if commune is None else MediaObject.commune == commune
            used = s.scalar(select(func.coalesce(func.sum(MediaObject.bytes), 0)).where(
                where, MediaObject.uploaded_by.is_not(None)))
        if used + incoming > quota:
            whose = f"commune {commune}" if commune else "audio for every commune"
            raise TooLarge(f"the programme audio of {whose} would exceed its quota of {quota:,} bytes "
                           f"({used:,} in use); remove some first")

    def record_upload(self, principal: Principal, sha256: str, media: RenderedMedia, commune: str | None,
                      title: str | None, *, tx: Transaction | None = None) -> dict[str, Any]:
        """Record programme audio already in the media store (the same file twice: the first record).

        :returns: ``{"sha256", "url", "bytes", "mime", "commune", "meta"}``; ``meta`` holds the
            plugin's fields and the declared ones (``duration_s``) as the renderer gave them.
        """
        with self.transaction(tx) as t:
            commune = self.upload_commune(principal, commune, session=t.session)
            row = t.session.get(MediaObject, sha256)
            if row is None:
                self.check_quota(commune, len(media.data), session=t.session)
                row = MediaObject(sha256=sha256, bytes=len(media.data), mime=media.mime,
                                  meta={**media.meta, **media.declared(), "title": title}, uploaded_by=principal.id,
                                  commune=commune)
                t.session.add(row)
            return {"sha256": sha256, "url": f"/media/{sha256}", "bytes": row.bytes, "mime": row.mime,
                    "commune": row.commune, "meta": dict(row.meta or {})}

    def programmes(self, principal: Principal, sha256s: list[str]) -> dict[str, dict[str, Any]]:
        """Uploaded programme audio among ``sha256s`` that this principal may see (for every commune,
        or one it sees): sha256 → ``{"title", "duration_s", "commune"}``, for the playlist form."""
        wanted = sorted({s for s in sha256s if s})
        if not wanted:
            return {}
        with self.reading() as session:
            rows = session.scalars(select(MediaObject).where(MediaObject.sha256.in_(wanted))).all()
        return {row.sha256: {"title": (row.meta or {}).get("title"), "duration_s": (row.meta or {}).get("duration_s"),
                             "commune": row.commune}
                for row in rows if row.uploaded_by is not None and (row.meta or {}).get("role") != "recording"
                and (row.commune is None or principal.sees_commune(row.commune))}

    # --- who may read a file ----------------------------------------------------------------------

    def audience(self, sha256: str) -> str:
        """Who may read a stored file: ``public`` (published on the web channel), ``audience``
        (published, or uploaded programme audio: devices and users), ``approvers``
        (only artifacts of revisions not yet approved, and recordings: editors and admins),
        ``live-archive`` (a live broadcast's archive: editors, admins and the operators of the
        communes it went to), or ``none``.

        Remembered per schedule generation (every approval, edit and withdrawal bumps it), but for
        ``none``: a fleet downloading an emergency at once must not queue on the database.
        """
        return self._audience(sha256)[0]

    def _audience(self, sha256: str) -> tuple[str, frozenset[str] | None]:
        """:meth:`audience` and the communes a file airs in (None: every commune), remembered alike."""
        generation = self.hub.counter.value()
        cached = self._audiences.get(sha256)
        if cached is not None and cached[0] == generation:
            return cached[1], cached[2]
        with self.reading() as session:
            rows = session.execute(
                select(Revision.channels, Bulletin.status, Bulletin.approved_revision, Bulletin.revision,
                       Artifact.revision, Revision.targets)
                .select_from(Artifact).join(Bulletin, Bulletin.id == Artifact.bulletin_id)
                .join(Revision, (Revision.bulletin_id == Bulletin.id) & (Revision.revision == Artifact.revision))
                .where(Artifact.sha256 == sha256)).all()
            upload = session.get(MediaObject, sha256)
        # Programme audio uploaded for playlists airs as it is. A bulletin's recording never airs
        # itself: the speech renderer masters it into a new file, the revision's artifact, so the
        # recording stays with the approvers even once that revision is approved.
        programme = upload is not None and upload.uploaded_by is not None and (upload.meta or {}).get("role") != "recording"
        recording = upload is not None and (upload.meta or {}).get("role") == "recording"
        if recording and (upload.meta or {}).get("kind") == "live-archive":
            # A live broadcast's archive: the department, and the operators of the communes it
            # went to (docs/live.md "The archive"); never a device.
            with self.reading() as session:
                broadcast = session.get(LiveBroadcast, (upload.meta or {}).get("broadcast_id") or "")
            targets = list(broadcast.targets) if broadcast is not None else []
            communes = None if "*" in targets else frozenset(targets)
            self._audiences[sha256] = (generation, "live-archive", communes)
            return "live-archive", communes
        published = [(channels, targets) for channels, status, approved, current, revision, targets in rows
                     if status == "approved" and approved == revision == current]
        # Which communes may hear it: a device or an operator of another commune must not fetch a
        # commune's announcements by their hash (issue 14). Programme audio: its upload's commune.
        communes: set[str] | None = set()
        for _channels, targets in published:
            if "*" in (targets or []):
                communes = None
                break
            communes.update(targets or [])
        if communes is not None and programme:
            communes = None if upload.commune is None else communes | {upload.commune}
        targets = None if communes is None else frozenset(communes)
        if any("web" in channels for channels, _targets in published):
            audience = "public"
        elif published or programme:
            audience = "audience"
        elif rows or recording:
            audience = "approvers"
        else:
            audience = "none"
        if audience == "none":
            # Not remembered: a file's record and an artifact of a revision not yet approved are
            # stored without a new generation (no device must hear of them), and each turns "none"
            # into something else; every other change of audience comes with a new generation.
            return audience, targets
        if len(self._audiences) > 100_000:
            self._audiences.clear()
        self._audiences[sha256] = (generation, audience, targets)
        return audience, targets

    def readable_now(self, sha256: str, token: str | None) -> str | None:
        """The file's audience (``public`` or ``audience``) if this process knows, without any I/O,
        that ``token`` may read it: public media, or published media and a device whose token is
        cached for the current generation. None means only "not known here now" (then
        :meth:`check_readable` decides): the media route answers the fleet's downloads after an
        approval on the event loop with it."""
        generation = self.hub.counter.fresh()
        cached = self._audiences.get(sha256)
        if generation is None or cached is None or cached[0] != generation:
            return None
        audience, targets = cached[1], cached[2]
        if audience == "public":
            return audience
        device = self.hub.device_tokens.cached(token) if token and token.startswith(DEVICE_PREFIX) else None
        if audience == "audience" and device is not None and _hears(device, targets):
            return audience
        return None

    def is_public(self, sha256: str) -> bool:
        """Media of a currently approved web-channel bulletin may be fetched without a token."""
        return self.audience(sha256) == "public"

    def check_readable(self, sha256: str, token: str | None, *, principal: Principal | None = None) -> None:
        """Raise unless ``token`` may read the file (Unauthenticated without a good token, NotFound
        for a file this caller may not know of): what is not approved yet answers only to those who
        may approve it, never to a device or the public. A device token is checked against the poll
        cache, without the database. ``principal`` is a caller the route already knows (signed in
        to the console)."""
        audience, targets = self._audience(sha256)
        if audience == "public":
            return
        hub = self.hub
        device = hub.device_tokens.lookup(token) if token and token.startswith(DEVICE_PREFIX) else None
        # ``principal``: already known (a console session); otherwise the token says who this is.
        principal = principal or device or hub.services.directory.authenticate(token)
        if audience == "none" or (audience == "approvers" and not domain.may_approve(principal)):
            raise NotFound("no such media")
        if audience == "live-archive" and not (domain.may_approve(principal) or (
                principal is not None and principal.role == "operator" and _hears(principal, targets))):
            raise NotFound("no such media")
        if audience == "audience" and not _hears(principal, targets):
            # Another commune's announcement: not found, as CONTRACT §Errors says for its objects.
            raise NotFound("no such media")

    def mime(self, sha256: str) -> str:
        """A media file's type; it never changes, so it is looked up once per process."""
        known = self.hub.media.mimes.get(sha256)
        if known is None:
            with self.reading() as session:
                record = session.get(MediaObject, sha256)
            known = record.mime if record else "application/octet-stream"
            if record is not None:
                self.hub.media.mimes[sha256] = known
        return known


def _hears(principal: Principal, communes: frozenset[str] | None) -> bool:
    """Whether a file airing in ``communes`` (None: everywhere) is this principal's to fetch."""
    return communes is None or any(principal.sees_commune(code) for code in communes)
