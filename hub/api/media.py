"""/media/{sha256}: immutable, content-addressed bytes with ETag and Range."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import select

from hub.api.deps import HubDep, bearer_token
from hub.auth import authenticate
from hub.errors import NotFound
from hub.media import SHA256_RE
from hub.models import Artifact, Bulletin, MediaObject, Revision

router = APIRouter(tags=["media"])
IMMUTABLE = "public, max-age=31536000, immutable"


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


@router.get("/media/{sha256}")
def get_media(sha256: str, request: Request, hub: HubDep) -> Response:
    path = hub.media.path(sha256) if SHA256_RE.match(sha256) else None
    if path is None:
        raise NotFound("no such media")
    if not _is_public(hub, sha256):
        token = bearer_token(request) or request.query_params.get("token")
        with hub.store.reader() as session:
            authenticate(session, token)
    etag = f'"{sha256}"'
    if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": IMMUTABLE})
    with hub.store.reader() as session:
        record = session.get(MediaObject, sha256)
    mime = record.mime if record else "application/octet-stream"
    return FileResponse(path, media_type=mime, headers={"ETag": etag, "Cache-Control": IMMUTABLE})
