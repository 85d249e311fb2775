"""The directory: communes, people and devices, and who a token belongs to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from hub import accounts
from hub.auth import Principal, authenticate
from hub.errors import Forbidden, NotFound
from hub.models import Commune, Device
from hub.services import Service, Transaction
from hub.validation import well_formed_id


class DirectoryService(Service):
    # --- who is asking ----------------------------------------------------------------------------

    def authenticate(self, token: str | None) -> Principal:
        """The user or device a bearer token belongs to; Unauthenticated otherwise."""
        with self.reading() as session:
            return authenticate(session, token)

    # --- communes ---------------------------------------------------------------------------------

    def communes(self) -> list[dict[str, Any]]:
        with self.reading() as session:
            return [accounts.commune_view(c) for c in session.scalars(select(Commune).order_by(Commune.code))]

    def commune(self, code: str, *, tx: Transaction | None = None) -> dict[str, Any] | None:
        with self.reading(tx) as session:
            row = session.get(Commune, code) if well_formed_id(code, 32) else None
            return accounts.commune_view(row) if row is not None else None

    def known_communes(self, codes: Iterable[str], *, tx: Transaction | None = None) -> set[str]:
        """Which of ``codes`` name communes of this hub."""
        codes = set(codes)
        if not codes:
            return set()
        with self.reading(tx) as session:
            return set(session.scalars(select(Commune.code).where(Commune.code.in_(codes))))

    def require_commune(self, principal: Principal, code: str) -> dict[str, Any]:
        """The commune, if it exists and this principal may see it; NotFound otherwise."""
        commune = self.commune(code)
        if commune is None or not principal.sees_commune(code):
            raise NotFound(f"unknown commune: {code}")
        return commune

    def add_commune(self, actor: Principal | None, code: str, name: str, *, voice: str | None = None,
                    tx: Transaction | None = None) -> dict[str, Any]:
        if actor is not None:
            actor.require("admin")
        with self.transaction(tx) as t:
            return accounts.add_commune(t.session, code, name, voice=voice, actor=actor)

    # --- people -----------------------------------------------------------------------------------

    def add_user(self, actor: Principal | None, name: str, role: str, commune: str | None = None,
                 password: str | None = None, *, tx: Transaction | None = None) -> dict[str, Any]:
        """A user and their token (shown only this once); with ``password``, a console password too."""
        if actor is not None:
            actor.require("admin")
        with self.transaction(tx) as t:
            return accounts.add_user(t.session, name, role, commune, actor=actor, password=password)

    def set_password(self, actor: Principal | None, name: str, password: str) -> dict[str, Any]:
        """A new console password (stored as argon2id); the user's console sessions end."""
        if actor is not None:
            actor.require("admin")
        with self.transaction() as t:
            return accounts.set_password(t.session, name, password, actor=actor)

    # --- devices ----------------------------------------------------------------------------------

    def register_device(self, actor: Principal | None, name: str, commune: str, kind: str = "speaker", *,
                        tx: Transaction | None = None) -> dict[str, Any]:
        """A device and its token (shown only this once); operators only in their own commune."""
        if actor is not None:
            actor.require("admin", "operator")
            if not actor.sees_commune(commune):
                # Every user may list the communes, so there is nothing to hide: 403, as for bulletins.
                raise Forbidden(f"an operator may register devices only in its own commune ({actor.commune})")
        with self.transaction(tx) as t:
            return accounts.add_device(t.session, name, commune, kind, actor=actor)

    def devices(self, principal: Principal) -> list[dict[str, Any]]:
        principal.require("admin", "editor", "monitor", "operator")
        query = select(Device).order_by(Device.commune, Device.name)
        if principal.role == "operator":
            query = query.where(Device.commune == principal.commune)
        with self.reading() as session:
            return [accounts.device_view(d) for d in session.scalars(query)]
