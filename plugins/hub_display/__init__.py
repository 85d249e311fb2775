"""The display-board kiosk page, ``/display?token=<display device token>``.

A full-screen page that rotates the device's current slides, switches to an emergency at once,
picks up changes by itself (server-sent events, ETag polling as a fallback) and keeps showing what
it last had when the hub is unreachable; see docs/display.md.
"""

from __future__ import annotations

from typing import Any

from hub import hookimpl

from .routes import make_router
from .settings import DisplaySettings

__all__ = ["DisplaySettings", "hub_register_routes"]


@hookimpl
def hub_register_routes(settings: Any) -> list:
    return [make_router(settings, DisplaySettings())]
