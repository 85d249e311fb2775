"""/healthz, /metrics and /api/v1/plugins."""

from __future__ import annotations

import shutil
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub.api.deps import CurrentUser, HubDep
from hub.plugins import list_plugins

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(hub: HubDep) -> dict[str, Any]:
    """200 while the hub answers; ``status`` is ``degraded`` with its ``problems`` when the data
    folder's disk is nearly full (writes would answer 507)."""
    hub.services.monitoring.check_store()
    free = shutil.disk_usage(hub.settings.data_dir).free
    hub.metrics.disk_free.set(free)
    body: dict[str, Any] = {"status": "ok", "disk_free_bytes": free}
    if free < hub.settings.disk_min_free_bytes:
        body.update(status="degraded", problems=[f"disk: {free // 1_000_000} MB free in the data folder"])
    return body


@router.get("/metrics", response_class=Response,
            responses={200: {"description": "Prometheus text format", "content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(hub: HubDep) -> Response:
    return Response(generate_latest(hub.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/plugins")
def plugins(hub: HubDep, _user: CurrentUser) -> list[dict[str, Any]]:
    return list_plugins(hub.pm)
