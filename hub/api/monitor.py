"""/api/v1/monitor/*: device health and airtime for the department."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.api.deps import CurrentUser, HubDep
from hub.validation import NoNul

router = APIRouter(prefix="/api/v1/monitor", tags=["monitor"])
Commune = Annotated[NoNul | None, Query(max_length=32)]


@router.get("/devices")
def devices(user: CurrentUser, hub: HubDep, commune: Commune = None) -> list[dict[str, Any]]:
    return hub.services.monitoring.devices(user, commune)


@router.get("/airtime")
def airtime(user: CurrentUser, hub: HubDep,
            from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
            to: Annotated[str | None, Query(max_length=10)] = None,
            commune: Commune = None) -> list[dict[str, Any]]:
    """One row per commune and local day in [from, to]."""
    return hub.services.monitoring.airtime(user, from_, to, commune)
