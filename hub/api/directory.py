"""/api/v1/communes, /api/v1/devices, /api/v1/users and /api/v1/audit: the directory of places, the
devices in them and the people who use the hub, and the log of who did what."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from hub.accounts import UNSET
from hub.api.deps import CurrentUser, HubDep
from hub.validation import OFFSET_MAX, NoNul

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


# --- administration: the same operations as the console's users, communes, devices and audit pages ------


class CommunePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: NoNul | None = Field(default=None, min_length=1, max_length=200)
    #: A voice name, or null for the hub's default voice.
    voice: NoNul | None = Field(default=None, max_length=64)


class DevicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: NoNul = Field(min_length=1, max_length=200)
    role: Literal["admin", "editor", "operator", "monitor"]
    commune: NoNul | None = Field(default=None, max_length=32)
    password: NoNul | None = Field(default=None, max_length=1024)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["admin", "editor", "operator", "monitor"] | None = None
    commune: NoNul | None = Field(default=None, max_length=32)
    active: bool | None = None


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: NoNul = Field(max_length=1024)


@router.patch("/communes/{code}")
def update_commune(code: str, payload: CommunePatch, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    given = payload.model_fields_set
    return hub.services.directory.update_commune(
        user, code, name=payload.name, voice=payload.voice if "voice" in given else None,
        clear_voice="voice" in given and not payload.voice)


@router.patch("/devices/{device_id}")
def update_device(device_id: str, payload: DevicePatch, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    """Deactivate a device (its token is refused at once) or bring it back (admin; operator for its commune)."""
    return hub.services.directory.set_device_active(user, device_id, payload.active)


@router.post("/devices/{device_id}/token")
def rotate_device_token(device_id: str, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    """A new token for the device, shown only this once; the old one is refused at once."""
    return hub.services.directory.rotate_device_token(user, device_id)


@router.get("/users")
def list_users(user: CurrentUser, hub: HubDep) -> list[dict[str, Any]]:
    return hub.services.directory.users(user)


@router.post("/users", status_code=201)
def create_user(payload: UserIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    """A user and their API token (shown only this once); with ``password``, a console password."""
    return hub.services.directory.add_user(user, payload.name, payload.role, payload.commune or None,
                                           password=payload.password)


@router.get("/users/{user_id}")
def get_user(user_id: str, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    return hub.services.directory.user(user, user_id)


@router.patch("/users/{user_id}")
def update_user(user_id: str, payload: UserPatch, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    """Role, commune, active; deactivating ends the user's console sessions at once and stops their token."""
    given = payload.model_fields_set
    return hub.services.directory.update_user(
        user, user_id, role=payload.role, commune=payload.commune if "commune" in given else UNSET,
        active=payload.active)


@router.post("/users/{user_id}/password")
def reset_password(user_id: str, payload: PasswordIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    """An admin sets the user's console password; their console sessions end."""
    return hub.services.directory.reset_password(user, user_id, payload.password)


@router.get("/audit")
def audit_log(user: CurrentUser, hub: HubDep, action: str | None = None, actor: str | None = None,
              object_type: str | None = None, object_id: str | None = None,
              first: str | None = Query(default=None, alias="from"), last: str | None = Query(default=None, alias="to"),
              limit: int = Query(default=50, ge=1, le=200),
              offset: int = Query(default=0, ge=0, le=OFFSET_MAX)) -> dict[str, Any]:
    """The audit log, newest first (admin, monitor); ``from`` and ``to`` are local days, both included."""
    return hub.services.audit.events(user, action=action, actor=actor, object_type=object_type,
                                     object_id=object_id, first=first, last=last, limit=limit, offset=offset)
