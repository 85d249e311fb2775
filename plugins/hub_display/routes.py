"""/display and /display/…: the kiosk page, its files, and the manifest and events it reads.

A browser's EventSource cannot send an Authorization header, so everything the page reads takes the
device token from ``?token=`` (or the header). Only display devices get in: a user's token or a
loudspeaker's is refused with 403.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse

from hub.plugin_api import (Forbidden, HubDep, NotFound, Principal, bearer_token, etag_for, event_stream,
                            manifest_response, not_modified)

from .settings import DisplaySettings

HERE = Path(__file__).parent
#: Files the page loads besides itself, by the name it asks for.
STATIC = {"display.js": "text/javascript", "display.css": "text/css"}
#: The page's token travels in its address, so no other site may learn it from a Referer.
NO_REFERRER = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
          "connect-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def display_device(request: Request, hub: HubDep) -> Principal:
    token = request.query_params.get("token") or bearer_token(request)
    principal = hub.services.directory.authenticate(token)
    if not principal.is_device:
        raise Forbidden("this page is for display devices: open it with a display device's token")
    if principal.device_kind != "display":
        raise Forbidden(f"this token belongs to a {principal.device_kind} device; the page is for display boards")
    return principal


DisplayDevice = Annotated[Principal, Depends(display_device)]


def _json_for_script(value: Any) -> str:
    """JSON that cannot end the <script> element it sits in."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def make_router(settings: Any, display: DisplaySettings) -> APIRouter:
    router = APIRouter(tags=["display"])
    template = (HERE / "page.html").read_text(encoding="utf-8")
    files = {name: (HERE / name).read_bytes() for name in STATIC}
    worker = (HERE / "sw.js").read_bytes()
    province = getattr(settings, "province", "")

    def static(request: Request, body: bytes, media_type: str, extra: dict[str, str] | None = None) -> Response:
        # Revalidated on every load (cheap with the ETag), so a hub upgrade reaches the boards.
        etag = etag_for(body, digits=32)
        headers = {"ETag": etag, "Cache-Control": "no-cache", **NO_REFERRER, **(extra or {})}
        unchanged = not_modified(request, etag, headers)
        if unchanged is not None:
            return unchanged
        return Response(body, media_type=media_type, headers=headers)

    @router.get("/display", response_class=HTMLResponse)
    def display_page(device: DisplayDevice, hub: HubDep) -> Response:
        """The kiosk page for a display device."""
        commune = hub.services.directory.commune(device.commune) if device.commune else None
        config = {
            "device": device.id, "device_name": device.name, "province": province,
            "commune": device.commune, "commune_name": commune["name"] if commune else "",
            "default_duration_s": display.default_duration_s, "poll_s": display.poll_s,
            "resync_s": display.resync_s, "heartbeat_s": display.heartbeat_s,
        }
        page = (template.replace("{{config}}", _json_for_script(config))
                .replace("{{province}}", html.escape(province))
                .replace("{{commune_name}}", html.escape(config["commune_name"])))
        return HTMLResponse(page, headers={"Cache-Control": "no-cache", "Content-Security-Policy": POLICY,
                                           **NO_REFERRER})

    @router.get("/display/manifest")
    async def display_manifest(device: DisplayDevice, hub: HubDep, request: Request) -> Response:
        """The same manifest as /api/v1/device/manifest, with the token allowed in the address."""
        return await manifest_response(hub, device, request, NO_REFERRER)

    @router.get("/display/events")
    async def display_events(device: DisplayDevice, hub: HubDep, request: Request) -> StreamingResponse:
        """The device events stream, with the token allowed in the address (EventSource sends no headers)."""
        token = request.query_params.get("token") or bearer_token(request) or ""
        return event_stream(hub, device, request, token, keepalive_s=display.keepalive_s, headers=NO_REFERRER)

    @router.get("/display/static/{name}")
    def display_static(name: str, request: Request) -> Response:
        if name not in STATIC:
            raise NotFound("no such file")
        return static(request, files[name], STATIC[name])

    @router.get("/display/sw.js", response_class=Response,
                responses={200: {"description": "The board's service worker", "content": {"text/javascript": {}}}})
    def display_worker(request: Request) -> Response:
        # The worker lives under /display/ but must control the page at /display itself.
        return static(request, worker, "text/javascript", {"Service-Worker-Allowed": "/display"})

    return router
