"""The HTTP API: one router module per resource, gathered here."""

from fastapi import APIRouter

from hub.api import bulletins, device, directory, live, media, monitor, playlists, pronunciations, system


def routers() -> list[APIRouter]:
    # Devices poll most: their routes are matched first.
    return [device.router, media.router, system.router, bulletins.router, playlists.router, directory.router,
            monitor.router, live.router, pronunciations.router]
