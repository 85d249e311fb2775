"""The HTTP API: one router module per resource, gathered here."""

from fastapi import APIRouter

from hub.api import bulletins, directory, media, system


def routers() -> list[APIRouter]:
    return [system.router, bulletins.router, directory.router, media.router]
