"""The directory: communes, people and devices, and who a token belongs to."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from hub import accounts, geo
from hub.auth import Principal, authenticate
from hub.errors import Forbidden, NotFound
from hub.clock import utcnow
from hub.models import Commune, ConsoleSession, Device, User
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

    def update_commune(self, actor: Principal | None, code: str, *, name: str | None = None,
                       voice: str | None = None, clear_voice: bool = False,
                       tx: Transaction | None = None) -> dict[str, Any]:
        """A commune's new name or voice (admin); its code stays."""
        if actor is not None:
            actor.require("admin")
        with self.transaction(tx) as t:
            return accounts.update_commune(t.session, code, name=name, voice=voice, clear_voice=clear_voice,
                                           actor=actor)

    def import_boundaries(self, actor: Principal | None, text: str | bytes, *, code_property: str | None = None,
                          tx: Transaction | None = None) -> dict[str, Any]:
        """Commune outlines from a GeoJSON FeatureCollection (admin): all or, on any bad feature, none."""
        if actor is not None:
            actor.require("admin")
        outlines = geo.read_outlines(text, code_property)
        with self.transaction(tx) as t:
            result = accounts.set_boundaries(t.session, outlines.by_code, actor=actor)
        return {**result, "without_code": outlines.without_code}

    # --- people -----------------------------------------------------------------------------------

    def add_user(self, actor: Principal | None, name: str, role: str, commune: str | None = None,
                 password: str | None = None, *, tx: Transaction | None = None) -> dict[str, Any]:
        """A user and their token (shown only this once); with ``password``, a console password too."""
        if actor is not None:
            actor.require("admin")
        with self.transaction(tx) as t:
            return accounts.add_user(t.session, name, role, commune, actor=actor, password=password)

    def users(self, actor: Principal) -> list[dict[str, Any]]:
        """Every user (admin only): role, commune, active, whether a console password is set, and
        the last console sign-in (None if never)."""
        actor.require("admin")
        with self.reading() as session:
            last = dict(session.execute(select(ConsoleSession.user_id, func.max(ConsoleSession.created_at))
                                        .group_by(ConsoleSession.user_id)).all())
            return [self._user_row(u, last.get(u.id)) for u in session.scalars(select(User).order_by(User.name))]

    def user(self, actor: Principal, user_id: str) -> dict[str, Any]:
        actor.require("admin")
        with self.reading() as session:
            user = session.get(User, user_id) if well_formed_id(user_id, 32) else None
            if user is None:
                raise NotFound(f"unknown user: {user_id}")
            last = session.scalar(select(func.max(ConsoleSession.created_at)).where(ConsoleSession.user_id == user.id))
            return self._user_row(user, last)

    @staticmethod
    def _user_row(user: User, last_sign_in: Any) -> dict[str, Any]:
        return {**accounts.user_view(user), "active": user.active, "password_set": user.password_hash is not None,
                "last_sign_in": last_sign_in}

    def update_user(self, actor: Principal | None, user_id: str, *, role: str | None = None,
                    commune: Any = accounts.UNSET, active: bool | None = None,
                    tx: Transaction | None = None) -> dict[str, Any]:
        """Change a user's role and commune, or (de)activate them: deactivation ends their console
        sessions at once and stops their token; each change is audited (hub/accounts.py)."""
        if actor is not None:
            actor.require("admin")
        with self.transaction(tx) as t:
            return accounts.update_user(t.session, user_id, role=role, commune=commune, active=active, actor=actor)

    def reset_password(self, actor: Principal | None, user_id: str, password: str) -> dict[str, Any]:
        """An admin sets a user's new console password; the user's console sessions end."""
        if actor is not None:
            actor.require("admin")
        with self.transaction() as t:
            return accounts.reset_password(t.session, user_id, password, actor=actor)

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
        cutoff = utcnow() - timedelta(seconds=self.hub.settings.offline_after_s)
        with self.reading() as session:
            return [{**accounts.device_view(d), "online": bool(d.active and d.last_seen and d.last_seen >= cutoff)}
                    for d in session.scalars(query)]

    def device(self, principal: Principal, device_id: str) -> dict[str, Any]:
        """One device, for whoever may list it (NotFound for an operator's neighbour's)."""
        principal.require("admin", "editor", "monitor", "operator")
        with self.reading() as session:
            device = session.get(Device, device_id) if well_formed_id(device_id, 32) else None
            if device is None or not principal.sees_commune(device.commune):
                raise NotFound(f"unknown device: {device_id}")
            cutoff = utcnow() - timedelta(seconds=self.hub.settings.offline_after_s)
            return {**accounts.device_view(device),
                    "online": bool(device.active and device.last_seen and device.last_seen >= cutoff)}

    def _manage_device(self, actor: Principal | None, device_id: str, t: Transaction) -> None:
        """Who may deactivate a device or give it a new token: an admin, or its commune's operator
        (another commune's device does not exist for an operator: NotFound)."""
        if actor is None:
            return
        if actor.role == "operator":
            device = t.session.get(Device, device_id) if well_formed_id(device_id, 32) else None
            if device is None or device.commune != actor.commune:
                raise NotFound(f"unknown device: {device_id}")
            return
        actor.require("admin")

    def set_device_active(self, actor: Principal | None, device_id: str, active: bool, *,
                          tx: Transaction | None = None) -> dict[str, Any]:
        """Deactivate a device (its token is refused at once) or bring it back."""
        with self.transaction(tx) as t:
            self._manage_device(actor, device_id, t)
            return accounts.set_device_active(t.session, device_id, active, actor=actor)

    def rotate_device_token(self, actor: Principal | None, device_id: str, *,
                            tx: Transaction | None = None) -> dict[str, Any]:
        """A new token for a device, shown only this once; the old one is refused at once."""
        with self.transaction(tx) as t:
            self._manage_device(actor, device_id, t)
            return accounts.rotate_device_token(t.session, device_id, actor=actor)
