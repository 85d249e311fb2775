"""The HTTP API: one router module per resource, gathered here."""

from fastapi import APIRouter

from hub.api import bulletins, device, directory, media, monitor, playlists, system


def routers() -> list[APIRouter]:
    return [system.router, bulletins.router, playlists.router, directory.router, device.router, monitor.router,
            media.router]
