"""Playlists: a commune's programmes, from the API, the console and files in ``playlists/``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from hub import playlists as domain
from hub.auth import Principal
from hub.manifests import conflicts_for_commune
from hub.models import utcnow
from hub.services import Service

PlaylistIn = domain.PlaylistIn
#: How far ahead conflicts between a commune's programmes are looked for.
WARNINGS_AHEAD = timedelta(days=7)
#: Files are the operator's authority: whoever may run ``hub playlists sync`` owns the machine.
FILES = Principal("system", "hub playlists sync", "admin")


def _warnings(session: Session, commune: str) -> list[str]:
    return conflicts_for_commune(session, commune, utcnow(), WARNINGS_AHEAD)


class PlaylistService(Service):
    def create(self, principal: Principal, data: PlaylistIn) -> dict[str, Any]:
        """A new playlist, with the conflicts it makes with the commune's others as ``warnings``."""
        with self.transaction() as t:
            playlist = domain.create(t.session, principal, data)
            return domain.playlist_view(playlist, _warnings(t.session, playlist.commune))

    def get(self, principal: Principal, playlist_id: str) -> dict[str, Any]:
        with self.reading() as session:
            playlist = domain.visible(session, principal, playlist_id)
            return domain.playlist_view(playlist, _warnings(session, playlist.commune))

    def listing(self, principal: Principal, commune: str | None = None) -> list[dict[str, Any]]:
        with self.reading() as session:
            return [domain.playlist_view(p) for p in domain.listing(session, principal, commune)]

    def replace(self, principal: Principal, playlist_id: str, data: PlaylistIn) -> dict[str, Any]:
        with self.transaction() as t:
            playlist = domain.replace(t.session, principal, playlist_id, data)
            return domain.playlist_view(playlist, _warnings(t.session, playlist.commune))

    def delete(self, principal: Principal, playlist_id: str) -> None:
        with self.transaction() as t:
            domain.delete(t.session, principal, playlist_id)

    def sync(self, directory: Path, principal: Principal = FILES) -> domain.SyncReport:
        """Make the file-owned playlists equal the YAML files in ``directory`` (see hub/playlists.py)."""
        with self.transaction() as t:
            return domain.sync(t.session, principal, directory)
