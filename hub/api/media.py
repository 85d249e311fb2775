"""/media/{sha256}: immutable, content-addressed bytes with ETag and Range."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select
from starlette.types import Receive, Scope, Send

from hub.api.deps import HubDep, bearer_token
from hub.auth import DEVICE_PREFIX, authenticate
from hub.errors import NotFound
from hub.http import not_modified
from hub.media import SHA256_RE
from hub.models import Artifact, Bulletin, MediaObject, Revision

router = APIRouter(tags=["media"])
IMMUTABLE = "public, max-age=31536000, immutable"
# One range only, and short numbers (int() refuses over 4300 digits; no file is that large anyway).
_RANGE_RE = re.compile(r"^[ \t]*bytes[ \t]*=[ \t]*([0-9]{0,18})[ \t]*-[ \t]*([0-9]{0,18})[ \t]*$", re.IGNORECASE)


def _is_public(hub, sha256: str) -> bool:
    """Media of a currently approved web-channel bulletin may be fetched without a token."""
    with hub.store.reader() as session:
        rows = session.execute(
            select(Revision.channels).join(Bulletin, Bulletin.id == Artifact.bulletin_id)
            .join(Revision, (Revision.bulletin_id == Bulletin.id) & (Revision.revision == Artifact.revision))
            .where(Artifact.sha256 == sha256, Bulletin.status == "approved",
                   Bulletin.approved_revision == Artifact.revision)
            .select_from(Artifact)
        ).all()
    return any("web" in channels for (channels,) in rows)


def _mime(hub, sha256: str) -> str:
    """A media file's type never changes, so it is looked up once per process."""
    known = hub.media.mimes.get(sha256)
    if known is None:
        with hub.store.reader() as session:
            record = session.get(MediaObject, sha256)
        known = record.mime if record else "application/octet-stream"
        if record is not None:
            hub.media.mimes[sha256] = known
    return known


@router.get("/media/{sha256}")
def get_media(sha256: str, request: Request, hub: HubDep) -> Response:
    path = hub.media.path(sha256) if SHA256_RE.match(sha256) else None
    if path is None:
        raise NotFound("no such media")
    token = bearer_token(request) or request.query_params.get("token")
    # A device's token is checked against the poll cache: a fleet downloading an emergency at
    # once must not queue on the database.
    device = hub.device_tokens.lookup(token) if token and token.startswith(DEVICE_PREFIX) else None
    if device is None and not _is_public(hub, sha256):
        with hub.store.reader() as session:
            authenticate(session, token)
    etag = f'"{sha256}"'
    unchanged = not_modified(request, etag, {"Cache-Control": IMMUTABLE})
    if unchanged is not None:
        return unchanged
    mime = _mime(hub, sha256)
    size = path.stat().st_size
    use_range = _range_usable(request.headers.get("range"), size)
    if use_range is None:
        return JSONResponse({"detail": f"range not satisfiable: the file has {size} bytes"}, status_code=416,
                            headers={"Content-Range": f"bytes */{size}", "ETag": etag})
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE, "Accept-Ranges": "bytes"}
    if not (use_range and request.headers.get("range")):
        # A whole small file — what a fleet fetches at once for an emergency — comes from memory.
        data = hub.media.read_cached(sha256)
        if data is not None:
            return Response(data, media_type=mime, headers=headers)
    return _MediaFile(path, media_type=mime, use_range=use_range, headers=headers)


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
