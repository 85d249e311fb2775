"""/media/{sha256}: immutable, content-addressed bytes with ETag and Range."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from hub.api.deps import SESSION_COOKIE, HubDep, bearer_token
from hub.auth import DEVICE_PREFIX
from hub.errors import NotFound, Unauthenticated
from hub.http import not_modified
from hub.media import SHA256_RE

router = APIRouter(tags=["media"])
IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE = "private, max-age=31536000, immutable"
# One range only, and short numbers (int() refuses over 4300 digits; no file is that large anyway).
#: The internal location nginx names (deploy/nginx/grassroots-hub.conf): letters, digits, _ and -.
_ACCEL_PREFIX_RE = re.compile(r"^/[A-Za-z0-9_-]+/$")
_RANGE_RE = re.compile(r"^[ \t]*bytes[ \t]*=[ \t]*([0-9]{0,18})[ \t]*-[ \t]*([0-9]{0,18})[ \t]*$", re.IGNORECASE)


@router.get("/media/{sha256}")
async def get_media(sha256: str, request: Request, hub: HubDep) -> Response:
    """A fleet downloading an emergency at once asks for one small published file: answered from
    memory on the event loop when everything needed is known here without I/O, else in a worker
    thread (store reads, file reads, ranges)."""
    fast = _from_memory(sha256, request, hub)
    if fast is not None:
        return fast
    return await run_in_threadpool(_get_media, sha256, request, hub)


def _from_memory(sha256: str, request: Request, hub) -> Response | None:
    if request.headers.get("range") or not SHA256_RE.match(sha256):
        return None
    media = hub.services.media
    token = _token(request, hub)
    data = hub.media.in_memory(sha256)
    mime = hub.media.mimes.get(sha256)
    audience = media.readable_now(sha256, token) if data is not None and mime is not None else None
    if audience is None:
        return None
    etag = f'"{sha256}"'
    cache = IMMUTABLE if audience == "public" else PRIVATE
    unchanged = not_modified(request, etag, {"Cache-Control": cache})
    if unchanged is not None:
        return unchanged
    accel = _accel_redirect(request, sha256, mime, {"ETag": etag, "Cache-Control": cache})
    if accel is not None:
        return accel
    return Response(data, media_type=mime, headers={"ETag": etag, "Cache-Control": cache, "Accept-Ranges": "bytes"})


def _get_media(sha256: str, request: Request, hub) -> Response:
    path = hub.media.path(sha256) if SHA256_RE.match(sha256) else None
    if path is None:
        raise NotFound("no such media")
    token = _token(request, hub)
    # A console page's <audio> and <img> send the sign-in cookie (same site: it is SameSite=Lax);
    # a read changes nothing, so no CSRF token is asked for.
    cookie = request.cookies.get(SESSION_COOKIE) if token is None else None
    signed_in = hub.services.sessions.principal(cookie) if cookie else None
    hub.services.media.check_readable(sha256, token, principal=signed_in)
    etag = f'"{sha256}"'
    # Only public media may sit in a shared cache: an approver's preview of an unpublished
    # revision must not be served from a proxy to the next anonymous request.
    cache = IMMUTABLE if hub.services.media.is_public(sha256) else PRIVATE
    unchanged = not_modified(request, etag, {"Cache-Control": cache})
    if unchanged is not None:
        return unchanged
    mime = hub.services.media.mime(sha256)
    accel = _accel_redirect(request, sha256, mime, {"ETag": etag, "Cache-Control": cache})
    if accel is not None:
        return accel
    size = path.stat().st_size
    use_range = _range_usable(request.headers.get("range"), size)
    if use_range is None:
        return JSONResponse({"detail": f"range not satisfiable: the file has {size} bytes"}, status_code=416,
                            headers={"Content-Range": f"bytes */{size}", "ETag": etag})
    headers = {"ETag": etag, "Cache-Control": cache, "Accept-Ranges": "bytes"}
    if not (use_range and request.headers.get("range")):
        # A whole small file — what a fleet fetches at once for an emergency — comes from memory.
        data = hub.media.read_cached(sha256)
        if data is not None:
            return Response(data, media_type=mime, headers=headers)
    return _MediaFile(path, media_type=mime, use_range=use_range, headers=headers)


def _accel_redirect(request: Request, sha256: str, mime: str, headers: dict[str, str]) -> Response | None:
    """Behind nginx (deploy/nginx/), which says so with ``X-Hub-Accel-Redirect: /<internal>/``: the
    yes without the bytes, for nginx to send the file itself from the media folder (ranges too).
    A client that sends the header itself gets only the empty yes it was allowed anyway."""
    prefix = request.headers.get("x-hub-accel-redirect")
    if not prefix or not _ACCEL_PREFIX_RE.match(prefix):
        return None
    return Response(b"", media_type=mime,
                    headers={**headers, "X-Accel-Redirect": f"{prefix}{sha256[:2]}/{sha256}"})


def _token(request: Request, hub) -> str | None:
    """The caller's token: the Authorization header, or ``?token=`` for a display board only.

    A kiosk browser cannot set a header, so a board may put its token in the query (its page is
    ``/display?token=…``); anyone else's token there would land in proxies' and browsers' histories
    (issue 14), so it is refused rather than quietly ignored: a user's, and a loudspeaker's, whose
    agent always sends the header.
    """
    token = bearer_token(request)
    if token is not None:
        return token
    query = request.query_params.get("token")
    if not query:
        return None
    if not query.startswith(DEVICE_PREFIX):
        raise Unauthenticated("only a display board may send its token in the query; send a user's token in "
                              "the Authorization header")
    device = hub.device_tokens.lookup(query)
    if device is not None and device.device_kind != "display":
        raise Unauthenticated("only a display board may send its token in the query; a loudspeaker sends it "
                              "in the Authorization header")
    return query


def _range_usable(header: str | None, size: int) -> bool | None:
    """True to serve a single byte range, False to ignore the header, None when unsatisfiable.

    Starlette answers a malformed Range with a plain-text 400; RFC 9110 lets a server ignore a
    Range it does not understand, so only one well-formed range reaches it (devices resume with one).
    """
    match = _RANGE_RE.match(header or "")
    if match is None or match.groups() == ("", ""):
        return False
    first, last = match.groups()
    if size == 0:
        return None
    if not first:
        return int(last) > 0 or None
    if last and int(last) < int(first):
        return False
    return int(first) < size or None


class _MediaFile(FileResponse):
    """A FileResponse that can be told to ignore the request's Range header."""

    def __init__(self, *args: Any, use_range: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.use_range = use_range

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.use_range:
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]}
        await super().__call__(scope, receive, send)
