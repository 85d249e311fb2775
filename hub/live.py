"""Live broadcasts (phát trực tiếp): the microphone of a browser, through the hub, to Icecast.

    browser ── WebSocket (MediaRecorder webm/opus chunks) ──► hub: Encoder (ffmpeg)
                                                              ├─► Icecast source /live/<id>.mp3 ──► devices
                                                              └─► recording (FLAC) ──► master() ──► archive

The hub carries one copy of the audio to Icecast; Icecast fans it out to the devices, each let in
by its URL authentication asking the hub (``may_listen``). The rules for what a live broadcast
interrupts are the resolver's (hub/scheduler.py, docs/scheduling.md); this module holds the
broadcast's domain rules and the two ffmpeg steps. docs/live.md describes the whole path.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub import scheduler
from hub.auth import Principal, hash_token
from hub.config import Settings
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.models import Commune, Device, LiveBroadcast, utcnow

log = logging.getLogger(__name__)

PRIORITIES = ("priority", "emergency")
TITLE_MAX = 200
#: The ingest writes ``alive_at`` this often; a broadcast not alive for STALE_S is over (its hub
#: process died): it ends, for the resolver, where it was last alive.
ALIVE_S = 2.0
STALE_S = 15.0
#: A broadcast opened but never on air after this long was abandoned (the page never connected, or
#: its process died before the first audio): it no longer keeps its communes from a new one.
OPEN_S = 60.0
#: A mount is ``/live/<broadcast id>.mp3``; Icecast hands the hub the mount a listener asked for.
MOUNT = re.compile(r"^/live/([0-9a-f]{32})\.mp3$")


def mount(broadcast_id: str) -> str:
    return f"/live/{broadcast_id}.mp3"


def listen_url(settings: Settings, broadcast_id: str) -> str:
    base = (settings.icecast_public_url or settings.icecast_url or "").rstrip("/")
    return base + mount(broadcast_id)


def source_url(settings: Settings, broadcast_id: str) -> str:
    """ffmpeg's ``icecast://`` output: the source user and password, Icecast's address, the mount."""
    parts = urlsplit(settings.icecast_url or "")
    password = quote(settings.icecast_source_password, safe="")
    return f"icecast://source:{password}@{parts.hostname}:{parts.port or 8000}{mount(broadcast_id)}"


def require_icecast(settings: Settings) -> None:
    if not settings.icecast_url:
        raise Conflict("live broadcasting is not set up on this hub: set HUB_ICECAST_URL (docs/live.md)")


# --- the broadcast's rules ---------------------------------------------------------------------------


def open_broadcast(session: Session, settings: Settings, principal: Principal, title: str, targets: list[str],
                   priority: str) -> tuple[LiveBroadcast, str]:
    """A new broadcast waiting for its audio, and its ingest key (shown only this once)."""
    principal.require("admin", "editor", "operator")
    title = title.strip()
    if not title:
        raise Invalid("title: give the broadcast a title")
    if len(title) > TITLE_MAX:
        raise Invalid(f"title is {len(title)} characters; the limit is {TITLE_MAX}")
    if priority not in PRIORITIES:
        raise Invalid(f"priority must be one of {', '.join(PRIORITIES)}")
    if not targets or len(set(targets)) != len(targets):
        raise Invalid("targets: give one or more commune codes, each once, or ['*']")
    if "*" in targets:
        if targets != ["*"]:
            raise Invalid("targets: '*' must stand alone")
        if principal.role == "operator":
            raise NotFound(f"commune not found: an operator speaks only to its own ({principal.commune})")
    else:
        if principal.role == "operator" and set(targets) != {principal.commune}:
            # Another commune's loudspeakers are not this operator's to know of: 404.
            raise NotFound(f"commune not found: an operator speaks only to its own ({principal.commune})")
        known = set(session.scalars(select(Commune.code).where(Commune.code.in_(targets))))
        unknown = [code for code in targets if code not in known]
        if unknown:
            raise Invalid(f"targets: unknown commune code(s): {', '.join(unknown)}")
    for row in on_air_or_open(session):
        if is_stale(row, utcnow()):
            end_stale(row)
    busy = [b for b in on_air_or_open(session) if _overlaps(b.targets, targets)]
    if busy:
        raise Conflict(f"a live broadcast to these communes is already open: {busy[0].title!r} ({busy[0].id})")
    key = secrets.token_urlsafe(24)
    now = utcnow()
    row = LiveBroadcast(title=title, priority=priority, targets=list(targets), author_id=principal.id,
                        ingest_key_hash=hash_token(key), stream_url="", status="open", created_at=now,
                        deadline_at=now + timedelta(seconds=settings.live_max_s))
    session.add(row)
    session.flush()
    row.stream_url = listen_url(settings, row.id)
    return row, key


def _overlaps(a: list[str], b: list[str]) -> bool:
    return "*" in a or "*" in b or bool(set(a) & set(b))


def is_stale(row: LiveBroadcast, now: datetime) -> bool:
    """On air, but its ingest has not said it is alive for STALE_S; or open and never on air for OPEN_S."""
    if row.status == "open":
        return (now - row.created_at).total_seconds() > OPEN_S
    return (row.status == "on_air" and row.alive_at is not None
            and (now - row.alive_at).total_seconds() > STALE_S)


def end_stale(row: LiveBroadcast) -> bool:
    """End a stale broadcast as failed, where it was last alive; True if it was on air."""
    was_on_air = row.status == "on_air"
    end(row, "failed", "the ingest stopped answering (its hub process went away)" if was_on_air
        else "no audio came (the page never connected, or its hub process went away)")
    row.ended_at = row.alive_at or row.ended_at
    return was_on_air


def on_air_or_open(session: Session) -> list[LiveBroadcast]:
    return list(session.scalars(select(LiveBroadcast).where(LiveBroadcast.status.in_(("open", "on_air")))))


def reaches(row: LiveBroadcast, commune: str | None) -> bool:
    """Whether this broadcast goes (or went) to the commune: named in its targets, or to the whole
    province (``*``)."""
    return "*" in row.targets or commune in row.targets


def visible(session: Session, principal: Principal, broadcast_id: str) -> LiveBroadcast:
    """The broadcast if this user may see it (an operator: only one its commune heard, its own or
    the whole province's); else NotFound."""
    if principal.is_device:
        raise Forbidden("a device token cannot be used here")
    row = session.get(LiveBroadcast, broadcast_id) if re.fullmatch(r"[0-9a-f]{32}", broadcast_id) else None
    if row is None or (principal.role == "operator" and not reaches(row, principal.commune)):
        raise NotFound("live broadcast not found")
    return row


def may_stop(principal: Principal, row: LiveBroadcast) -> None:
    """Editors and admins stop any broadcast; an operator only one to its own commune alone (what it
    could have opened): the department's broadcast to several communes or the whole province is
    in the operator's log but not its to end."""
    principal.require("admin", "editor", "operator")
    if principal.role == "operator" and list(row.targets) != [principal.commune]:
        raise Forbidden("an operator may stop only a broadcast to its own commune alone")


def may_resume(principal: Principal, row: LiveBroadcast) -> None:
    """Only who opened it takes its microphone back (a reloaded page, another device of theirs),
    or an admin; only while it is open or on air."""
    if principal.id != row.author_id and principal.role != "admin":
        raise Forbidden("only the officer who opened this broadcast (or an admin) may continue it")
    if row.status == "ended" or is_stale(row, utcnow()):
        raise Conflict("this broadcast has ended: open a new one")


def new_key(row: LiveBroadcast) -> str:
    """A new ingest key for the broadcast; the old one stops working, and a connection still using it
    is closed within a second (the ingest reads the row)."""
    key = secrets.token_urlsafe(24)
    row.ingest_key_hash = hash_token(key)
    return key


def key_matches(row: LiveBroadcast, key: str | None) -> bool:
    return bool(key) and secrets.compare_digest(row.ingest_key_hash, hash_token(key or ""))


def end(row: LiveBroadcast, reason: str, error: str | None = None) -> bool:
    """Mark it ended (once); True if this call ended it."""
    if row.status == "ended":
        return False
    row.status = "ended"
    row.ended_at = utcnow()
    row.end_reason = reason
    row.error = error
    return True


def live_specs(session: Session, commune: str, now: datetime) -> list[scheduler.LiveSpec]:
    """The broadcasts to a commune the resolver must know: on air, or ended within its look-back
    (what they interrupted is laid out after their real end)."""
    since = now - scheduler.LOOKBACK
    rows = session.scalars(select(LiveBroadcast).where(
        LiveBroadcast.started_at.is_not(None),
        or_(LiveBroadcast.ended_at.is_(None), LiveBroadcast.ended_at > since)))
    specs = []
    for row in rows:
        if not reaches(row, commune):
            continue
        ends = row.ended_at or row.deadline_at
        if is_stale(row, now):
            ends = min(ends, row.alive_at)  # type: ignore[type-var]
        if ends <= row.started_at:
            continue
        specs.append(scheduler.LiveSpec(id=row.id, priority=row.priority, targets=tuple(row.targets),  # type: ignore[arg-type]
                                        started_at=row.started_at, ends_at=ends, url=row.stream_url,
                                        join_spread_s=join_spread(session, row)))
    return specs


#: How many devices a second Icecast 2.4 lets in without dropping connections: it listens with a
#: backlog of 5 (src/global.h, ICECAST_LISTEN_QUEUE), and a connection dropped waits out TCP's
#: retries, 1 s, 3 s, 7 s … (docs/benchmarks.md, bench/live.py --join-spread).
JOINS_PER_S = 250
JOIN_SPREAD_MAX_S = 15.0


def join_spread(session: Session, row: LiveBroadcast) -> float:
    """Over how many seconds the broadcast's loudspeakers should spread their joins: their number
    over JOINS_PER_S, at least 1 s, at most JOIN_SPREAD_MAX_S."""
    query = select(func.count()).select_from(Device).where(Device.active, Device.kind != "display")
    if "*" not in row.targets:
        query = query.where(Device.commune.in_(list(row.targets)))
    devices = session.scalar(query) or 0
    return round(min(JOIN_SPREAD_MAX_S, max(1.0, devices / JOINS_PER_S)), 1)


def alive_marks(session: Session, specs: list[scheduler.LiveSpec]) -> list[datetime]:
    """When each of these broadcasts still on air was last said to be alive."""
    if not specs:
        return []
    rows = session.scalars(select(LiveBroadcast).where(LiveBroadcast.id.in_([s.id for s in specs]),
                                                       LiveBroadcast.status == "on_air"))
    return [row.alive_at for row in rows if row.alive_at is not None]


#: A listen ticket's prefix: the password a device gives Icecast instead of its token.
TICKET_PREFIX = "t1."


def listen_ticket(token_hash: str, mount_path: str) -> str:
    """The password a device gives Icecast for one mount (docs/device-protocol.md §Live): an HMAC of
    the mount's last segment (``<id>.mp3``) keyed by the SHA-256 of its token (hex), which the device computes from its token and
    the hub from the hash it stores. Unlike the token, which a player's command line shows to
    anyone on the device (``ps``), it opens only this broadcast, and only while it goes to the
    device's commune."""
    name = mount_path.split("?", 1)[0].rsplit("/", 1)[-1]
    return TICKET_PREFIX + hmac.new(token_hash.encode(), name.encode(), hashlib.sha256).hexdigest()


def ticket_device(session: Session, user: str | None, password: str, mount_path: str) -> Principal | None:
    """The active device whose listen ticket for this mount ``password`` is, its user name being
    ``device-<the first 12 hex digits of its token's hash>``; else None."""
    prefix = (user or "").removeprefix("device-")
    if not re.fullmatch(r"[0-9a-f]{12}", prefix) or not password.startswith(TICKET_PREFIX):
        return None
    path = unquote(mount_path or "").split("?", 1)[0]
    for device in session.scalars(select(Device).where(Device.token_hash.startswith(prefix, autoescape=True),
                                                       Device.active)):
        if hmac.compare_digest(listen_ticket(device.token_hash, path), password):
            return Principal(device.id, device.name, "device", device.commune, device.kind)
    return None


@dataclass(frozen=True)
class ListenerCheck:
    allowed: bool
    reason: str


def may_listen(session: Session, mount_path: str, device: Principal | None) -> ListenerCheck:
    """Icecast's listener_add: only a device of a targeted commune, only while the broadcast is open."""
    path = unquote(mount_path or "").split("?", 1)[0]
    match = MOUNT.match(path)
    if match is None:
        return ListenerCheck(False, "not a live mount")
    if device is None or not device.is_device:
        return ListenerCheck(False, "a device token is needed")
    row = session.get(LiveBroadcast, match[1])
    if row is None or row.status == "ended":
        return ListenerCheck(False, "no such broadcast on air")
    if not reaches(row, device.commune):
        return ListenerCheck(False, "this broadcast is not for the device's commune")
    return ListenerCheck(True, "ok")


# --- ffmpeg: the encoder and the archive -----------------------------------------------------------


class Encoder:
    """One ffmpeg process for one ingest connection: webm/opus in on stdin, MP3 out to Icecast's
    mount and a FLAC recording beside it. ``on_air`` is set once ffmpeg has encoded audio (so it
    is sending to Icecast); garbage input makes ffmpeg exit before that."""

    def __init__(self, settings: Settings, broadcast_id: str, recording: Path, title: str = "") -> None:
        self.settings = settings
        self.broadcast_id = broadcast_id
        self.recording = recording
        self.title = title
        self.proc: asyncio.subprocess.Process | None = None
        self.on_air = asyncio.Event()
        self._progress: asyncio.Task | None = None
        self._errors: asyncio.Task | None = None
        self.stderr = b""

    def command(self) -> list[str]:
        return [
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats",
            "-progress", "pipe:1", "-stats_period", "0.2",
            # Low delay: no input buffering, a small probe (the webm header is in the first chunk).
            "-fflags", "+nobuffer", "-probesize", "32768", "-analyzeduration", "0",
            "-f", "matroska", "-i", "pipe:0",
            "-map", "0:a:0", "-ac", "1", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "64k",
            "-flush_packets", "1", "-content_type", "audio/mpeg", "-ice_name", self.title or "live",
            "-f", "mp3", source_url(self.settings, self.broadcast_id),
            # Written as it comes (not in 32 KB blocks): a process killed loses a packet, not seconds.
            "-map", "0:a:0", "-ac", "1", "-ar", "48000", "-c:a", "flac", "-flush_packets", "1", "-f", "flac",
            str(self.recording),
        ]

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.command(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        self._progress = asyncio.create_task(self._watch_progress())
        self._errors = asyncio.create_task(self._collect_errors())

    async def _watch_progress(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            if line.startswith(b"out_time_us=") and line[12:].strip().isdigit() and int(line[12:]) > 0:
                self.on_air.set()

    async def _collect_errors(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        self.stderr = (await self.proc.stderr.read())[-4000:]

    @property
    def exited(self) -> bool:
        return self.proc is None or self.proc.returncode is not None

    async def feed(self, chunk: bytes) -> bool:
        """Hand ffmpeg a chunk; False once it has exited (it could not decode, or Icecast refused)."""
        if self.proc is None or self.proc.stdin is None or self.proc.returncode is not None:
            return False
        try:
            self.proc.stdin.write(chunk)
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    async def close(self, timeout: float = 5.0) -> int | None:
        """End of input: let ffmpeg finish the recording and leave the mount; kill it if it hangs."""
        if self.proc is None:
            return None
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            try:
                self.proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        for task in (self._progress, self._errors):
            if task is not None:
                try:
                    await asyncio.wait_for(task, 2.0)
                except (asyncio.TimeoutError, asyncio.CancelledError):
                    task.cancel()
        return self.proc.returncode

    def error_text(self) -> str:
        return self.stderr.decode(errors="replace").strip().splitlines()[-1] if self.stderr.strip() else ""


@dataclass(frozen=True)
class Archive:
    data: bytes
    duration_s: float
    loudness_lufs: float | None


def master(recordings: list[Path], work: Path, target_lufs: float) -> Archive | None:
    """The broadcast's recordings (one per ingest connection) joined, mastered to ``target_lufs``
    with ffmpeg's loudnorm in two passes (measure, then apply the measured values linearly, as
    ffmpeg's documentation of loudnorm advises for files), as MP3; None if nothing was recorded."""
    parts = [p for p in recordings if p.exists() and p.stat().st_size > 0 and _has_audio(p)]
    if not parts:
        return None
    joined = work / "joined.flac"
    inputs = [arg for p in parts for arg in ("-i", str(p))]
    concat = "".join(f"[{i}:a]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=0:a=1[out]"
    _ffmpeg(*inputs, "-filter_complex", concat, "-map", "[out]", "-ac", "1", "-c:a", "flac", str(joined))
    target = f"I={target_lufs}:TP=-1.5:LRA=11"
    probe = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-i", str(joined), "-af",
                            f"loudnorm={target}:print_format=json", "-f", "null", "-"],
                           capture_output=True, text=True, timeout=600)
    found = re.search(r"\{[^{}]*\"input_i\"[^{}]*\}", probe.stderr)
    measured = json.loads(found[0]) if found else None
    if measured and all(_finite(measured.get(k)) for k in ("input_i", "input_tp", "input_lra", "input_thresh")):
        second = (f"loudnorm={target}:measured_I={measured['input_i']}:measured_TP={measured['input_tp']}"
                  f":measured_LRA={measured['input_lra']}:measured_thresh={measured['input_thresh']}"
                  f":offset={measured.get('target_offset', 0)}:linear=true")
    else:  # silence cannot be measured: one pass
        second = f"loudnorm={target}"
    out = work / "archive.mp3"
    _ffmpeg("-i", str(joined), "-af", second + ",aresample=44100", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "96k",
            str(out))
    return Archive(out.read_bytes(), _duration(out), _loudness(out))


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True,
                   capture_output=True, timeout=600)


def _has_audio(path: Path) -> bool:
    """Whether the file holds at least one audio packet. Not its duration: a recording cut short
    (its ffmpeg killed) has no total in its FLAC header, and ffprobe gives it none, yet it decodes."""
    done = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=pts_time",
                           "-read_intervals", "%+#1", "-of", "csv=p=0", str(path)],
                          capture_output=True, text=True, timeout=60)
    return bool(done.stdout.strip())


def _duration(path: Path) -> float:
    done = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
                          capture_output=True, text=True, timeout=60)
    try:
        return float(json.loads(done.stdout)["format"]["duration"])
    except (KeyError, ValueError, TypeError):
        return 0.0


def _loudness(path: Path) -> float | None:
    done = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
                          capture_output=True, text=True, timeout=600)
    found = re.findall(r"I:\s+(-?[\d.]+) LUFS", done.stderr)
    return float(found[-1]) if found else None
