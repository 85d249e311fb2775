"""Console pages: administration (issue 11, item 6).

- ``/console/users`` (admin): people, their roles, communes, passwords, deactivation;
- ``/console/communes`` (admin): the province's communes and their voices;
- ``/console/devices`` (admin, editor, monitor: all; operator: its commune): devices, registering
  one (admin, or the commune's operator), deactivating, a new token;
- ``/console/audit`` (admin, monitor): the audit log with filters.

Every action calls the directory or audit service (``hub.services.directory`` / ``.audit``), as
the API does. A token (a new user's, a new device's, a rotated one) is shown once, on the answer
to the POST that made it: it is stored only as a hash, so no later page could show it again.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Request, Response

from hub.plugin_api import ROLES, Conflict, Forbidden, HubError, Invalid, NotFound, Principal

from .pages import Console, Seat

KINDS = ("speaker", "display")
#: The new-user form offers the roles by how much they may do, least first.
FORM_ORDER = ("operator", "monitor", "editor", "admin")
AUDIT_PAGE = 50
#: Flash messages after a 303 (``?done=…``): only these keys are shown.
DONE = ("saved", "deactivated", "reactivated", "password", "added")


def qr_data_uri(text: str) -> str:
    """A QR code of ``text`` as a data: SVG for an <img> (the CSP allows img-src data:)."""
    svg = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2,
                      error_correction=qrcode.constants.ERROR_CORRECT_M).to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def agent_command(server: str, token: str) -> str:
    """The command line that starts the reference loudspeaker agent for this device (hub/agent)."""
    return f"hub agent --server {server.rstrip('/')} --token {token} --cache /var/lib/hub-agent"


def _text(form: Any, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _raw(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def register(router: APIRouter, console: Console) -> None:
    _ = console._

    def done(request: Request) -> str | None:
        key = request.query_params.get("done")
        return _(f"admin.done.{key}") if key in DONE else None

    async def admin_seat(request: Request, *roles: str) -> Seat | Response:
        """The signed-in person if their role is one of ``roles``; else a 404 (or the sign-in)."""
        seat = await console.seat(request)
        if isinstance(seat, Seat) and seat.user.role not in roles:
            return console.not_found(seat)
        return seat

    async def communes(request: Request) -> list[dict[str, Any]]:
        return await console.call(console.hub(request).services.directory.communes)

    def error_text(exc: HubError, what: str) -> str:
        """A domain error in Vietnamese: the message for what went wrong where it is known."""
        detail = exc.detail.lower()
        if isinstance(exc, Conflict):
            return _(f"admin.error.{what}_exists")
        for needle, key in (("password_mismatch", "password_mismatch"), ("password", "password"), ("operator needs", "operator_commune"),
                            ("only operators", "no_commune"), ("unknown commune", "commune"),
                            ("commune code", "code"), ("blank", "blank"), ("themselves", "self"),
                            ("own role", "self"), ("role must", "role"), ("kind must", "kind")):
            if needle in detail:
                return _(f"admin.error.{key}")
        return _("admin.error.generic", detail=exc.detail)

    # --- users -------------------------------------------------------------------------------------

    @router.get("/console/users")
    async def users(request: Request) -> Response:
        seat = await admin_seat(request, "admin")
        if not isinstance(seat, Seat):
            return seat
        rows = await console.call(console.hub(request).services.directory.users, seat.user)
        names = {c["code"]: c["name"] for c in await communes(request)}
        return console.page("admin/users.html", seat=seat, section="users", users=rows, communes=names,
                            done=done(request))

    def user_form(seat: Seat, all_communes: list[dict[str, Any]], *, error: str | None = None,
                  values: dict[str, str] | None = None, status: int = 200) -> Response:
        # The least power first, and chosen by default: a hurried admin makes an operator, not an admin.
        offered = sorted(ROLES, key=lambda r: FORM_ORDER.index(r) if r in FORM_ORDER else len(FORM_ORDER))
        return console.page("admin/user_new.html", status, seat=seat, section="users", roles=offered,
                            communes=all_communes, error=error, values=values or {"role": offered[0]})

    @router.get("/console/users/new")
    async def new_user(request: Request) -> Response:
        seat = await admin_seat(request, "admin")
        if not isinstance(seat, Seat):
            return seat
        return user_form(seat, await communes(request))

    @router.post("/console/users")
    async def create_user(request: Request) -> Response:
        seat = await admin_seat(request, "admin")
        if not isinstance(seat, Seat):
            return seat
        form = await console.form(request, seat)
        if form is None:
            return console.forbidden(seat)
        values = {"name": _text(form, "name"), "role": _text(form, "role", 16), "commune": _text(form, "commune", 32)}
        password, again = _raw(form, "password"), _raw(form, "password_again")
        error = None
        if not values["name"]:
            error = _("admin.error.blank")
        elif values["role"] not in ROLES:
            error = _("admin.error.role")
        elif password != again:
            error = _("admin.error.password_mismatch")
        if error is None:
            commune = values["commune"] if values["role"] == "operator" else None
            try:
                record = await console.call(console.hub(request).services.directory.add_user, seat.user,
                                            values["name"], values["role"], commune or None, password=password)
            except (Invalid, Conflict) as exc:
                error = error_text(exc, "user")
        if error is not None:
            return user_form(seat, await communes(request), error=error, values=values, status=422)
        return console.page("admin/user_created.html", seat=seat, section="users", record=record)

    async def user_page(request: Request, seat: Seat, user_id: str, *, error: str | None = None,
                        status: int = 200, form_error: str | None = None) -> Response:
        try:
            record = await console.call(console.hub(request).services.directory.user, seat.user, user_id)
        except NotFound:
            return console.not_found(seat)
        return console.page("admin/user.html", status, seat=seat, section="users", record=record, roles=ROLES,
                            communes=await communes(request), error=error, form_error=form_error,
                            is_self=record["id"] == seat.user.id, done=done(request))

    @router.get("/console/users/{user_id}")
    async def user(request: Request, user_id: str) -> Response:
        seat = await admin_seat(request, "admin")
        if not isinstance(seat, Seat):
            return seat
        return await user_page(request, seat, user_id)

    async def user_action(request: Request, user_id: str, act) -> Response:
        """Check who and the CSRF token, run ``act(form)`` → done key, redirect; or the page with
        the error (422), nothing changed."""
        seat = await admin_seat(request, "admin")
        if not isinstance(seat, Seat):
            return seat
        form = await console.form(request, seat)
        if form is None:
            return console.forbidden(seat)
        try:
            key = await act(seat.user, form)
        except NotFound:
            return console.not_found(seat)
        except (Invalid, Conflict, Forbidden) as exc:
            return await user_page(request, seat, user_id, error=error_text(exc, "user"), status=422,
                                   form_error=getattr(exc, "form", None))
        return console.redirect(f"/console/users/{user_id}?done={key}")

    @router.post("/console/users/{user_id}")
    async def update_user(request: Request, user_id: str) -> Response:
        directory = console.hub(request).services.directory

        async def act(actor: Principal, form: Any) -> str:
            role = _text(form, "role", 16)
            if role not in ROLES:
                raise Invalid("role must be one of the roles")
            commune = _text(form, "commune", 32) if role == "operator" else None
            await console.call(directory.update_user, actor, user_id, role=role, commune=commune or None)
            return "saved"

        return await user_action(request, user_id, act)

    @router.post("/console/users/{user_id}/password")
    async def reset_password(request: Request, user_id: str) -> Response:
        directory = console.hub(request).services.directory

        async def act(actor: Principal, form: Any) -> str:
            password, again = _raw(form, "password"), _raw(form, "password_again")
            if password != again:
                raise Invalid("password_mismatch")
            await console.call(directory.reset_password, actor, user_id, password)
            return "password"

        return await user_action(request, user_id, act)

    @router.post("/console/users/{user_id}/active")
    async def set_user_active(request: Request, user_id: str) -> Response:
        directory = console.hub(request).services.directory

        async def act(actor: Principal, form: Any) -> str:
            active = _text(form, "active", 8)
            if active not in ("true", "false"):
                raise Invalid("active must be true or false")
            await console.call(directory.update_user, actor, user_id, active=active == "true")
            return "reactivated" if active == "true" else "deactivated"

        return await user_action(request, user_id, act)

    # --- communes ----------------------------------------------------------------------------------

    @router.get("/console/communes")
    async def commune_list(request: Request) -> Response:
        seat = await admin_seat(request, "admin")
        if not isinstance(seat, Seat):
            return seat
        return console.page("admin/communes.html", seat=seat, section="communes", communes=await communes(request),
                            done=done(request))

    def commune_form(seat: Seat, *, commune: dict[str, Any] | None, values: dict[str, str],
                     error: str | None = None, status: int = 200) -> Response:
        return console.page("admin/commune_form.html", status, seat=seat, section="communes", commune=commune,
                            values=values, error=error)

    @router.get("/console/communes/new")
    async def new_commune(request: Request) -> Response:
        seat = await admin_seat(request, "admin")
        if not isinstance(seat, Seat):
            return seat
        return commune_form(seat, commune=None, values={})

    @router.post("/console/communes")
    async def create_commune(request: Request) -> Response:
        seat = await admin_seat(request, "admin")
        if not isinstance(seat, Seat):
            return seat
        form = await console.form(request, seat)
        if form is None:
            return console.forbidden(seat)
        values = {"code": _text(form, "code", 64), "name": _text(form, "name"), "voice": _text(form, "voice", 64)}
        try:
            await console.call(console.hub(request).services.directory.add_commune, seat.user, values["code"],
                               values["name"], voice=values["voice"] or None)
        except (Invalid, Conflict) as exc:
            return commune_form(seat, commune=None, values=values, error=error_text(exc, "commune"), status=422)
        return console.redirect("/console/communes?done=added")

    @router.get("/console/communes/{code}")
    async def commune(request: Request, code: str) -> Response:
        seat = await admin_seat(request, "admin")
        if not isinstance(seat, Seat):
            return seat
        found = await console.call(console.hub(request).services.directory.commune, code)
        if found is None:
            return console.not_found(seat)
        return commune_form(seat, commune=found, values={"name": found["name"], "voice": found["voice"] or ""})

    @router.post("/console/communes/{code}")
    async def update_commune(request: Request, code: str) -> Response:
        seat = await admin_seat(request, "admin")
        if not isinstance(seat, Seat):
            return seat
        directory = console.hub(request).services.directory
        found = await console.call(directory.commune, code)
        if found is None:
            return console.not_found(seat)
        form = await console.form(request, seat)
        if form is None:
            return console.forbidden(seat)
        values = {"name": _text(form, "name"), "voice": _text(form, "voice", 64)}
        try:
            await console.call(directory.update_commune, seat.user, code, name=values["name"],
                               voice=values["voice"] or None, clear_voice=not values["voice"])
        except Invalid as exc:
            return commune_form(seat, commune=found, values=values, error=error_text(exc, "commune"), status=422)
        return console.redirect("/console/communes?done=saved")

    # --- devices -----------------------------------------------------------------------------------

    def may_manage(user: Principal, commune: str | None = None) -> bool:
        """Who may register, deactivate or re-token a device (the service checks it again)."""
        return user.role == "admin" or (user.role == "operator" and (commune is None or commune == user.commune))

    @router.get("/console/devices")
    async def devices(request: Request) -> Response:
        seat = await admin_seat(request, "admin", "editor", "monitor", "operator")
        if not isinstance(seat, Seat):
            return seat
        rows = await console.call(console.hub(request).services.directory.devices, seat.user)
        names = {c["code"]: c["name"] for c in await communes(request)}
        return console.page("admin/devices.html", seat=seat, section="devices", devices=rows, communes=names,
                            may_manage=may_manage(seat.user), done=done(request))

    async def device_form(request: Request, seat: Seat, *, values: dict[str, str], error: str | None = None,
                          status: int = 200) -> Response:
        choices = [c for c in await communes(request) if seat.user.sees_commune(c["code"])]
        return console.page("admin/device_new.html", status, seat=seat, section="devices", communes=choices,
                            kinds=KINDS, values=values, error=error)

    @router.get("/console/devices/new")
    async def new_device(request: Request) -> Response:
        seat = await admin_seat(request, "admin", "operator")
        if not isinstance(seat, Seat):
            return seat
        return await device_form(request, seat, values={"kind": "speaker", "commune": seat.user.commune or ""})

    def token_page(request: Request, seat: Seat, record: dict[str, Any], *, rotated: bool) -> Response:
        server = console.settings.public_url
        if record["kind"] == "display":
            target = f"{server.rstrip('/')}/display?token={record['token']}"
        else:
            target = record["token"]
        return console.page("admin/device_token.html", seat=seat, section="devices", record=record, rotated=rotated,
                            qr=qr_data_uri(target), command=agent_command(server, record["token"]),
                            display_url=target if record["kind"] == "display" else None)

    @router.post("/console/devices")
    async def register_device(request: Request) -> Response:
        seat = await admin_seat(request, "admin", "operator")
        if not isinstance(seat, Seat):
            return seat
        form = await console.form(request, seat)
        if form is None:
            return console.forbidden(seat)
        values = {"name": _text(form, "name"), "commune": _text(form, "commune", 32), "kind": _text(form, "kind", 16)}
        error = None
        if not values["name"]:
            error = _("admin.error.blank")
        elif values["kind"] not in KINDS:
            error = _("admin.error.kind")
        elif not values["commune"]:
            error = _("admin.error.commune")
        if error is None:
            try:
                record = await console.call(console.hub(request).services.directory.register_device, seat.user,
                                            values["name"], values["commune"], values["kind"])
            except (Invalid, Forbidden) as exc:
                error = _("admin.error.commune") if isinstance(exc, Forbidden) else error_text(exc, "device")
        if error is not None:
            return await device_form(request, seat, values=values, error=error, status=422)
        return token_page(request, seat, record, rotated=False)

    async def managed_device(request: Request, device_id: str) -> tuple[Seat | None, Any]:
        """(seat, device) for one who may manage it; else (None, the answer: sign-in or 404)."""
        seat = await admin_seat(request, "admin", "operator")
        if not isinstance(seat, Seat):
            return None, seat
        try:
            device = await console.call(console.hub(request).services.directory.device, seat.user, device_id)
        except (NotFound, Forbidden):
            return None, console.not_found(seat)
        if not may_manage(seat.user, device["commune"]):
            return None, console.not_found(seat)
        return seat, device

    @router.get("/console/devices/{device_id}/token")
    async def confirm_rotate(request: Request, device_id: str) -> Response:
        seat, device = await managed_device(request, device_id)
        if seat is None:
            return device
        return console.page("admin/device_rotate.html", seat=seat, section="devices", device=device)

    @router.post("/console/devices/{device_id}/token")
    async def rotate(request: Request, device_id: str) -> Response:
        seat, device = await managed_device(request, device_id)
        if seat is None:
            return device
        if await console.form(request, seat) is None:
            return console.forbidden(seat)
        record = await console.call(console.hub(request).services.directory.rotate_device_token, seat.user, device_id)
        return token_page(request, seat, record, rotated=True)

    @router.post("/console/devices/{device_id}/active")
    async def set_device_active(request: Request, device_id: str) -> Response:
        seat, device = await managed_device(request, device_id)
        if seat is None:
            return device
        form = await console.form(request, seat)
        if form is None:
            return console.forbidden(seat)
        active = _text(form, "active", 8)
        if active not in ("true", "false"):
            return console.page("error.html", 422, seat=seat, title=_("admin.error.title"),
                                message=_("admin.error.generic", detail="active"))
        await console.call(console.hub(request).services.directory.set_device_active, seat.user, device_id,
                           active == "true")
        return console.redirect("/console/devices?done=" + ("reactivated" if active == "true" else "deactivated"))

    # --- audit -------------------------------------------------------------------------------------

    @router.get("/console/audit")
    async def audit(request: Request) -> Response:
        seat = await admin_seat(request, "admin", "monitor")
        if not isinstance(seat, Seat):
            return seat
        query = request.query_params
        filters = {name: (query.get(name) or "").strip()[:200]
                   for name in ("action", "actor", "object_type", "object_id", "from", "to")}
        try:
            page = max(1, min(int(query.get("page") or 1), 100_000))
        except ValueError:
            page = 1
        service = console.hub(request).services.audit
        error, status = None, 200
        try:
            result = await console.call(service.events, seat.user, action=filters["action"], actor=filters["actor"],
                                        object_type=filters["object_type"], object_id=filters["object_id"],
                                        first=filters["from"], last=filters["to"], limit=AUDIT_PAGE,
                                        offset=(page - 1) * AUDIT_PAGE)
        except Invalid:
            error, status = _("audit.error.filters"), 422
            result = {"items": [], "total": 0, "limit": AUDIT_PAGE, "offset": 0}
        actions = await console.call(service.actions, seat.user)
        kept = {k: v for k, v in filters.items() if v}
        pages = max(1, -(-result["total"] // AUDIT_PAGE))

        def link(number: int) -> str:
            return "/console/audit?" + urlencode({**kept, "page": number})

        return console.page("admin/audit.html", status, seat=seat, section="audit", events=result["items"],
                            total=result["total"], page=page, pages=pages, filters=filters, actions=actions,
                            error=error, previous=link(page - 1) if page > 1 else None,
                            next=link(page + 1) if page < pages else None,
                            label=action_label, status_name=status_label)

    def action_label(action: str) -> str:
        """The action's Vietnamese name where the catalog has one, else the action as written."""
        text = _(f"audit.action.{action}")
        return action if text == f"audit.action.{action}" else text

    def status_label(status: str | None) -> str:
        if not status:
            return "–"
        text = _(f"audit.status.{status}")
        return status if text == f"audit.status.{status}" else text
