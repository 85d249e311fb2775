"""/api/v1/live: live broadcasts, their audio ingest (a WebSocket) and Icecast's listener check."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
from typing import Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hub.api.deps import CurrentUser, HubDep
from hub.errors import HubError
from hub.validation import NoNul

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/live", tags=["live"])

#: WebSocket close codes: 1008 policy (no such broadcast, wrong key), 1003 not audio, 1000 ended.
CLOSE_REFUSED, CLOSE_NOT_AUDIO, CLOSE_ENDED = 1008, 1003, 1000
#: An application code (4000–4999, RFC 6455 §7.4.2): the broadcast was resumed from another page.
CLOSE_SUPERSEDED = 4001
#: The largest chunk a browser sends (MediaRecorder's timeslice of a fraction of a second is far less).
CHUNK_MAX = 1 << 20


class LiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: NoNul = Field(max_length=200)
    targets: list[NoNul] = Field(min_length=1, max_length=500)
    priority: Literal["priority", "emergency"] = "priority"


def ingest_url(request: Request, path: str) -> str:
    scheme = "wss" if request.url.scheme == "https" else "ws"
    return f"{scheme}://{request.url.netloc}{path}"


@router.post("", status_code=201)
def open_live(payload: LiveIn, request: Request, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    view = hub.services.live.open(user, payload.title, payload.targets, payload.priority)
    view["ingest_url"] = ingest_url(request, view["ingest_path"])
    return view


@router.get("")
def list_live(user: CurrentUser, hub: HubDep) -> list[dict[str, Any]]:
    return hub.services.live.list(user)


@router.get("/{broadcast_id}")
def get_live(broadcast_id: str, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    return hub.services.live.get(user, broadcast_id)


@router.post("/{broadcast_id}/resume")
def resume_live(broadcast_id: str, request: Request, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    """A new ingest key for a broadcast still going (its author, or an admin): a reloaded page goes on."""
    view = hub.services.live.resume(user, broadcast_id)
    view["ingest_url"] = ingest_url(request, view["ingest_path"])
    return view


@router.post("/{broadcast_id}/stop")
def stop_live(broadcast_id: str, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    return hub.services.live.stop(user, broadcast_id)


@router.post("/icecast/listener", response_class=Response,
             responses={200: {"description": "Icecast reads the icecast-auth-* headers; no body", "content": {}}})
async def icecast_listener(request: Request, hub: HubDep) -> Response:
    """Icecast's URL authentication (``listener_add``): a form with ``mount``, ``user``, ``pass`` …
    The answer lets the listener in with the header ``icecast-auth-user: 1``, else refuses."""
    key = hub.settings.icecast_auth_key
    if key and not hmac.compare_digest(request.query_params.get("key", "").encode(), key.encode()):
        # Icecast reads only the status and headers; the body is the hub's error shape for anyone else.
        return JSONResponse({"detail": "bad key"}, status_code=403, headers={"icecast-auth-message": "bad key"})
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    fields = {name: values[0] for name, values in form.items() if values}
    if fields.get("action", "listener_add") != "listener_add":
        return Response(status_code=200, headers={"icecast-auth-user": "1"})
    user, password = fields.get("user"), fields.get("pass")
    if not password:
        user, password = _basic_credentials(request)
    check = await run_in_threadpool(hub.services.live.listener, fields.get("mount", ""), password, user)
    headers = {"icecast-auth-message": check.reason}
    if check.allowed:
        headers["icecast-auth-user"] = "1"
    return Response(status_code=200, headers=headers)


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, _, password = base64.b64decode(value).decode().partition(":")
    except ValueError:
        return None, None
    return user or None, password or None


@router.websocket("/{broadcast_id}/ingest")
async def ingest(websocket: WebSocket, broadcast_id: str) -> None:
    """The browser's microphone: binary messages of one webm/opus stream (MediaRecorder chunks).

    Refused (closed before any audio goes out) without an open broadcast and its key; closed with
    1003 when ffmpeg cannot decode what arrives, and nothing went on air for it; closed with 1000
    when the broadcast ends (stopped, or its limit). A connection back within ``HUB_LIVE_IDLE_S``
    of a drop goes on feeding the encoder that was left running (LiveService.encoder_for).
    """
    hub = websocket.app.state.hub
    service = hub.services.live
    try:
        run = await run_in_threadpool(service.connect, broadcast_id, websocket.query_params.get("key"))
    except HubError as exc:
        await websocket.close(code=CLOSE_REFUSED, reason=exc.detail[:120])
        return
    await websocket.accept()
    encoder = await service.start_encoder(run)
    on_air = asyncio.create_task(_when_on_air(service, run, encoder))
    idle = hub.settings.live_idle_s
    close_code, close_reason = CLOSE_ENDED, "ended"
    try:
        while True:
            if await run_in_threadpool(service.ended_elsewhere, run):
                close_reason = "the broadcast has ended"
                break
            if run.superseded:
                # Resumed with a new key (another page): this one goes, the broadcast goes on.
                close_code, close_reason = CLOSE_SUPERSEDED, "continued from another page"
                break
            try:
                message = await asyncio.wait_for(websocket.receive(), timeout=min(1.0, idle))
            except asyncio.TimeoutError:
                if not run.on_air and encoder.exited:
                    close_code, close_reason = await _not_audio(service, run, encoder)
                    break
                run.quiet_s += min(1.0, idle)
                if run.quiet_s >= idle:
                    await service.end_broadcast(run, "browser_gone")
                    close_reason = "no audio for too long"
                    break
                continue
            if message["type"] == "websocket.disconnect":
                return
            run.quiet_s = 0.0
            chunk = message.get("bytes")
            if chunk is None:
                continue  # text messages (a ping from the page) carry no audio
            if len(chunk) <= CHUNK_MAX:
                encoder = await service.encoder_for(run, chunk)
            if len(chunk) > CHUNK_MAX or not await encoder.feed(chunk):
                if run.on_air:
                    await service.end_broadcast(run, "failed", encoder.error_text() or "the encoder stopped")
                    close_reason = "the encoder stopped"
                else:
                    close_code, close_reason = await _not_audio(service, run, encoder)
                break
    except WebSocketDisconnect:
        return
    finally:
        on_air.cancel()
        await service.disconnect(run)
        try:
            await websocket.close(code=close_code, reason=close_reason[:120])
        except (RuntimeError, WebSocketDisconnect):
            pass  # already closed by the browser


async def _when_on_air(service, run, encoder) -> None:
    await encoder.on_air.wait()
    await service.went_on_air(run)


async def _not_audio(service, run, encoder) -> tuple[int, str]:
    await encoder.close()
    error = encoder.error_text() or "the data sent is not webm/opus audio"
    await service.end_broadcast(run, "no_audio", error)
    return CLOSE_NOT_AUDIO, "not audio: " + error


__all__ = ["router"]
