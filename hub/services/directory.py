"""directory."""

from __future__ import annotations

from hub.services import Service


class DirectoryService(Service):
    pass
