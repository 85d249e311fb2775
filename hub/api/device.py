"""/api/v1/device/*: what a loudspeaker or display pulls and what it reports."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from hub.api.deps import CurrentDevice, HubDep, bearer_token
from hub.auth import DEVICE_PREFIX
from hub.clock import utcnow
from hub.http import etag_matches
from hub.services.devices import Play
from hub.signing import HEADER
from hub.validation import sane_time

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/device", tags=["device"])


async def manifest_response(hub, device, request: Request, headers: dict[str, str] | None = None) -> Response:
    """The device's cached manifest, or 304 when its ETag is the one the request holds.

    A poll while nothing changed is answered on the event loop from memory; only a rebuild goes to
    a worker thread (it reads the store).
    """
    entry = hub.manifests.cached_entry(device) or await run_in_threadpool(hub.manifests.get, device)
    # Also on a 304, which has no body: a device keeps its clock right without a new manifest.
    headers = {"ETag": entry.etag, "Cache-Control": "no-cache", "X-Server-Time": _iso_now(), **(headers or {})}
    if etag_matches(request.headers.get("if-none-match"), entry.etag):
        return Response(status_code=304, headers=headers)
    body = entry.render(utcnow())
    return Response(body, media_type="application/json", headers={**headers, HEADER: hub.keys.sign(body)})


def event_stream(hub, device, request: Request, token: str, *, keepalive_s: float = 15.0,
                 headers: dict[str, str] | None = None) -> StreamingResponse:
    """Server-sent events: ``manifest`` with the new ETag, and the manifest, whenever it changes."""

    async def stream() -> AsyncIterator[bytes]:
        queue = await hub.events.subscribe(device)
        try:
            yield b"retry: 3000\n\n"
            while not await request.is_disconnected():
                try:
                    entry = await asyncio.wait_for(queue.get(), timeout=keepalive_s)
                except asyncio.TimeoutError:
                    # Deactivating a device need not change its manifest, so no event would tell
                    # it; end the stream instead, and its reconnection gets the 401.
                    if await asyncio.to_thread(hub.device_tokens.lookup, token) is None:
                        return
                    yield b": keep-alive\n\n"
                    continue
                # The manifest itself rides along, so a device need not queue for it behind the
                # whole fleet's fetches when an emergency goes out (compact JSON: one line).
                # Signed as a fetched manifest is: the signature covers the manifest's exact bytes,
                # which are everything after ',"manifest":' up to the line's final '}' (the etag and
                # signature before it are plain JSON strings; docs/device-protocol.md).
                # An emergency going on the air brings its audio along (before the manifest, so
                # the manifest's bytes stay the line's end): no download for a fleet to queue on.
                body = entry.render(utcnow())
                media = await event_media(hub, entry)
                yield (b'event: manifest\ndata: {"etag":' + json.dumps(entry.etag).encode()
                       + b',"signature":' + json.dumps(hub.keys.sign(body)).encode()
                       + media + b',"manifest":' + body + b"}\n\n")
        finally:
            hub.events.unsubscribe(device, queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})})


async def event_media(hub, entry) -> bytes:
    """``,"media":{"<sha256>":"<base64>",…}`` for the emergencies going on the air in ``entry``
    whose audio is at most ``HUB_EVENT_MEDIA_MAX_BYTES``; empty when there are none. The device
    checks each file's SHA-256 against its signed manifest before it keeps it."""
    limit, now = hub.settings.event_media_max_bytes, utcnow()
    wanted = dict.fromkeys(u.sha256 for u in entry.urgent if 0 < u.bytes <= limit and u.going_on_air(now))
    parts = []
    for sha256 in wanted:
        encoded = hub.media.encoded(sha256, read=False) or await asyncio.to_thread(hub.media.encoded, sha256)
        if encoded is not None:
            parts.append(b'"' + sha256.encode() + b'":"' + encoded + b'"')
    return b',"media":{' + b",".join(parts) + b"}" if parts else b""


@router.get("/keys", response_model=list[dict[str, str]])
def keys(hub: HubDep) -> Response:
    """Public: the Ed25519 keys manifests are signed with now (CONTRACT.md §Signed content).

    Signed like a manifest, so an agent that trusts one key can learn the next during a rotation."""
    body = json.dumps(hub.keys.public_keys()).encode()
    return Response(body, media_type="application/json", headers={HEADER: hub.keys.sign(body)})


@router.get("/manifest")
async def manifest(device: CurrentDevice, hub: HubDep, request: Request) -> Response:
    return await manifest_response(hub, device, request)


@router.get("/events")
async def events(device: CurrentDevice, hub: HubDep, request: Request) -> StreamingResponse:
    return event_stream(hub, device, request, bearer_token(request) or "")


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["idle", "playing", "error"]
    volume: int | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _small(self) -> "Heartbeat":
        if len(json.dumps(self.model_extra or {}, default=str)) > 4000:
            raise ValueError("heartbeat extras over 4000 bytes")
        return self


@router.post("/heartbeat", status_code=204)
def heartbeat(payload: Heartbeat, device: CurrentDevice, hub: HubDep) -> Response:
    hub.services.devices.heartbeat(device, payload.status, payload.volume, payload.model_dump(mode="json"))
    return Response(status_code=204)


class PlayIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    report_id: str = Field(min_length=1, max_length=64)
    item_id: str | None = Field(default=None, max_length=64)
    bulletin_id: str | None = Field(default=None, max_length=32)
    started_at: datetime
    ended_at: datetime
    result: Literal["played", "interrupted", "failed"]
    #: A stream's play (relay, live): the seconds really heard (docs/agent.md).
    heard_s: float | None = Field(default=None, ge=0, le=7 * 86400)

    # Aware, and within years a report can honestly name: year 1 or 9999 overflowed (issue 14).
    _tz = field_validator("started_at", "ended_at")(lambda cls, v: sane_time(v))

    @model_validator(mode="after")
    def _order(self) -> "PlayIn":
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class Plays(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plays: Annotated[list[PlayIn], Field(max_length=1000)]


@router.post("/plays")
def plays(payload: Plays, device: CurrentDevice, hub: HubDep) -> dict[str, int]:
    """Batched proof of play; a report_id this device sent before is counted once."""
    return hub.services.devices.record_plays(device, [Play(**p.model_dump()) for p in payload.plays])


def _iso_now() -> str:
    return utcnow().isoformat().replace("+00:00", "Z")


class ManifestFastPath:
    """Answers a device's manifest poll from the cache before the framework sees the request.

    Polls are most of the hub's traffic and, while nothing changed, all alike: a known device token
    and a fresh cached manifest. Those are answered here, byte for byte as the route above would;
    anything else (an unknown token, a stale cache, a rebuild) goes on to the route.
    """

    PATH = "/api/v1/device/manifest"

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == self.PATH and scope["method"] == "GET":
            hub = getattr(scope["app"].state, "hub", None) if "app" in scope else None
            if hub is not None and await self._answer(hub, scope, send):
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(hub: Any, scope: dict, send: Any) -> bool:
        headers = dict(scope["headers"])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token.startswith(DEVICE_PREFIX):
            return False
        device = hub.device_tokens.cached(token)
        entry = hub.manifests.cached_entry(device) if device is not None else None
        if entry is None:
            return False
        etag = entry.etag.encode()
        common = [(b"etag", etag), (b"cache-control", b"no-cache"), (b"x-server-time", _iso_now().encode())]
        if etag_matches(headers.get(b"if-none-match"), entry.etag):
            await send({"type": "http.response.start", "status": 304, "headers": common})
            await send({"type": "http.response.body", "body": b""})
            status = "304"
        else:
            body = entry.render(utcnow())
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *common,
                (b"x-hub-signature", hub.keys.sign(body).encode())]})
            await send({"type": "http.response.body", "body": body})
            status = "200"
        hub.metrics.requests.labels("GET", status).inc()
        return True
