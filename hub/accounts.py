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


def set_boundaries(session: Session, shapes: dict[str, dict[str, Any]], *,
                   actor: Principal | None = None) -> dict[str, Any]:
    """Each known commune's outline from ``shapes`` (code → GeoJSON geometry); codes the hub does
    not know are listed, not fatal: a province's file covers communes not on this hub yet."""
    known = {commune.code: commune for commune in session.scalars(
        select(Commune).where(Commune.code.in_(shapes)))} if shapes else {}
    for code, commune in known.items():
        if commune.boundary != shapes[code]:
            commune.boundary = shapes[code]
            _audit(session, actor, "set_boundary", "commune", code)
    return {"updated": sorted(known), "unknown": sorted(set(shapes) - set(known))}


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
            "created_at": device.created_at, "active": device.active, "last_seen": device.last_seen}


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


# --- administration (the console's users, communes and devices pages; PATCH in the API) ----------------


def _user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id) if isinstance(user_id, str) and 0 < len(user_id) <= 32 else None
    if user is None:
        raise NotFound(f"unknown user: {user_id}")
    return user


def _end_sessions(session: Session, user_id: str, *, keep: str | None = None) -> int:
    """End a user's open console sessions (all but the one whose id is ``keep``); how many ended."""
    now = utcnow()
    ended = 0
    for row in session.scalars(select(ConsoleSession).where(ConsoleSession.user_id == user_id,
                                                            ConsoleSession.ended_at.is_(None))):
        if row.id != keep:
            row.ended_at = now
            ended += 1
    return ended


def _check_role(session: Session, role: str, commune: str | None) -> None:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    if role == "operator" and not commune:
        raise Invalid("an operator needs a commune")
    if role != "operator" and commune:
        raise Invalid("only operators are bound to a commune")
    _require_commune(session, commune)


#: "Not given" for :func:`update_user`'s commune, where None means "no commune".
UNSET: Any = object()


def update_user(session: Session, user_id: str, *, role: str | None = None, commune: Any = UNSET,
                active: bool | None = None, actor: Principal | None = None) -> dict[str, Any]:
    """Change a user's role and commune (either alone keeps the other where it can: a department
    role has no commune) and whether they are active. Deactivating ends their console sessions at
    once (their API token stops working too); an admin cannot demote or deactivate themselves.
    One audit row per kind of change: ``update`` (with the old and new role and commune),
    ``deactivate``, ``reactivate``."""
    user = _user(session, user_id)
    is_self = actor is not None and actor.id == user.id
    if role is not None or commune is not UNSET:
        role = role if role is not None else user.role
        if commune is UNSET:
            commune = user.commune if role == "operator" else None
        commune = commune or None
    if role is not None and (role, commune) != (user.role, user.commune):
        if is_self:
            raise Invalid("an admin cannot change their own role or commune")
        _check_role(session, role, commune)
        detail = {"role": [user.role, role], "commune": [user.commune, commune]}
        user.role, user.commune = role, commune
        session.add(AuditEvent(actor=actor.id if actor else None, action="update", object_type="user",
                               object_id=user.id, detail=detail))
    if active is not None and active != user.active:
        if is_self and not active:
            raise Invalid("an admin cannot deactivate themselves")
        user.active = active
        ended = _end_sessions(session, user.id) if not active else 0
        session.add(AuditEvent(actor=actor.id if actor else None, action="reactivate" if active else "deactivate",
                               object_type="user", object_id=user.id,
                               detail={"sessions_ended": ended} if not active else None))
    session.flush()
    return {**user_view(user), "active": user.active, "password_set": user.password_hash is not None}


def reset_password(session: Session, user_id: str, password: str, actor: Principal | None = None) -> dict[str, Any]:
    """An admin sets a user's new console password; every console session of theirs ends."""
    user = _user(session, user_id)
    user.password_hash = hash_password(password)
    ended = _end_sessions(session, user.id)
    session.add(AuditEvent(actor=actor.id if actor else None, action="reset_password", object_type="user",
                           object_id=user.id, detail={"sessions_ended": ended}))
    return {**user_view(user), "active": user.active, "password_set": True}


def change_own_password(session: Session, user_id: str, expected_hash: str | None, password: str, *,
                        keep_session: str | None) -> dict[str, Any]:
    """A user's new password, after the caller checked the current one against ``expected_hash``
    (argon2 is slow, so outside this transaction): refused if the hash changed meanwhile. Their
    other console sessions end; the one whose id is ``keep_session`` stays."""
    user = _user(session, user_id)
    if not user.active or user.password_hash is None or user.password_hash != expected_hash:
        raise Conflict("the password changed meanwhile; try again")
    user.password_hash = hash_password(password)
    ended = _end_sessions(session, user.id, keep=keep_session)
    session.add(AuditEvent(actor=user.id, action="change_password", object_type="user", object_id=user.id,
                           detail={"sessions_ended": ended}))
    return {**user_view(user), "active": user.active, "password_set": True}


def update_commune(session: Session, code: str, *, name: str | None = None, voice: str | None = None,
                   clear_voice: bool = False, actor: Principal | None = None) -> dict[str, Any]:
    """A commune's new name and voice (its code never changes: tokens, targets and files name it);
    ``clear_voice`` goes back to the hub's default voice."""
    commune = session.get(Commune, code) if isinstance(code, str) and CODE_RE.match(code) else None
    if commune is None:
        raise NotFound(f"unknown commune: {code}")
    changes: dict[str, list[str | None]] = {}
    if name is not None:
        if not name.strip():
            raise Invalid("commune name must not be blank")
        if name.strip() != commune.name:
            changes["name"] = [commune.name, name.strip()]
            commune.name = name.strip()
    if clear_voice or voice is not None:
        wanted = None if clear_voice else (voice.strip() or None)
        if wanted != commune.voice:
            changes["voice"] = [commune.voice, wanted]
            commune.voice = wanted
    if changes:
        session.add(AuditEvent(actor=actor.id if actor else None, action="update", object_type="commune",
                               object_id=code, detail=changes))
    return commune_view(commune)


def _device(session: Session, device_id: str) -> Device:
    device = session.get(Device, device_id) if isinstance(device_id, str) and 0 < len(device_id) <= 32 else None
    if device is None:
        raise NotFound(f"unknown device: {device_id}")
    return device


def set_device_active(session: Session, device_id: str, active: bool, actor: Principal | None = None) -> dict[str, Any]:
    """Deactivate a device (its token stops working at once: the devices counter goes up) or
    bring it back with the token it had."""
    device = _device(session, device_id)
    if device.active != active:
        device.active = active
        _audit(session, actor, "reactivate" if active else "deactivate", "device", device.id)
    return device_view(device)


def rotate_device_token(session: Session, device_id: str, actor: Principal | None = None) -> dict[str, Any]:
    """A new token for a device (shown only this once); the old one stops working at once (a
    token_hash change bumps the devices counter that cached device tokens follow)."""
    device = _device(session, device_id)
    token = new_token(DEVICE_PREFIX)
    device.token_hash = hash_token(token)
    _audit(session, actor, "rotate_token", "device", device.id)
    return {**device_view(device), "token": token}
