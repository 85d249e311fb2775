"""sources."""

from __future__ import annotations

from hub.services import Service


class SourceService(Service):
    pass
