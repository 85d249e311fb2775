"""/api/v1/communes and /api/v1/devices: the directory of places and the devices in them."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import CurrentUser, HubDep
from hub.validation import NoNul

router = APIRouter(prefix="/api/v1", tags=["directory"])


class CommuneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=32)
    name: NoNul = Field(min_length=1, max_length=200)
    voice: NoNul | None = Field(default=None, max_length=64)


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: NoNul = Field(min_length=1, max_length=200)
    commune: NoNul = Field(min_length=1, max_length=32)
    kind: Literal["speaker", "display"] = "speaker"


@router.get("/communes")
def list_communes(_user: CurrentUser, hub: HubDep) -> list[dict[str, Any]]:
    return hub.services.directory.communes()


@router.post("/communes", status_code=201)
def create_commune(payload: CommuneIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    return hub.services.directory.add_commune(user, payload.code, payload.name, voice=payload.voice)


@router.post("/devices", status_code=201)
def register_device(payload: DeviceIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    return hub.services.directory.register_device(user, payload.name, payload.commune, payload.kind)


@router.get("/devices")
def list_devices(user: CurrentUser, hub: HubDep) -> list[dict[str, Any]]:
    return hub.services.directory.devices(user)
