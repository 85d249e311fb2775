"""Strong ETags from the bytes of a response, and 304 for a matching If-None-Match."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def matches(request: Request, etag: str) -> bool:
    # If-None-Match uses the weak comparison (RFC 9110 13.1.2), so W/"…" matches too.
    header = request.headers.get("if-none-match", "")
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags or "*" in tags


def cached(request: Request, body: bytes, media_type: str, max_age: int,
           headers: dict[str, str] | None = None) -> Response:
    """The body with an ETag and a short public lifetime, or an empty 304 when the client has it."""
    etag = etag_of(body)
    common = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}", **SECURITY_HEADERS, **(headers or {})}
    if matches(request, etag):
        return Response(status_code=304, headers=common)
    return Response(content=body, media_type=media_type, headers=common)
