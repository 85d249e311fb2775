"""monitoring."""

from __future__ import annotations

from hub.services import Service


class MonitoringService(Service):
    pass
