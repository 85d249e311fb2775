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


class DeviceTokens:
    """Which device a token belongs to, cached until anything about devices changes.

    Devices poll often; a poll whose token the cache knows for the current devices generation is
    authenticated without any I/O (that generation goes up when a device is added, moved,
    deactivated or given a new token, and not when a bulletin is approved, so the fleet's downloads
    right after an approval need no lookup; see hub/changes.py).
    """

    MAX = 100_000

    def __init__(self, store, counter) -> None:
        self.store = store
        self.counter = counter
        self._devices: dict[str, tuple[int, Principal | None]] = {}

    def cached(self, token: str) -> Principal | None:
        """The device for a token if the cache knows it for sure now, without any I/O; else None."""
        generation = self.counter.devices_fresh()
        cached = self._devices.get(hash_token(token)) if generation is not None else None
        return cached[1] if cached is not None and cached[0] == generation else None

    def lookup(self, token: str) -> Principal | None:
        """The active device a token belongs to, or None (reads the store when the cache is unsure)."""
        digest = hash_token(token)
        generation = self.counter.devices()
        cached = self._devices.get(digest)
        if cached is not None and cached[0] == generation:
            return cached[1]
        with self.store.reader() as session:
            device = session.scalar(select(Device).where(Device.token_hash == digest, Device.active))
            principal = Principal(device.id, device.name, "device", device.commune, device.kind) if device else None
        if len(self._devices) > self.MAX:
            self._devices.clear()
        self._devices[digest] = (generation, principal)
        return principal
