"""devices."""

from __future__ import annotations

from hub.services import Service


class DeviceService(Service):
    pass
