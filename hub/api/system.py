"""/healthz, /metrics and /api/v1/plugins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub.api.deps import CurrentUser, HubDep
from hub.plugins import list_plugins

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(hub: HubDep) -> dict[str, Any]:
    hub.services.monitoring.check_store()
    return {"status": "ok"}


@router.get("/metrics")
def metrics(hub: HubDep) -> Response:
    return Response(generate_latest(hub.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/plugins")
def plugins(hub: HubDep, _user: CurrentUser) -> list[dict[str, Any]]:
    return list_plugins(hub.pm)
