"""/api/v1/playlists: commune programmes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import CurrentUser, HubDep
from hub.playlists import PlaylistIn
from hub.validation import NoNul

router = APIRouter(prefix="/api/v1/playlists", tags=["playlists"])


@router.post("", status_code=201)
def create_playlist(payload: PlaylistIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    return hub.services.playlists.create(user, payload)


class StreamCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)


@router.post("/check-stream")
def check_stream(payload: StreamCheckIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    """Connect briefly to a relay's stream and say what answered; 422 for a loopback or private address."""
    return hub.services.playlists.check_stream(user, payload.url)


@router.get("")
def list_playlists(user: CurrentUser, hub: HubDep,
                   commune: Annotated[NoNul | None, Query(max_length=32)] = None) -> list[dict[str, Any]]:
    return hub.services.playlists.listing(user, commune)


@router.get("/{playlist_id}")
def get_playlist(playlist_id: str, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    return hub.services.playlists.get(user, playlist_id)


@router.put("/{playlist_id}")
def replace_playlist(playlist_id: str, payload: PlaylistIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    return hub.services.playlists.replace(user, playlist_id, payload)


@router.delete("/{playlist_id}", status_code=204)
def delete_playlist(playlist_id: str, user: CurrentUser, hub: HubDep) -> Response:
    hub.services.playlists.delete(user, playlist_id)
    return Response(status_code=204)
