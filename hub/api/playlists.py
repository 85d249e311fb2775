"""/api/v1/playlists: commune programmes."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from hub import playlists as service
from hub.api.deps import CurrentUser, HubDep, ReadDB
from hub.manifests import conflicts_for_commune
from hub.models import utcnow
from hub.playlists import PlaylistIn

router = APIRouter(prefix="/api/v1/playlists", tags=["playlists"])


def _warnings(session, commune: str) -> list[str]:
    return conflicts_for_commune(session, commune, utcnow(), timedelta(days=7))


@router.post("", status_code=201)
def create_playlist(payload: PlaylistIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    with hub.store.session() as session:
        playlist = service.create(session, user, payload)
        return service.playlist_view(playlist, _warnings(session, playlist.commune))


@router.get("")
def list_playlists(session: ReadDB, user: CurrentUser,
                   commune: Annotated[str | None, Query(max_length=32)] = None) -> list[dict[str, Any]]:
    return [service.playlist_view(p) for p in service.listing(session, user, commune)]


@router.get("/{playlist_id}")
def get_playlist(playlist_id: str, session: ReadDB, user: CurrentUser) -> dict[str, Any]:
    playlist = service.visible(session, user, playlist_id)
    return service.playlist_view(playlist, _warnings(session, playlist.commune))


@router.put("/{playlist_id}")
def replace_playlist(playlist_id: str, payload: PlaylistIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    with hub.store.session() as session:
        playlist = service.replace(session, user, playlist_id, payload)
        return service.playlist_view(playlist, _warnings(session, playlist.commune))


@router.delete("/{playlist_id}", status_code=204)
def delete_playlist(playlist_id: str, user: CurrentUser, hub: HubDep) -> Response:
    with hub.store.session() as session:
        service.delete(session, user, playlist_id)
    return Response(status_code=204)
