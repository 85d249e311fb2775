"""Playlists: validation, access by commune, and ``hub playlists sync`` from YAML files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth import Principal
from hub.errors import Conflict, Invalid, NotFound
from hub.models import Bulletin, BulletinTarget, Commune, MediaObject, Playlist
from hub.validation import NoNul, well_formed_id

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[str] = Field(default_factory=lambda: list(DAYS), min_length=1)
    times: list[str] = Field(min_length=1, max_length=48)
    start_date: date
    end_date: date | None = None
    #: Dates with no programme (Tết, a local holiday).
    exceptions: list[date] = Field(default_factory=list, max_length=366)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        bad = [d for d in value if d not in DAYS]
        if bad:
            raise ValueError(f"unknown day(s) {bad}; use {', '.join(DAYS)}")
        if len(set(value)) != len(value):
            raise ValueError("days must not repeat")
        return sorted(value, key=DAYS.index)

    @field_validator("times")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if not isinstance(t, str) or not TIME_RE.match(t)]
        if bad:
            raise ValueError(f"times must be HH:MM (24-hour), got {bad}")
        if len(set(value)) != len(value):
            raise ValueError("times must not repeat")
        return sorted(value)

    @model_validator(mode="after")
    def _dates(self) -> "ScheduleIn":
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        return self


#: The longest relay slot: a whole night's programme is 6 hours.
MAX_RELAY_S = 6 * 3600


def check_stream_url(value: str) -> str:
    """An http(s) URL with a host and nothing that a player or a log could misread; else ValueError."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("stream_url must not hold spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"stream_url is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("stream_url must be an http:// or https:// address")
    if not parts.hostname:
        raise ValueError("stream_url has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("stream_url must not carry a user name or password")
    if port == 0:
        raise ValueError("stream_url has port 0")
    return value


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bulletin_id: str | None = Field(default=None, max_length=32)
    #: A bulletin by where it came from, "source:source_ref" (handy in files: ids are random).
    bulletin_ref: str | None = Field(default=None, max_length=600, pattern=r"^[^:]+:.+$")
    #: sha256 of uploaded audio (POST /api/v1/media).
    media: str | None = Field(default=None, max_length=64)
    #: A relay (tiếp sóng): a station's http(s) stream, played by the devices for duration_s.
    #: The hub never fetches it (only the explicit stream check does; hub/stream_check.py).
    stream_url: str | None = Field(default=None, min_length=1, max_length=2000)
    duration_s: int | None = Field(default=None, ge=1, le=MAX_RELAY_S)

    @field_validator("stream_url")
    @classmethod
    def _stream_url(cls, value: str | None) -> str | None:
        return None if value is None else check_stream_url(value)

    @model_validator(mode="after")
    def _one(self) -> "ItemIn":
        chosen = (self.bulletin_id, self.bulletin_ref, self.media, self.stream_url)
        if sum(value is not None for value in chosen) != 1:
            raise ValueError("an item has exactly one of bulletin_id, bulletin_ref, media or stream_url")
        if self.stream_url is not None and self.duration_s is None:
            raise ValueError("a relay item (stream_url) needs duration_s, its length in seconds")
        if self.stream_url is None and self.duration_s is not None:
            raise ValueError("duration_s belongs to a relay item (stream_url) only")
        return self


class PlaylistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: NoNul = Field(min_length=1, max_length=200)
    commune: NoNul = Field(min_length=1, max_length=32)
    items: list[ItemIn] = Field(min_length=1, max_length=200)
    schedule: ScheduleIn
    enabled: bool = True
    priority: int = Field(default=0, ge=0, le=100)


def playlist_view(playlist: Playlist, warnings: list[str] | None = None) -> dict[str, Any]:
    view = {
        "id": playlist.id, "name": playlist.name, "commune": playlist.commune, "enabled": playlist.enabled,
        "priority": playlist.priority, "items": playlist.items, "schedule": playlist.schedule,
        "origin": playlist.origin, "origin_path": playlist.origin_path,
        "created_at": playlist.created_at, "updated_at": playlist.updated_at,
    }
    if warnings is not None:
        view["warnings"] = warnings
    return view


def _check_access(session: Session, principal: Principal, commune: str) -> None:
    principal.require("admin", "editor", "operator")
    if not principal.sees_commune(commune) or session.get(Commune, commune) is None:
        raise NotFound(f"unknown commune: {commune}")


def check_items(session: Session, commune: str, items: list[ItemIn]) -> None:
    """Every bulletin approved and aimed at this commune; every media file uploaded audio it may use."""
    for index, item in enumerate(items):
        if item.bulletin_ref is not None:
            source, _, ref = item.bulletin_ref.partition(":")
            found = session.scalar(select(Bulletin.id).where(Bulletin.source == source, Bulletin.source_ref == ref))
            if found is None:
                raise Invalid(f"items[{index}]: no bulletin from {item.bulletin_ref}")
            item.bulletin_id, item.bulletin_ref = found, None
        if item.stream_url is not None:
            continue  # checked by its shape only: the hub never fetches a user's URL here
        if item.bulletin_id is not None:
            bulletin = session.get(Bulletin, item.bulletin_id)
            if bulletin is None or bulletin.status != "approved" or bulletin.approved_revision != bulletin.revision:
                raise Invalid(f"items[{index}]: bulletin {item.bulletin_id} is not an approved bulletin")
            targets = set(session.scalars(select(BulletinTarget.commune).where(
                BulletinTarget.bulletin_id == bulletin.id)))
            if not targets & {commune, "*"}:
                raise Invalid(f"items[{index}]: bulletin {item.bulletin_id} does not target commune {commune}")
        else:
            media = session.get(MediaObject, item.media)
            # Only programme audio uploaded for playlists: never a bulletin's recording (it airs
            # only as the approved revision's artifact) nor a rendered artifact.
            programme = media is not None and media.uploaded_by is not None and (media.meta or {}).get("role") != "recording"
            if not programme or not media.mime.startswith("audio/") or media.commune not in (None, commune):
                raise Invalid(f"items[{index}]: media {item.media} is not audio uploaded for commune {commune}")


def _apply(playlist: Playlist, data: PlaylistIn) -> None:
    playlist.name = data.name.strip()
    playlist.commune = data.commune
    playlist.enabled = data.enabled
    playlist.priority = data.priority
    playlist.items = [item.model_dump(exclude_none=True) for item in data.items]
    playlist.schedule = data.schedule.model_dump(mode="json")


def create(session: Session, principal: Principal, data: PlaylistIn, *, origin: str = "api",
           origin_path: str | None = None) -> Playlist:
    _check_access(session, principal, data.commune)
    check_items(session, data.commune, data.items)
    playlist = Playlist(origin=origin, origin_path=origin_path, created_by=principal.id)
    _apply(playlist, data)
    session.add(playlist)
    session.flush()
    return playlist


def visible(session: Session, principal: Principal, playlist_id: str) -> Playlist:
    playlist = session.get(Playlist, playlist_id) if well_formed_id(playlist_id) else None
    if playlist is None or principal.is_device or not principal.sees_commune(playlist.commune):
        raise NotFound("playlist not found")
    return playlist


def replace(session: Session, principal: Principal, playlist_id: str, data: PlaylistIn) -> Playlist:
    playlist = visible(session, principal, playlist_id)
    _check_access(session, principal, playlist.commune)
    if playlist.origin == "file":
        raise Conflict(f"this playlist comes from {playlist.origin_path}; change that file and sync")
    _check_access(session, principal, data.commune)
    check_items(session, data.commune, data.items)
    _apply(playlist, data)
    session.flush()
    return playlist


def delete(session: Session, principal: Principal, playlist_id: str) -> None:
    playlist = visible(session, principal, playlist_id)
    _check_access(session, principal, playlist.commune)
    if playlist.origin == "file":
        raise Conflict(f"this playlist comes from {playlist.origin_path}; remove that file and sync")
    session.delete(playlist)


def listing(session: Session, principal: Principal, commune: str | None) -> list[Playlist]:
    principal.require("admin", "editor", "operator", "monitor")
    query = select(Playlist).order_by(Playlist.commune, Playlist.name, Playlist.id)
    if commune:
        query = query.where(Playlist.commune == commune)
    if principal.role == "operator":
        query = query.where(Playlist.commune == principal.commune)
    return list(session.scalars(query))


# --- files ----------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {k: getattr(self, k) for k in ("created", "updated", "unchanged", "deleted", "errors")}


def _line_of(node: yaml.Node | None, loc: tuple) -> int:
    """The 1-based line in the YAML file of the value at ``loc`` (as far as it can be followed)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            match = node.value[key]
        else:
            match = None
        if match is None:
            break
        node = match
        line = node.start_mark.line + 1
    return line


def load_file(path: Path) -> PlaylistIn:
    """Parse and validate one playlist file; Invalid names the file and line of the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"{path}:1: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise Invalid(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise Invalid(f"{path}:1: a playlist file holds one mapping (name, commune, items, schedule)")
    try:
        return PlaylistIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        where = ".".join(str(part) for part in loc)
        raise Invalid(f"{path}:{_line_of(node, loc)}: {where}: {first['msg']}") from None


def sync(session: Session, principal: Principal, directory: Path) -> SyncReport:
    """Make the file-owned playlists equal the files in ``directory``; API playlists are left alone.

    Invalid files are reported and leave their playlist as it was, so a typo never takes a programme
    off the air. Running it twice changes nothing the second time.
    """
    report = SyncReport()
    if not directory.is_dir():
        raise Invalid(f"{directory} is not a folder")
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    seen: set[str] = set()
    for path in files:
        key = str(path.resolve())
        seen.add(key)
        try:
            data = load_file(path)
            existing = session.scalar(select(Playlist).where(Playlist.origin_path == key))
            with session.begin_nested():
                if existing is None:
                    create(session, principal, data, origin="file", origin_path=key)
                    report.created.append(path.name)
                else:
                    _check_access(session, principal, data.commune)
                    check_items(session, data.commune, data.items)
                    before = playlist_view(existing)
                    _apply(existing, data)
                    after = playlist_view(existing)
                    changed = any(before[k] != after[k] for k in ("name", "commune", "enabled", "priority", "items",
                                                                   "schedule"))
                    (report.updated if changed else report.unchanged).append(path.name)
        except (Invalid, NotFound, Conflict) as exc:
            detail = exc.detail
            report.errors.append(detail if detail.startswith(str(path)) else f"{path}:1: {detail}")
    for playlist in session.scalars(select(Playlist).where(Playlist.origin == "file")):
        if playlist.origin_path not in seen and Path(playlist.origin_path).parent == directory.resolve():
            report.deleted.append(Path(playlist.origin_path).name)
            session.delete(playlist)
    return report


def parse_time(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))
