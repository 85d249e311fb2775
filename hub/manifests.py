"""Device manifests: the store's playlists and bulletins, resolved into plays, cached per device.

A poll costs one query (the ``schedule`` counter, see hub/changes.py) and a dictionary lookup while
nothing changed: the timeline is resolved once per change per commune, and each device's JSON is
serialised once per change. Only ``server_time`` is filled in per request, by a byte replace.

The window is anchored to fixed six-hour buckets (Asia/Ho_Chi_Minh) and runs 30 hours from the
bucket's start, so it always covers at least the next 24 hours, and the ETag changes only when the
plays change or a new bucket starts — never merely because time passed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub import changes, live, scheduler
from hub.auth import Principal
from hub.clock import LOCAL_TZ as TZ
from hub.clock import utcnow
from hub.models import Artifact, Bulletin, BulletinTarget, Device, MediaObject, Playlist, Revision
from hub.plugin_types import PRIORITY_RANK
from hub.store import Store

log = logging.getLogger(__name__)
BUCKET = timedelta(hours=6)
WINDOW = timedelta(hours=30)
#: An emergency starting this close to now is one a device is being told of as it goes on the air.
URGENT_SPAN = timedelta(seconds=60)
_SERVER_TIME = b"\x00SERVER_TIME\x00"


def bucket_start(now: datetime) -> datetime:
    """The start of the six-hour block of local time that ``now`` falls in (on every poll: cheap)."""
    offset = now.astimezone(TZ).utcoffset().total_seconds()
    step = BUCKET.total_seconds()
    local = now.timestamp() + offset
    return datetime.fromtimestamp(local - local % step - offset, timezone.utc)


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# --- from the store to the resolver's inputs --------------------------------------------------------


def _media_ref(sha256: str, size: int, meta: dict[str, Any] | None, mime: str) -> scheduler.MediaRef | None:
    duration = (meta or {}).get("duration_s")
    if not duration:
        return None
    return scheduler.MediaRef(sha256=sha256, bytes=size, duration_s=float(duration), mime=mime)


def _audio_for(artifacts: list[Artifact], commune: str) -> Artifact | None:
    """The audio made for this commune's voice, else the bulletin's general audio."""
    audio = [a for a in artifacts if a.kind == "audio"]
    for artifact in audio:
        if commune in ((artifact.meta or {}).get("communes") or ()):
            return artifact
    return next((a for a in audio if not (a.meta or {}).get("communes")), audio[0] if audio else None)


@dataclass(frozen=True)
class UrgentMedia:
    """An emergency play's file, for the event that announces it to carry."""

    sha256: str
    bytes: int
    starts_at: datetime
    ends_at: datetime

    def going_on_air(self, now: datetime) -> bool:
        """Whether a device told of it ``now`` is being told as it goes on the air."""
        return self.ends_at > now and abs(self.starts_at - now) <= URGENT_SPAN


@dataclass(frozen=True)
class CommuneState:
    """Everything a commune's devices get, resolved once per change."""

    plays: tuple[scheduler.Play, ...]
    slides: tuple[dict[str, Any], ...]
    #: When a bulletin in it starts or stops being valid: the state must be resolved again then.
    stale_at: datetime | None = None
    #: Serialised once and shared by every device of the commune: items, and slides per orientation.
    _json: dict[str | None, bytes] = field(default_factory=dict, compare=False, repr=False)

    def items_json(self) -> bytes:
        if "items" not in self._json:
            self._json["items"] = _dumps([play_view(p) for p in self.plays])
        return self._json["items"]

    def urgent_media(self) -> tuple[UrgentMedia, ...]:
        """The emergency plays with a file: what an event may carry (docs/device-protocol.md §2)."""
        return tuple(UrgentMedia(play.media.sha256, play.media.bytes, play.starts_at, play.ends_at)
                     for play in self.plays if play.priority == "emergency" and play.media is not None)

    def slides_json(self, orientation: str | None) -> bytes:
        """All slides (``None``), or those a board of this orientation shows."""
        key = f"slides:{orientation}"
        if key not in self._json:
            slides = [s for s in self.slides if orientation is None or s.get("orientation") in (None, orientation)]
            self._json[key] = _dumps(slides)
        return self._json[key]


def load_inputs(session: Session, commune: str, now: datetime) -> tuple[list, list, dict[str, list[Artifact]]]:
    targeted = select(BulletinTarget.bulletin_id).where(BulletinTarget.commune.in_([commune, "*"]))
    rows = session.execute(
        select(Bulletin, Revision).join(Revision, (Revision.bulletin_id == Bulletin.id) & (
            Revision.revision == Bulletin.revision))
        .where(Bulletin.status == "approved", Bulletin.approved_revision == Bulletin.revision,
               Bulletin.id.in_(targeted), or_(Revision.valid_until.is_(None), Revision.valid_until > now))
    ).all()
    artifacts: dict[str, list[Artifact]] = {}
    if rows:
        for artifact in session.scalars(select(Artifact).where(
                Artifact.bulletin_id.in_([b.id for b, _ in rows])).order_by(Artifact.renderer, Artifact.position)):
            artifacts.setdefault(artifact.bulletin_id, []).append(artifact)
    bulletins = []
    for bulletin, revision in rows:
        own = [a for a in artifacts.get(bulletin.id, []) if a.revision == bulletin.revision]
        artifacts[bulletin.id] = own
        audio = _audio_for(own, commune)
        if "speaker" not in revision.channels:
            audio = None
        bulletins.append(scheduler.BulletinSpec(
            id=bulletin.id, priority=revision.priority, targets=tuple(revision.targets),
            approved_at=bulletin.approved_at, valid_from=revision.valid_from, valid_until=revision.valid_until,
            media=_media_ref(audio.sha256, audio.bytes, audio.meta, audio.mime) if audio else None,
            repeat_count=revision.repeat_count, repeat_interval_s=revision.repeat_interval_s))
    playlists = []
    for playlist in session.scalars(select(Playlist).where(Playlist.commune == commune, Playlist.enabled)):
        items = []
        for item in playlist.items:
            if "stream_url" in item:
                items.append(scheduler.PlaylistItem(stream=scheduler.StreamRef(
                    url=item["stream_url"], duration_s=float(item["duration_s"]))))
            elif "media" in item:
                media = session.get(MediaObject, item["media"])
                ref = _media_ref(media.sha256, media.bytes, media.meta, media.mime) if media else None
                if ref is not None:
                    items.append(scheduler.PlaylistItem(media=ref))
            else:
                items.append(scheduler.PlaylistItem(bulletin_id=item["bulletin_id"]))
        playlists.append(scheduler.PlaylistSpec(
            id=playlist.id, commune=playlist.commune, name=playlist.name, enabled=playlist.enabled,
            priority=playlist.priority, schedule=schedule_of(playlist.schedule), items=tuple(items),
            created_at=playlist.created_at))
    return playlists, bulletins, artifacts


def schedule_of(raw: dict[str, Any]) -> scheduler.Schedule:
    return scheduler.Schedule(
        days=frozenset(raw.get("days") or ()),
        times=tuple(time.fromisoformat(t) for t in raw.get("times") or ()),
        start_date=date.fromisoformat(raw["start_date"]),
        end_date=date.fromisoformat(raw["end_date"]) if raw.get("end_date") else None,
        exceptions=frozenset(date.fromisoformat(d) for d in raw.get("exceptions") or ()),
    )


def resolve_commune(session: Session, commune: str, now: datetime, window_start: datetime) -> CommuneState:
    playlists, bulletins, artifacts = load_inputs(session, commune, now)
    lives = live.live_specs(session, commune, now)
    plays = scheduler.resolve(playlists, bulletins, commune, window_start, WINDOW, lives=lives)
    slides = []
    for spec in sorted(bulletins, key=lambda b: (PRIORITY_RANK[b.priority], -b.approved_at.timestamp(), b.id)):
        if spec.valid_from is not None and spec.valid_from > now + WINDOW:
            continue
        for artifact in artifacts.get(spec.id, []):
            if artifact.kind != "slide":
                continue
            meta = artifact.meta or {}
            slides.append({
                "bulletin_id": spec.id, "url": f"/media/{artifact.sha256}", "sha256": artifact.sha256,
                "mime": artifact.mime, "priority": spec.priority, "orientation": meta.get("orientation"),
                "page": meta.get("page"), "pages": meta.get("pages"), "duration_s": meta.get("duration_s"),
                "valid_from": _iso(spec.valid_from) if spec.valid_from else None,
                "valid_until": _iso(spec.valid_until) if spec.valid_until else None,
            })
    edges = [t for spec in bulletins for t in (spec.valid_from, spec.valid_until) if t is not None and t > now]
    edges += [spec.ends_at for spec in lives if spec.ends_at > now]  # a live broadcast's limit
    # A live broadcast whose ingest goes silent is over STALE_S later: look again then.
    edges += [alive + timedelta(seconds=live.STALE_S) for alive in live.alive_marks(session, lives)]
    return CommuneState(plays=tuple(plays), slides=tuple(slides), stale_at=min(edges, default=None))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def play_view(play: scheduler.Play) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": play.id, "bulletin_id": play.bulletin_id, "playlist_id": play.playlist_id,
        "priority": play.priority, "reason": play.reason,
        "starts_at": _iso(play.starts_at), "ends_at": _iso(play.ends_at),
        "interrupt": play.priority == "emergency" or play.reason == "live",
    }
    if play.live_id is not None:
        # A live broadcast: Icecast lets the device in with its listen ticket as the password
        # (``auth: device``, docs/live.md); it lasts until it leaves the manifest; its devices
        # spread their joins over ``join_spread_s``.
        assert play.stream is not None
        view["live_id"] = play.live_id
        view["stream"] = {"url": play.stream.url, "duration_s": None, "auth": "device"}
        if play.stream.join_spread_s is not None:
            view["stream"]["join_spread_s"] = play.stream.join_spread_s
    elif play.stream is not None:
        # A relay: the device plays the URL for the slot; the hub never fetches it (docs/scheduling.md).
        duration = play.stream.duration_s
        view["stream"] = {"url": play.stream.url, "duration_s": None if duration is None else round(duration, 3)}
    else:
        assert play.media is not None
        view["media"] = {"url": f"/media/{play.media.sha256}", "sha256": play.media.sha256,
                         "bytes": play.media.bytes, "duration_s": round(play.media.duration_s, 3),
                         "mime": play.media.mime}
    return view


# --- the per-device cache --------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    generation: int
    window_start: datetime
    etag: str
    body: bytes
    stale_at: datetime | None = None
    #: A loudspeaker's emergency plays with a file (which of them go on the air is asked when sent).
    urgent: tuple[UrgentMedia, ...] = ()

    def fresh(self, generation: int, window_start: datetime, now: datetime) -> bool:
        return (self.generation == generation and self.window_start == window_start
                and (self.stale_at is None or now < self.stale_at))

    def render(self, now: datetime) -> bytes:
        return self.body.replace(_SERVER_TIME, _iso(now).encode(), 1)


class Manifests:
    """Builds and caches each device's manifest, per schedule generation and window."""

    def __init__(self, store: Store, counter: changes.ScheduleCounter) -> None:
        self.store = store
        self.counter = counter
        self._entries: dict[str, Entry] = {}
        self._communes: dict[tuple[str, int, datetime], CommuneState] = {}
        #: (generation, {device id: (commune, kind, a board's orientation)}): the whole fleet's, read
        #: in one query per generation, so that building a device's manifest reads nothing else.
        self._fleet: tuple[int, dict[str, tuple[str, str, str | None]]] | None = None
        self._lock = threading.Lock()

    def cached_entry(self, device: Principal) -> Entry | None:
        """The device's manifest if the cache holds a fresh one, without any I/O; else None."""
        generation = self.counter.fresh()
        entry = self._entries.get(device.id)
        if generation is None or entry is None:
            return None
        now = utcnow()
        return entry if entry.fresh(generation, bucket_start(now), now) else None

    def is_fresh(self, device_id: str, generation: int, now: datetime) -> bool:
        entry = self._entries.get(device_id)
        return entry is not None and entry.fresh(generation, bucket_start(now), now)

    def get(self, device: Principal, *, generation: int | None = None, now: datetime | None = None) -> Entry:
        now = now or utcnow()
        generation = self.counter.value() if generation is None else generation
        window_start = bucket_start(now)
        entry = self._entries.get(device.id)
        if entry is not None and entry.fresh(generation, window_start, now):
            return entry
        with self._lock:
            entry = self._entries.get(device.id)
            if entry is not None and entry.fresh(generation, window_start, now):
                return entry
            entry = self._build(device, generation, window_start, now)
            self._entries[device.id] = entry
            return entry

    def clear(self) -> None:
        """Forget every cached manifest and timeline (they are rebuilt on the next ask)."""
        with self._lock:
            self._entries.clear()
            self._communes.clear()
            self._fleet = None

    def _commune(self, session: Session, commune: str, generation: int, window_start: datetime,
                 now: datetime) -> CommuneState:
        key = (commune, generation, window_start)
        state = self._communes.get(key)
        if state is None or (state.stale_at is not None and now >= state.stale_at):
            state = resolve_commune(session, commune, now, window_start)
            # Older generations are never asked for again.
            self._communes = {k: v for k, v in self._communes.items() if k[1] == generation}
            self._communes[key] = state
        return state

    def _facts(self, session: Session, device_id: str, generation: int) -> tuple[str, str, str | None] | None:
        """A device's commune, kind and (a board's) orientation. Every change of those raises the
        generation (a move, a new kind: changes._DEVICE_FIELDS; a board turned round: its
        heartbeat), so the whole fleet's are read once per generation, in two queries, rather than
        one query per device for each of the thousands of manifests a change makes the hub
        rebuild (an emergency: every device's at once)."""
        fleet = self._fleet
        if fleet is None or fleet[0] != generation:
            facts: dict[str, tuple[str, str, str | None]] = {
                row_id: (commune, kind, None)
                for row_id, commune, kind in session.execute(select(Device.id, Device.commune, Device.kind))}
            for row_id, heartbeat in session.execute(select(Device.id, Device.heartbeat).where(Device.kind == "display")):
                commune, kind, _ = facts[row_id]
                facts[row_id] = (commune, kind, (heartbeat or {}).get("orientation") or "landscape")
            fleet = self._fleet = (generation, facts)
        return fleet[1].get(device_id)

    def _build(self, device: Principal, generation: int, window_start: datetime, now: datetime) -> Entry:
        fleet = self._fleet
        facts = fleet[1].get(device.id) if fleet is not None and fleet[0] == generation else None
        state = self._communes.get(((facts[0] if facts else device.commune), generation, window_start))
        if facts is None or state is None or (state.stale_at is not None and now >= state.stale_at):
            # Only when the generation moved (or time did): most builds after a change read nothing.
            with self.store.reader() as session:
                facts = self._facts(session, device.id, generation)
                state = self._commune(session, facts[0] if facts else device.commune, generation, window_start, now)
        commune = facts[0] if facts else device.commune
        # A board shows the slides of its own orientation only.
        orientation = facts[2] if facts is not None and facts[1] == "display" else None
        items, slides = state.items_json(), state.slides_json(orientation)
        digest = hashlib.sha256(b"\0".join((device.id.encode(), items, slides))).hexdigest()
        raw = b"".join((
            b'{"device":', _dumps(device.id), b',"commune":', _dumps(commune),
            b',"generated_at":', _dumps(_iso(now)), b',"server_time":"', _SERVER_TIME,
            b'","window_start":', _dumps(_iso(window_start)), b',"window_end":', _dumps(_iso(window_start + WINDOW)),
            b',"etag":', _dumps(digest[:32]), b',"items":', items, b',"slides":', slides, b"}",
        ))
        urgent = state.urgent_media() if facts is None or facts[1] != "display" else ()
        return Entry(generation, window_start, f'"{digest[:32]}"', raw, state.stale_at, urgent)



def scheduled_counts(session: Session, communes: list[str], first: date, last: date) -> dict[tuple[str, date], int]:
    """Plays the schedule holds per commune and local day, resolved from the current state."""
    counts: dict[tuple[str, date], int] = {}
    start = datetime.combine(first, time(0), TZ).astimezone(timezone.utc)
    span = datetime.combine(last + timedelta(days=1), time(0), TZ).astimezone(timezone.utc) - start
    for commune in communes:
        playlists, bulletins, _ = load_inputs(session, commune, start)
        for play in scheduler.resolve(playlists, bulletins, commune, start, span):
            day = play.starts_at.astimezone(TZ).date()
            if first <= day <= last:
                counts[(commune, day)] = counts.get((commune, day), 0) + 1
    return counts


def conflicts_for_commune(session: Session, commune: str, now: datetime, window: timedelta) -> list[str]:
    playlists, bulletins, _ = load_inputs(session, commune, now)
    return list(scheduler.conflicts(playlists, commune, now, window, bulletins=bulletins))
