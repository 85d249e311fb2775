"""Communes, users and devices: the records that tokens and scopes hang on."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth import DEVICE_PREFIX, ROLES, USER_PREFIX, Principal, hash_token, new_token
from hub.errors import Conflict, Invalid
from hub.models import AuditEvent, Commune, Device, User

CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
DEVICE_KINDS = ("speaker", "display")


def _audit(session: Session, actor: Principal | None, action: str, kind: str, object_id: str) -> None:
    session.add(AuditEvent(actor=actor.id if actor else None, action=action, object_type=kind, object_id=object_id))


def commune_view(commune: Commune) -> dict[str, Any]:
    return {"code": commune.code, "name": commune.name, "voice": commune.voice, "id": commune.code}


def add_commune(session: Session, code: str, name: str, *, voice: str | None = None,
                actor: Principal | None = None) -> dict[str, Any]:
    if not CODE_RE.match(code) or code == "*":
        raise Invalid("commune code must be 1-32 letters, digits, '.', '_' or '-'")
    if not name.strip():
        raise Invalid("commune name must not be blank")
    if session.get(Commune, code) is not None:
        raise Conflict(f"commune {code} exists already")
    commune = Commune(code=code, name=name.strip(), voice=voice)
    session.add(commune)
    _audit(session, actor, "create", "commune", code)
    return commune_view(commune)


def _require_commune(session: Session, code: str | None) -> None:
    if code is not None and session.get(Commune, code) is None:
        raise Invalid(f"unknown commune code: {code}")


def user_view(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "role": user.role, "commune": user.commune,
            "created_at": user.created_at}


def add_user(session: Session, name: str, role: str, commune: str | None = None,
             actor: Principal | None = None) -> dict[str, Any]:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    if role == "operator" and not commune:
        raise Invalid("an operator needs --commune")
    if role != "operator" and commune:
        raise Invalid("only operators are bound to a commune")
    if not name.strip():
        raise Invalid("user name must not be blank")
    _require_commune(session, commune)
    if session.scalar(select(User).where(User.name == name.strip())) is not None:
        raise Conflict(f"user {name} exists already")
    token = new_token(USER_PREFIX)
    user = User(name=name.strip(), role=role, commune=commune, token_hash=hash_token(token))
    session.add(user)
    session.flush()
    _audit(session, actor, "create", "user", user.id)
    return {**user_view(user), "token": token}


def device_view(device: Device) -> dict[str, Any]:
    return {"id": device.id, "name": device.name, "commune": device.commune, "kind": device.kind,
            "created_at": device.created_at}


def add_device(session: Session, name: str, commune: str, kind: str = "speaker",
               actor: Principal | None = None) -> dict[str, Any]:
    if kind not in DEVICE_KINDS:
        raise Invalid(f"kind must be one of {', '.join(DEVICE_KINDS)}")
    if not name.strip():
        raise Invalid("device name must not be blank")
    _require_commune(session, commune)
    token = new_token(DEVICE_PREFIX)
    device = Device(name=name.strip(), commune=commune, kind=kind, token_hash=hash_token(token))
    session.add(device)
    session.flush()
    _audit(session, actor, "create", "device", device.id)
    return {**device_view(device), "token": token}
