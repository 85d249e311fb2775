"""``POST /api/v1/ingest/cap``, and the router lifespan that runs the feed poller beside the hub."""

# No "from __future__ import annotations": FastAPI must resolve the endpoint's Depends on a
# dependency that is local to build_router, which a string annotation could not name.

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from hub.plugin_api import Forbidden, HubDep, bearer_token

from . import cap, cap_ingest
from .cap_ingest import Caller
from .feeds import start_poller
from .settings import IngestSettings

log = logging.getLogger(__name__)
CAP_MEDIA_TYPES = ("application/cap+xml", "application/xml", "text/xml")


def build_router(settings: IngestSettings) -> APIRouter:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # FastAPI runs an included router's lifespan inside the app's, so the hub is open here
        # and still open when the poller is stopped.
        poller = start_poller(app.state.hub, settings)
        try:
            yield
        finally:
            await run_in_threadpool(poller.stop)

    router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"], lifespan=lifespan)

    def get_caller(request: Request, hub: HubDep) -> Caller:
        """An upstream key from HUB_INGEST_KEYS, or else an editor's or admin's user token."""
        token = bearer_token(request)
        key = settings.match_key(token)
        if key is not None:
            return Caller(key=key)
        principal = hub.services.directory.authenticate(token)
        if principal.is_device:
            raise Forbidden("a device token cannot be used here")
        principal.require("admin", "editor")
        return Caller(user=principal)

    @router.post("/cap", status_code=201, summary="Turn a CAP 1.2 alert into a bulletin")
    async def ingest_cap(request: Request, response: Response, hub: HubDep,
                         caller: Annotated[Caller, Depends(get_caller)]) -> dict[str, Any]:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in CAP_MEDIA_TYPES:
            raise HTTPException(415, f"send the CAP alert as {', '.join(CAP_MEDIA_TYPES)}, not {media_type or 'nothing'}")
        data = await request.body()
        outcome = await run_in_threadpool(_ingest, hub, settings, caller, data)
        response.status_code = outcome.status_code
        return outcome.body

    return router


def _ingest(hub: Any, settings: IngestSettings, caller: Caller, data: bytes) -> cap_ingest.Outcome:
    alert = cap.parse(data)
    outcome = cap_ingest.apply(hub, settings, caller, alert)
    log.info("CAP %s %s from %s: %s", alert.msg_type, alert.source_ref, caller.label, outcome.status_code)
    return outcome
