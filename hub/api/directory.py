"""/api/v1/communes and /api/v1/devices: the directory of places and the devices in them."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub import accounts
from hub.api.deps import CurrentUser, HubDep, ReadDB
from hub.errors import Forbidden
from hub.models import Commune, Device

router = APIRouter(prefix="/api/v1", tags=["directory"])
#: No NUL characters: SQLite stores them, but PostgreSQL refuses them (a 500 instead of a 422).
NO_NUL = r"^[^\x00]*$"


class CommuneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    voice: str | None = Field(default=None, max_length=64, pattern=NO_NUL)


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    commune: str = Field(min_length=1, max_length=32, pattern=NO_NUL)
    kind: Literal["speaker", "display"] = "speaker"


@router.get("/communes")
def list_communes(session: ReadDB, _user: CurrentUser) -> list[dict[str, Any]]:
    return [accounts.commune_view(c) for c in session.scalars(select(Commune).order_by(Commune.code))]


@router.post("/communes", status_code=201)
def create_commune(payload: CommuneIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    user.require("admin")
    with hub.store.session() as session:
        return accounts.add_commune(session, payload.code, payload.name, voice=payload.voice, actor=user)


@router.post("/devices", status_code=201)
def register_device(payload: DeviceIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    user.require("admin", "operator")
    if not user.sees_commune(payload.commune):
        # Every user may list the communes, so there is nothing to hide: 403, as for bulletins.
        raise Forbidden(f"an operator may register devices only in its own commune ({user.commune})")
    with hub.store.session() as session:
        return accounts.add_device(session, payload.name, payload.commune, payload.kind, actor=user)


@router.get("/devices")
def list_devices(session: ReadDB, user: CurrentUser) -> list[dict[str, Any]]:
    user.require("admin", "editor", "monitor", "operator")
    query = select(Device).order_by(Device.commune, Device.name)
    if user.role == "operator":
        query = query.where(Device.commune == user.commune)
    return [accounts.device_view(d) for d in session.scalars(query)]
