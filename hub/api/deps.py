"""Request dependencies, as ``Annotated`` aliases routers (and plugins' routers) can share."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from hub.auth import DEVICE_PREFIX, Principal, authenticate
from hub.errors import Forbidden, Unauthenticated
from hub.services.sessions import Throttled, session_csrf
from hub.runtime import Hub


async def get_hub(request: Request) -> Hub:
    # async: a plain attribute read must not cost every request a hop to the thread pool.
    return request.app.state.hub


HubDep = Annotated[Hub, Depends(get_hub)]


def get_session(hub: HubDep) -> Iterator[Session]:
    with hub.store.session() as session:
        yield session


def get_reader(hub: HubDep) -> Iterator[Session]:
    with hub.store.reader() as session:
        yield session


# scope="function": the transaction commits when the endpoint returns, before the response is sent,
# so a client never sees a success for a write that did not commit.
DB = Annotated[Session, Depends(get_session, scope="function")]
ReadDB = Annotated[Session, Depends(get_reader, scope="function")]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


#: The console's session cookie, and the header a console page's script sends with it.
SESSION_COOKIE = "hub_session"
CSRF_HEADER = "x-csrf-token"


def get_principal(request: Request, hub: HubDep) -> Principal:
    """Who is calling: a bearer token (systems, devices, scripts), or, with no token, a console
    session cookie together with that session's CSRF token in ``X-CSRF-Token`` (a console page's
    script calling the API: a page on another site can send the cookie but cannot know the token)."""
    token = bearer_token(request)
    if token is None:
        cookie = request.cookies.get(SESSION_COOKIE)
        header = request.headers.get(CSRF_HEADER)
        if cookie and header and hmac.compare_digest(session_csrf(cookie).encode(), header.encode()):
            principal = hub.services.sessions.principal(cookie)
            if principal is not None:
                return principal
            raise Unauthenticated("the console session has ended; sign in again")
        with hub.store.reader() as session:
            return authenticate(session, token)
    return _checked(request, hub, lambda: _authenticate(hub, token))


def _authenticate(hub: Hub, token: str) -> Principal:
    with hub.store.reader() as session:
        return authenticate(session, token)


def _checked(request: Request, hub: Hub, check):
    """A presented token, checked unless its address failed too often lately (then 429)."""
    address = request.client.host if request.client else None
    wait = hub.failed_auth.retry_after(address)
    if wait is not None:
        hub.metrics.auth_throttled.inc()
        raise Throttled(f"too many failed token checks from this address; try again in {wait} s", wait)
    try:
        return check()
    except Unauthenticated:
        hub.failed_auth.failed(address)
        hub.metrics.auth_failures.inc()
        raise


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_user(principal: CurrentPrincipal) -> Principal:
    if principal.is_device:
        raise Forbidden("a device token cannot be used here")
    return principal


async def get_device(request: Request, hub: HubDep) -> Principal:
    """Devices poll often: their tokens are checked against a cache the schedule counter keeps
    fresh, on the event loop when the cache is sure, in a worker thread when it must ask the store."""
    token = bearer_token(request)
    if token and token.startswith(DEVICE_PREFIX):
        device = hub.device_tokens.cached(token)
        if device is not None:
            return device
        return await run_in_threadpool(_checked, request, hub, lambda: _device(hub, token))
    principal = await run_in_threadpool(get_principal, request, hub)
    if not principal.is_device:
        raise Forbidden("this endpoint is for devices")
    return principal


def _device(hub: Hub, token: str) -> Principal:
    device = hub.device_tokens.lookup(token)
    if device is None:
        raise Unauthenticated("invalid token")
    return device


CurrentUser = Annotated[Principal, Depends(get_user)]
CurrentDevice = Annotated[Principal, Depends(get_device)]
