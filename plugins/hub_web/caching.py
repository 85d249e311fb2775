"""Strong ETags from the bytes of a response, and 304 for a matching If-None-Match."""

from __future__ import annotations

from fastapi import Request, Response

from hub.plugin_api import etag_for, not_modified

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}


def cached(request: Request, body: bytes, media_type: str, max_age: int,
           headers: dict[str, str] | None = None) -> Response:
    """The body with an ETag and a short public lifetime, or an empty 304 when the client has it."""
    etag = etag_for(body)
    common = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}", **SECURITY_HEADERS, **(headers or {})}
    unchanged = not_modified(request, etag, common)
    if unchanged is not None:
        return unchanged
    return Response(content=body, media_type=media_type, headers=common)
