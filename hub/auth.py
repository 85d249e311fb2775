"""Tokens, roles and the principal making a request.

Tokens are 32 random bytes, shown once, stored only as their sha256 (a high-entropy secret needs no
slow hash). The prefix says what kind of token it is, so a user token never works as a device's.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.errors import Forbidden, Unauthenticated
from hub.models import Device, User

ROLES = ("admin", "editor", "operator", "monitor")
USER_PREFIX = "hubu_"
DEVICE_PREFIX = "hubd_"
#: Roles that may decide on bulletins (approve, reject, withdraw) and see every commune.
EDITORS = frozenset({"admin", "editor"})


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user with a role, or a device."""

    id: str
    name: str
    role: str  # admin | editor | operator | monitor | device
    commune: str | None = None
    device_kind: str | None = None

    @property
    def is_device(self) -> bool:
        return self.role == "device"

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"role '{self.role}' may not do this (needs {' or '.join(roles)})")

    def sees_commune(self, code: str) -> bool:
        """Operators and devices see only their own commune; department roles see all."""
        if self.role in ("operator", "device"):
            return code == self.commune
        return True


def authenticate(session: Session, token: str | None) -> Principal:
    if not token:
        raise Unauthenticated("missing bearer token")
    digest = hash_token(token)
    if token.startswith(DEVICE_PREFIX):
        device = session.scalar(select(Device).where(Device.token_hash == digest, Device.active))
        if device is not None:
            return Principal(device.id, device.name, "device", device.commune, device.kind)
    elif token.startswith(USER_PREFIX):
        user = session.scalar(select(User).where(User.token_hash == digest, User.active))
        if user is not None:
            return Principal(user.id, user.name, user.role, user.commune)
    raise Unauthenticated("invalid token")
