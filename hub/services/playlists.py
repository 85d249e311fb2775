"""playlists."""

from __future__ import annotations

from hub.services import Service


class PlaylistService(Service):
    pass
