"""The web console: the Vietnamese pages people use the hub through (docs/console.md).

This first part is its foundation: sign-in with a password (argon2id) and a server-side session,
CSRF on every form, slowed guessing, security headers, one base layout and a message catalog.
The console's own pages (bulletins, approval, playlists, devices, …) come next.
"""

from __future__ import annotations

from typing import Any

from hub import hookimpl

from . import routes
from .settings import ConsoleSettings

__all__ = ["ConsoleSettings", "hub_register_routes"]


@hookimpl
def hub_register_routes(settings: Any) -> list:
    return [routes.make_router(settings, ConsoleSettings())]
