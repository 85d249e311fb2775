"""Communes, users and devices: the records that tokens and scopes hang on."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth import DEVICE_PREFIX, ROLES, USER_PREFIX, Principal, hash_token, new_token
from hub.errors import Conflict, Invalid, NotFound
from hub.clock import utcnow
from hub.models import AuditEvent, Commune, ConsoleSession, Device, User

CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
DEVICE_KINDS = ("speaker", "display")
#: Console passwords: at least this long, at most this long (argon2 hashes any length; a bound
#: keeps one request from costing much).
PASSWORD_MIN, PASSWORD_MAX = 8, 1024

_hasher = None


def _password_hasher():
    """argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile), made once."""
    global _hasher
    if _hasher is None:
        from argon2 import PasswordHasher

        _hasher = PasswordHasher()
    return _hasher


def hash_password(password: str) -> str:
    """A slow salted hash (argon2id, PHC string); the password itself is never stored."""
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise Invalid(f"a password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long")
    if "\x00" in password:
        raise Invalid("a password must not contain NUL characters")
    return _password_hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (or an unknown user) the same work is done anyway."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _password_hasher()
    if not password_hash or len(password) > PASSWORD_MAX:
        try:
            hasher.verify(_dummy_hash(), password[:PASSWORD_MAX])
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_dummy: list[str] = []


def _dummy_hash() -> str:
    if not _dummy:
        _dummy.append(_password_hasher().hash("not a password of anyone"))
    return _dummy[0]


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
             actor: Principal | None = None, password: str | None = None) -> dict[str, Any]:
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
    user = User(name=name.strip(), role=role, commune=commune, token_hash=hash_token(token),
                password_hash=hash_password(password) if password is not None else None)
    session.add(user)
    session.flush()
    _audit(session, actor, "create", "user", user.id)
    return {**user_view(user), "token": token, "password_set": user.password_hash is not None}


def set_password(session: Session, name: str, password: str, actor: Principal | None = None) -> dict[str, Any]:
    """A new console password for a user; every console session of theirs ends (sign in again)."""
    user = session.scalar(select(User).where(User.name == name.strip()))
    if user is None:
        raise NotFound(f"unknown user: {name}")
    user.password_hash = hash_password(password)
    now = utcnow()
    for row in session.scalars(select(ConsoleSession).where(ConsoleSession.user_id == user.id,
                                                            ConsoleSession.ended_at.is_(None))):
        row.ended_at = now
    _audit(session, actor, "set_password", "user", user.id)
    return {**user_view(user), "password_set": True}


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
