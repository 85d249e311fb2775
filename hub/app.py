"""The web application: ``create_app(settings)`` builds it; its lifespan opens and closes the hub."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import __version__
from hub.audit_chain import HeadLogger
from hub.periodic import Periodic
from hub.api import errors, openapi, routers
from hub.api.device import ManifestFastPath
from hub.config import Settings
from hub.plugins import collect, make_plugin_manager
from hub.runtime import Hub

log = logging.getLogger(__name__)


class BodyLimit:
    """Refuse request bodies over the limit with 413 before they reach a handler."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"")
        limit = self.upload_limit if content_type.startswith(b"multipart/") else self.limit
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _too_large(send, limit)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            # Reached only if nothing inside answered it (the error handlers usually do).
            await _too_large(send, limit)


class RequestMetrics:
    """Count requests by method and status (plain ASGI, so streamed responses stay streamed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            hub = getattr(scope["app"].state, "hub", None) if "app" in scope else None
            if hub is not None:
                hub.metrics.requests.labels(scope["method"], str(status)).inc()
                hub.metrics.latency.observe(time.perf_counter() - started)


class HeadAsGet:
    """Answer HEAD wherever GET is answered: the GET's status and headers, no body (RFC 9110 §9.3.2).

    FastAPI's routes, unlike Starlette's, do not take HEAD for a GET (fastapi/fastapi#1773), and the
    fast paths in front of the routes answer GET only; so a HEAD goes through as a GET and its body
    is dropped here, Content-Length and all other headers kept. Once the headers are out, the app
    is told the client left, so a stream (server-sent events) ends instead of running on.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)
        started = finished = False

        async def headers_only(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
                await send(message)
            elif message["type"] in ("http.response.body", "http.response.pathsend"):
                if not finished:
                    finished = True
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await send(message)

        async def until_answered() -> Message:
            return {"type": "http.disconnect"} if started else await receive()

        await self.app({**scope, "method": "GET"}, until_answered, headers_only)


class _BodyTooLarge(HTTPException):
    """Raised from inside body reading; an HTTPException so FastAPI passes it on, not a 400."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="request body over the limit")


async def _too_large(send: Send, limit: int) -> None:
    body = ('{"detail":"request body over the limit of %d bytes"}' % limit).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None, *, pm=None) -> FastAPI:
    settings = settings or Settings()
    # Routes must exist before the app serves, so plugins are loaded here and reused by the lifespan.
    pm = pm or make_plugin_manager(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = Hub.open(settings, pm)
        app.state.hub = hub
        # The voices are collected now rather than at the first render, so a voice plugin's set-up
        # error (a missing model folder, docs/voices.md) is in the log as the hub starts.
        hub.registrations.tts_engines()
        hub.counter.start()
        hub.listen()
        hub.pipeline.start(settings.workers)
        anchor = HeadLogger(hub.services.audit.head, settings.audit_head_log_s)
        anchor.start()
        # Broadcasts whose process went away before their archive was made (docs/live.md).
        recovery = Periodic("live-archive-recovery", hub.services.live.recover_archives, settings.live_recovery_s)
        recovery.start()
        try:
            yield
        finally:
            recovery.stop()
            anchor.stop()
            hub.close()

    # /docs and /redoc load Swagger UI and ReDoc from the fastapi-offline package, never from a CDN
    # (issue 14); HUB_API_DOCS=false switches both off (production: docs/deploy.md).
    # /openapi.json stays, for clients generated from it.
    docs = settings.api_docs
    app = FastAPIOffline(docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                         static_url="/docs-static", title="grassroots-hub", version=__version__, lifespan=lifespan)
    if not docs:
        app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) != "/docs-static"]
    # A full database is an OperationalError from the store: answered 507 like a full disk.
    errors.install(app, io_errors=(OSError, OperationalError))
    openapi.install(app)  # its error answers described as hub/api/errors.py gives them
    for router in routers():
        app.include_router(router)
    for _plugin, router in collect(pm, "hub_register_routes", settings=settings):
        app.include_router(router)

    app.add_middleware(RequestMetrics)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes, upload_limit=settings.max_upload_bytes)
    # Outermost: a poll answered from the cache skips everything else.
    app.add_middleware(ManifestFastPath)
    # Around everything, so that every GET route and fast path answers HEAD too.
    app.add_middleware(HeadAsGet)
    return app
