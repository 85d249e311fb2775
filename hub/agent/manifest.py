"""The device manifest as the agent reads it, validated, and its copy on disk."""

from __future__ import annotations

import json
import hashlib
import hmac
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

log = logging.getLogger(__name__)


class Media(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    url: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)
    duration_s: float = Field(ge=0)
    mime: str = "audio/mpeg"


class Stream(BaseModel):
    """A relay (tiếp sóng) or a live broadcast: played from ``url`` for the item's slot, never cached."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    url: str = Field(pattern=r"^(?i:https?)://.+")
    #: The slot's length; None for a live broadcast, which lasts until it leaves the manifest.
    duration_s: float | None = Field(default=None, ge=0)
    #: ``device``: the server (Icecast, for a live broadcast) lets in only a device of a targeted
    #: commune; the agent gives a listen ticket for the mount as the HTTP password
    #: (``device-…:t1.…@host``, docs/device-protocol.md §Live), never its token.
    auth: Literal["device"] | None = None
    #: A live broadcast: over how many seconds the fleet should spread its joins (the hub sizes it
    #: by the number of loudspeakers it goes to); the agent's own live_join_spread_s if absent.
    join_spread_s: float | None = Field(default=None, ge=0, le=60)

    def url_for(self, token: str) -> str:
        """The URL the player opens: with this device's listen ticket when the stream asks for one.
        The player's command line (which anyone on the device may read with ``ps``) then holds a
        password good only for this broadcast's mount, not the device's token."""
        if self.auth != "device" or not token:
            return self.url
        scheme, _, rest = self.url.partition("://")
        digest = hashlib.sha256(token.encode()).hexdigest()
        # Keyed on the mount's last segment (``<id>.mp3``): the same whatever path a proxy puts before it.
        name = rest.split("?", 1)[0].rsplit("/", 1)[-1]
        ticket = "t1." + hmac.new(digest.encode(), name.encode(), hashlib.sha256).hexdigest()
        # A user name of its own per device: Icecast may refuse a second listener with the same one.
        return f"{scheme}://device-{digest[:12]}:{quote(ticket, safe='')}@{rest}"


class Item(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    bulletin_id: str | None = None
    playlist_id: str | None = None
    priority: Literal["normal", "priority", "emergency"] = "normal"
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    interrupt: bool = False
    #: Exactly one of the two: a file to fetch, verify and play, or a stream to play for the slot.
    media: Media | None = None
    stream: Stream | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "Item":
        if (self.media is None) == (self.stream is None):
            raise ValueError("an item has exactly one of media and stream")
        return self

    @property
    def urgent(self) -> bool:
        """An emergency: it stops whatever plays and is played at once while still within its time."""
        return self.priority == "emergency" or self.interrupt

    @property
    def key(self) -> tuple[str, datetime]:
        """One play: the hub keeps an item's id when it moves it, so a moved play is a new play."""
        return self.id, self.starts_at


class Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    device: str
    server_time: AwareDatetime
    generated_at: AwareDatetime | None = None
    window_end: AwareDatetime | None = None
    etag: str | None = None
    items: list[Item]
    slides: list[dict[str, Any]] = []


class BadManifest(ValueError):
    """The hub (or the disk) gave something that is not a usable manifest; the previous one stays."""


def parse(raw: bytes | str) -> Manifest:
    try:
        return Manifest.model_validate_json(raw)
    except ValidationError as exc:
        raise BadManifest(f"bad manifest: {exc.error_count()} error(s), first: {exc.errors()[0]['msg']}") from exc


class SavedManifest:
    """The last good manifest, its ETag and the clock offset, in one JSON file replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, raw: bytes, etag: str | None, offset_s: float) -> None:
        # The manifest's own bytes, spliced in as they came (the caller has parsed them): json.dump
        # to a file encodes in pure Python, which cost a fleet of agents more CPU than the download.
        head = json.dumps({"etag": etag, "clock_offset_s": offset_s,
                           "saved_at": datetime.now(timezone.utc).isoformat()}, ensure_ascii=False)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as handle:
            body = raw if isinstance(raw, bytes) else raw.encode()
            handle.write(head[:-1].encode() + b', "manifest": ' + body + b"}")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)

    def load(self) -> tuple[Manifest, bytes, str | None, float] | None:
        """The saved manifest, or None when there is none or it cannot be read (then start empty)."""
        try:
            body = json.loads(self.path.read_bytes())
            raw = json.dumps(body["manifest"], ensure_ascii=False).encode()
            return parse(raw), raw, body.get("etag"), float(body.get("clock_offset_s") or 0.0)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring the saved manifest %s: %s", self.path, exc)
            return None


def fsync_dir(path: Path) -> None:
    """Make a rename in this folder durable (a power cut must not undo it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
