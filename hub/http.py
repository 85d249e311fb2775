"""Conditional GET, one definition: ETags compared as RFC 9110 says, and the 304 that answers a match.

Media, feeds, pages, the kiosk's files and device manifests all revalidate with ``If-None-Match``;
they share these so that a fleet's polls and a podcast app's are answered by the same rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response


def etag_for(body: bytes, digits: int = 40) -> str:
    """A strong ETag from a body's bytes: the first ``digits`` hex digits of its sha256, quoted."""
    return '"' + hashlib.sha256(body).hexdigest()[:digits] + '"'


def etag_matches(if_none_match: str | bytes | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` value (a list, weak tags, or ``*``) holds ``etag``.

    If-None-Match uses the weak comparison (RFC 9110 13.1.2), so ``W/"x"`` matches ``"x"``.
    """
    if not if_none_match:
        return False
    if isinstance(if_none_match, bytes):
        if_none_match = if_none_match.decode("latin-1")
    held = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag.removeprefix("W/") in held or "*" in held


def not_modified(request: Request, etag: str, headers: Mapping[str, str] | None = None) -> Response | None:
    """An empty 304 carrying ``etag`` and ``headers`` when the request already holds ``etag``, else None.

    Pass the headers the full answer would carry (Cache-Control and the like): RFC 9110 15.4.5
    wants a 304 to repeat them.
    """
    if not etag_matches(request.headers.get("if-none-match"), etag):
        return None
    return Response(status_code=304, headers={"ETag": etag, **(headers or {})})


__all__ = ["etag_for", "etag_matches", "not_modified"]
