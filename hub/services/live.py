"""Live broadcasts: open, ingest (the browser's audio through ffmpeg to Icecast), stop, archive.

Every door (the API, the console's "Phát trực tiếp" page) calls these. The ingest connections of
this process are held here: a broadcast's audio arrives on one WebSocket at a time; the browser
gone for more than ``HUB_LIVE_IDLE_S`` (no audio, or the connection closed and not opened again)
ends the broadcast, as does ``stop`` or its ``HUB_LIVE_MAX_S`` limit. A stop made through another
process is seen by the ingest within a second (it reads the row).

A connection that drops and comes back within ``HUB_LIVE_IDLE_S`` finds the broadcast still on
air and its encoder still running, connected to the same Icecast mount (the devices stay on it):
the page's MediaRecorder kept recording through the gap and sends the rest of the same webm
stream, which the same ffmpeg goes on decoding. A new stream (its first chunk a webm header: the
page was reloaded) gets a new encoder and a new recording part.

A broadcast's recordings wait in the data folder's ``live/live-<id>-…/`` until its archive is
made, the folder locked (``fcntl.lockf``) by the process carrying it. One whose process went away
first (``kill -9``, a crash, a stop in the middle) is archived by the next ``hub serve`` on that
machine, at its start and every minute (:meth:`LiveService.recover_archives`).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hub import changes, live, scheduler
from hub.auth import Principal
from hub.clock import utcnow
from hub.errors import Conflict, NotFound
from hub.models import Device, LiveBroadcast, MediaObject, PlayReport, User
from hub.services import Service

log = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/live/{id}/ingest"
#: The first four bytes of a webm (EBML) stream: a connection starting with them starts a new stream.
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass
class _Run:
    """This process's ingest of one broadcast, across the connections the browser makes."""

    broadcast_id: str
    title: str
    work: Path
    deadline: datetime
    recordings: list[Path] = field(default_factory=list)
    encoder: live.Encoder | None = None
    #: Whether the encoder has been given any of its stream yet.
    fed: bool = False
    connected: bool = False
    on_air: bool = False
    #: Seconds this connection has sent nothing.
    quiet_s: float = 0.0
    #: When this process last wrote the row's ``alive_at``.
    alive_at: datetime | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Task | None = None
    #: The ingest key (its hash) of the connection now feeding it.
    key_hash: str = ""
    #: The broadcast was resumed with a new key (LiveService.resume): this connection must go.
    superseded: bool = False
    #: The work folder's lock (held while this process carries the broadcast).
    lock: int | None = None
    archiving: bool = False


class LiveService(Service):
    def __init__(self, services) -> None:
        super().__init__(services)
        self._runs: dict[str, _Run] = {}

    # --- the broadcast ---------------------------------------------------------------------------

    def open(self, principal: Principal, title: str, targets: list[str], priority: str) -> dict[str, Any]:
        """A new broadcast, waiting for audio; its view carries ``ingest_path`` with the key."""
        settings = self.hub.settings
        live.require_icecast(settings)
        with self.transaction() as t:
            row, key = live.open_broadcast(t.session, settings, principal, title, targets, priority)
            view = self._view(t.session, row)
        view["ingest_path"] = INGEST_PATH.format(id=row.id) + f"?key={key}"
        return view

    def resume(self, principal: Principal, broadcast_id: str) -> dict[str, Any]:
        """The microphone back for a broadcast still going: a new ingest key (in ``ingest_path``, shown
        this once), the old one refused from now on. The page reloaded, or the officer moved to
        another device, within the grace (``HUB_LIVE_IDLE_S``) goes on with the same broadcast."""
        with self.transaction() as t:
            row = live.visible(t.session, principal, broadcast_id)
            live.may_resume(principal, row)
            key = live.new_key(row)
            view = self._view(t.session, row)
        view["ingest_path"] = INGEST_PATH.format(id=broadcast_id) + f"?key={key}"
        return view

    def get(self, principal: Principal, broadcast_id: str) -> dict[str, Any]:
        with self.reading() as session:
            row = live.visible(session, principal, broadcast_id)
            view = self._view(session, row)
            view["plays"] = self._plays(session, row, principal)
        return view

    def list(self, principal: Principal, limit: int = 50) -> list[dict[str, Any]]:
        """The broadcast log, newest first: who spoke, when, to which communes, the play reports."""
        if principal.is_device:
            raise NotFound("not found")
        with self.reading() as session:
            rows = session.scalars(select(LiveBroadcast).order_by(LiveBroadcast.created_at.desc()).limit(limit * 4))
            out = []
            for row in rows:
                if principal.role == "operator" and not live.reaches(row, principal.commune):
                    continue
                view = self._view(session, row)
                view["plays"] = self._plays(session, row, principal)
                out.append(view)
                if len(out) == limit:
                    break
        return out

    def stop(self, principal: Principal, broadcast_id: str) -> dict[str, Any]:
        with self.reading() as session:
            live.may_stop(principal, live.visible(session, principal, broadcast_id))
        self._end(broadcast_id, "stopped")
        return self.get(principal, broadcast_id)

    def _end(self, broadcast_id: str, reason: str, error: str | None = None) -> bool:
        """End it in the store (devices are told at once); this process's ingest then stops."""
        with self.transaction() as t:
            row = t.session.get(LiveBroadcast, broadcast_id)
            ended = row is not None and live.end(row, reason, error)
            if ended and row.started_at is not None:
                changes.bump(t.session)
        run = self._runs.get(broadcast_id)
        if run is not None:
            run.ended.set()
        if ended:
            log.info("live broadcast %s ended: %s%s", broadcast_id, reason, f" ({error})" if error else "")
        return ended

    def _view(self, session, row: LiveBroadcast) -> dict[str, Any]:
        author = session.get(User, row.author_id)
        return {
            "id": row.id, "title": row.title, "priority": row.priority, "targets": list(row.targets),
            "status": row.status, "author": author.name if author else None, "author_id": row.author_id,
            "stream_url": row.stream_url, "created_at": _iso(row.created_at), "started_at": _iso(row.started_at),
            "ended_at": _iso(row.ended_at), "end_reason": row.end_reason, "error": row.error,
            "archive": None if row.archive_sha256 is None else {
                "url": f"/media/{row.archive_sha256}", "sha256": row.archive_sha256,
                "duration_s": row.archive_duration_s},
        }

    def _plays(self, session, row: LiveBroadcast, principal: Principal) -> list[dict[str, Any]]:
        """The devices' play reports of it (an operator: its commune's devices only)."""
        query = (select(PlayReport, Device.name).join(Device, Device.id == PlayReport.device_id)
                 .where(PlayReport.item_id.in_(scheduler.live_play_ids(row.id))).order_by(PlayReport.started_at))
        if principal.role == "operator":
            query = query.where(PlayReport.commune == principal.commune)
        return [{"device": device_name, "device_id": report.device_id, "commune": report.commune,
                 "started_at": _iso(report.started_at), "ended_at": _iso(report.ended_at), "result": report.result,
                 "heard_s": report.heard_s}
                for report, device_name in session.execute(query)]

    # --- Icecast's URL authentication --------------------------------------------------------------

    def listener(self, mount_path: str, password: str | None, user: str | None = None) -> live.ListenerCheck:
        """Whether Icecast may let this listener into the mount: its password a device's listen
        ticket for the mount (``hub agent``), or, from agents older than tickets, its token."""
        with self.reading() as session:
            if password and password.startswith(live.TICKET_PREFIX):
                device = live.ticket_device(session, user, password, mount_path)
            else:
                tokens = self.hub.device_tokens
                device = (tokens.cached(password) or tokens.lookup(password)) if password else None
            return live.may_listen(session, mount_path, device)

    # --- the ingest --------------------------------------------------------------------------------

    def connect(self, broadcast_id: str, key: str | None) -> _Run:
        """A browser's connection to the ingest: the broadcast must be open (or on air) and the key
        its own; NotFound otherwise, and nothing goes on air."""
        with self.reading() as session:
            row = session.get(LiveBroadcast, broadcast_id) if len(broadcast_id) == 32 else None
            if row is None or row.status == "ended" or not live.key_matches(row, key):
                raise NotFound("no such live broadcast open for audio")
            title, deadline, key_hash = row.title, row.deadline_at, row.ingest_key_hash
        run = self._runs.get(broadcast_id)
        if run is None:
            work = Path(tempfile.mkdtemp(prefix=f"live-{broadcast_id}-", dir=self._work_root()))
            run = self._runs[broadcast_id] = _Run(broadcast_id, title, work, deadline, lock=_hold(work))
        if run.connected:
            # The old connection not yet noticed gone: refused; the page tries again shortly. With a
            # new key (resumed) the old one is told to go now rather than when it next reads the row.
            if key_hash != run.key_hash:
                run.superseded = True
            raise Conflict("this broadcast's audio is already coming from another connection")
        if run.idle is not None:
            # connect() runs on a worker thread; the task belongs to the event loop.
            run.idle.get_loop().call_soon_threadsafe(run.idle.cancel)
            run.idle = None
        run.connected = True
        run.key_hash, run.superseded = key_hash, False
        run.quiet_s = 0.0
        return run

    def _work_root(self) -> Path:
        root = self.hub.settings.data_dir / "live"
        root.mkdir(parents=True, exist_ok=True)
        return root

    async def start_encoder(self, run: _Run) -> live.Encoder:
        """The encoder for a connection: the one still running from before a drop, else a new one."""
        if run.encoder is not None and not run.encoder.exited:
            return run.encoder
        await self._close_encoder(run)
        recording = run.work / f"part-{len(run.recordings):03d}.flac"
        run.recordings.append(recording)
        encoder = live.Encoder(self.hub.settings, run.broadcast_id, recording, run.title)
        await encoder.start()
        run.encoder, run.fed = encoder, False
        return encoder

    async def encoder_for(self, run: _Run, chunk: bytes) -> live.Encoder:
        """The encoder this chunk goes to: a new one when a new webm stream begins on an encoder that
        already decodes one (the page was reloaded, or its recorder restarted)."""
        assert run.encoder is not None
        if run.fed and chunk[:4] == WEBM_MAGIC:
            await self._close_encoder(run)
            await self.start_encoder(run)
        run.fed = True
        return run.encoder

    async def _close_encoder(self, run: _Run) -> None:
        encoder, run.encoder = run.encoder, None
        if encoder is not None:
            code = await encoder.close()
            if code not in (0, None) and encoder.error_text():
                log.info("live %s: ffmpeg ended with %s: %s", run.broadcast_id, code, encoder.error_text())

    async def went_on_air(self, run: _Run) -> None:
        """The first audio reached Icecast: the broadcast is on air, the devices are told."""
        if run.on_air:
            return
        run.on_air = True
        await asyncio.to_thread(self._mark_on_air, run.broadcast_id)

    def _mark_on_air(self, broadcast_id: str) -> None:
        with self.transaction() as t:
            row = t.session.get(LiveBroadcast, broadcast_id)
            if row is not None and row.status == "open":
                row.status = "on_air"
                row.started_at = row.alive_at = utcnow()
                changes.bump(t.session)

    def ended_elsewhere(self, run: _Run) -> bool:
        """Whether the broadcast was ended (by another process, or its limit passed)."""
        if run.ended.is_set():
            return True
        if utcnow() >= run.deadline:
            self._end(run.broadcast_id, "limit")
            return True
        now = utcnow()
        if run.on_air and (run.alive_at is None or (now - run.alive_at).total_seconds() >= live.ALIVE_S):
            # Still carrying it: say so, so that a broadcast whose process died ends by itself.
            run.alive_at = now
            with self.transaction() as t:
                row = t.session.get(LiveBroadcast, run.broadcast_id)
                status = row.status if row is not None else "ended"
                if status != "ended":
                    row.alive_at = now
        else:
            with self.reading() as session:
                row = session.get(LiveBroadcast, run.broadcast_id)
                status = row.status if row is not None else "ended"
        if status == "ended":
            run.ended.set()
        elif run.connected and row.ingest_key_hash != run.key_hash:
            run.superseded = True  # resumed elsewhere with a new key
        return run.ended.is_set()

    async def end_broadcast(self, run: _Run, reason: str, error: str | None = None) -> None:
        await asyncio.to_thread(self._end, run.broadcast_id, reason, error)

    async def disconnect(self, run: _Run) -> None:
        """The connection is gone. Ended: close the encoder and make the archive. Else the encoder
        keeps running (on the same mount) for ``HUB_LIVE_IDLE_S``: the browser back by then goes on
        where it was; not back, the broadcast ends (``browser_gone``)."""
        run.connected = False
        if run.ended.is_set():
            await self._close_encoder(run)
            await self._archive(run)
            return

        async def wait_for_browser() -> None:
            # Meanwhile still alive (alive_at, for a grace longer than STALE_S), and a stop made
            # through another process or the limit are seen, as while connected.
            loop = asyncio.get_running_loop()
            until = loop.time() + self.hub.settings.live_idle_s
            while not (run.ended.is_set() or run.connected) and (left := until - loop.time()) > 0:
                try:
                    await asyncio.wait_for(run.ended.wait(), min(1.0, left))
                except asyncio.TimeoutError:
                    await asyncio.to_thread(self.ended_elsewhere, run)
            if not (run.ended.is_set() or run.connected):
                await self.end_broadcast(run, "browser_gone")
            if not run.connected:
                await self._close_encoder(run)
                await self._archive(run)

        run.idle = asyncio.create_task(wait_for_browser())

    async def _archive(self, run: _Run) -> None:
        if self._runs.get(run.broadcast_id) is not run or run.archiving:
            return
        run.archiving = True
        try:
            await asyncio.to_thread(self._store_archive, run)
        except Exception:
            log.exception("live %s: archive", run.broadcast_id)
        finally:
            shutil.rmtree(run.work, ignore_errors=True)
            _release(run.lock)
            # Only now: until its folder is gone, recover_archives (this process) leaves it alone.
            del self._runs[run.broadcast_id]

    def recover_archives(self) -> int:
        """Archive the broadcasts whose recordings a process left behind (it went away before it
        made the archive): a folder under ``live/`` that no process of this machine holds. One
        still on air (its process gone for less than ``live.STALE_S``) or just opened waits for the
        next call; one gone stale is ended as failed where it was last alive. Returns how many
        archives were made."""
        root = self.hub.settings.data_dir / "live"
        made = 0
        for work in sorted(root.glob("live-*")) if root.is_dir() else []:
            found = re.fullmatch(r"live-([0-9a-f]{32})-.+", work.name)
            if found is None or not work.is_dir() or found[1] in self._runs:
                continue
            lock = _hold(work, wait=False)
            if lock is None:
                continue  # another process of this machine carries it
            try:
                with self.transaction() as t:
                    row = t.session.get(LiveBroadcast, found[1])
                    if row is not None and row.status != "ended":
                        if not live.is_stale(row, utcnow()):
                            continue
                        if live.end_stale(row):
                            changes.bump(t.session)
                    title = row.title if row is not None else ""
                    wanted = row is not None and row.archive_sha256 is None
                if wanted:
                    run = _Run(found[1], title, work, utcnow(), recordings=sorted(work.glob("part-*.flac")))
                    self._store_archive(run)
                    made += 1
                    log.info("live broadcast %s: archive made from the recordings left behind", found[1])
                shutil.rmtree(work, ignore_errors=True)
            except Exception:
                log.exception("live %s: archive of the recordings left behind", found[1])
            finally:
                _release(lock)
        return made

    def _store_archive(self, run: _Run) -> None:
        settings = self.hub.settings
        made = live.master(run.recordings, run.work, settings.live_target_lufs)
        if made is None:
            return
        sha256 = self.hub.media.put(made.data)
        with self.transaction() as t:
            row = t.session.get(LiveBroadcast, run.broadcast_id)
            if t.session.get(MediaObject, sha256) is None:
                # role "recording": kept for the department (editors, admins), never offered to air.
                t.session.add(MediaObject(sha256=sha256, bytes=len(made.data), mime="audio/mpeg", meta={
                    "role": "recording", "kind": "live-archive", "broadcast_id": run.broadcast_id,
                    "title": run.title, "duration_s": round(made.duration_s, 3),
                    "loudness_lufs": made.loudness_lufs}, uploaded_by=row.author_id if row else None))
            if row is not None:
                row.archive_sha256 = sha256
                row.archive_duration_s = round(made.duration_s, 3)
        log.info("live %s archived: %s (%.1f s, %s LUFS)", run.broadcast_id, sha256[:12], made.duration_s,
                 made.loudness_lufs)


def _hold(work: Path, wait: bool = True) -> int | None:
    """An exclusive lock on the work folder's ``.lock`` (released when its process ends, however it
    ends); None if another process holds it and ``wait`` is False."""
    fd = os.open(work / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        return None
    return fd


def _release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)
