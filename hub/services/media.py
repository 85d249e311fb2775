"""media."""

from __future__ import annotations

from hub.services import Service


class MediaService(Service):
    pass
