"""Console pages: bulletins (issue 11, item 4).

- ``GET /console/bulletins``: the list, newest first, filters (status, priority, commune, text) and pages;
- ``GET /console/bulletins/{id}``: the bulletin and its approval page: content, what will air (the
  audio and slides rendered at submission), the change since the last approved revision, who did
  what when, and the workflow buttons this person may use (``POST`` the same address);
- ``GET/POST /console/bulletins/new`` and ``/console/bulletins/{id}/edit``: the form.

Every read and every step goes through ``hub.services.bulletins`` as the API does; its errors
(Conflict, Forbidden, Invalid) come back as the page again with a Vietnamese message and a 4xx.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from markupsafe import Markup, escape

from hub.plugin_api import EDITORS, Conflict, Forbidden, HubError, Invalid, NotFound, TooLarge, local

from .pages import Console, Seat

STATUSES = ("draft", "pending", "approved", "rejected", "withdrawn")
PRIORITIES = ("normal", "priority", "emergency")
#: CAP 1.2's <category> values, in the order the form lists them (the service checks them too;
#: tests/plugins/test_console_cap_fields.py keeps this list equal to hub.bulletins.CAP_CATEGORIES).
CAP_CATEGORIES = ("Met", "Geo", "Fire", "Health", "Safety", "Rescue", "Infra", "Transport", "Env", "Security",
                  "CBRNE", "Other")
CHANNELS = ("speaker", "display", "web")
ACTIONS = ("submit", "approve", "reject", "withdraw")
PAGE = 20
DONE = ("saved", "submit", "approve", "reject", "withdraw", "emergency")
#: The service's own bound on list offsets (hub.validation.OFFSET_MAX).
OFFSET_LIMIT = 1_000_000_000
STATUS_CODES = {Conflict: 409, Forbidden: 403, Invalid: 422, TooLarge: 413}


def _text(form: Any, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def diff_html(old: str, new: str) -> Markup:
    """Word by word, what changed from ``old`` to ``new``: removed words in <del>, added in <ins>."""
    a, b = old.split(" "), new.split(" ")
    parts: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(str(escape(" ".join(a[i1:i2]))))
            continue
        if i2 > i1:
            parts.append(f"<del>{escape(' '.join(a[i1:i2]))}</del>")
        if j2 > j1:
            parts.append(f"<ins>{escape(' '.join(b[j1:j2]))}</ins>")
    return Markup(" ".join(parts))


def allowed_actions(user: Any, bulletin: dict[str, Any], allow_self_approval: bool) -> list[str]:
    """The workflow buttons to show (the service decides anyway)."""
    author = user.id == bulletin["author"]
    may_change = user.role in EDITORS or author
    status = bulletin["status"]
    shown = []
    if status == "draft" and may_change and user.role in ("admin", "editor", "operator"):
        shown.append("submit")
    if status == "pending" and user.role in EDITORS:
        if allow_self_approval or not author:
            shown.append("approve")
        shown.append("reject")
    if status != "withdrawn" and may_change and user.role in ("admin", "editor", "operator"):
        shown.append("withdraw")
    return shown


def may_edit(user: Any, bulletin: dict[str, Any]) -> bool:
    return (bulletin["status"] != "withdrawn" and user.role in ("admin", "editor", "operator")
            and (user.role in EDITORS or user.id == bulletin["author"]))


def register(router: APIRouter, console: Console) -> None:
    _ = console._

    def error_text(exc: HubError) -> str:
        detail = exc.detail.lower()
        for needle, key in (("author of a bulletin cannot approve", "self_approval"), ("content_hash", "changed"),
                            ("cannot ", "state"), ("valid_until", "times"), ("unknown commune", "targets"),
                            ("must stand alone", "all_alone"), ("operator may target", "operator_targets"),
                            ("title is", "title_long"), ("body is", "body_long"), ("only the author", "not_author"),
                            ("cap_event is", "cap_event_long"), ("instruction is", "instruction_long"),
                            ("role", "role")):
            if needle in detail:
                return _(f"bulletins.error.{key}")
        return _("bulletins.error.generic", detail=exc.detail)

    async def communes(request: Request) -> list[dict[str, Any]]:
        return await console.call(console.hub(request).services.directory.communes)

    # --- the list ----------------------------------------------------------------------------------

    @router.get("/console/bulletins")
    async def bulletin_list(request: Request) -> Response:
        seat = await console.seat(request)
        if not isinstance(seat, Seat):
            return seat
        params = request.query_params
        filters = {"status": params.get("status") if params.get("status") in STATUSES else "",
                   "priority": params.get("priority") if params.get("priority") in PRIORITIES else "",
                   "commune": (params.get("commune") or "")[:32],
                   "q": (params.get("q") or "").strip()[:200].replace("\x00", "")}
        try:
            # Clamped: an offset past any real list shows an empty page, never an error.
            offset = min(max(0, int(params.get("offset") or 0)), OFFSET_LIMIT)
        except ValueError:
            offset = 0
        rows, total = await console.call(
            console.hub(request).services.bulletins.listing, seat.user, status=filters["status"] or None,
            priority=filters["priority"] or None, commune=filters["commune"] or None, q=filters["q"] or None,
            limit=PAGE, offset=offset)
        kept = {k: v for k, v in filters.items() if v}
        previous = f"?{urlencode({**kept, 'offset': max(0, offset - PAGE)})}" if offset > 0 else None
        following = f"?{urlencode({**kept, 'offset': offset + PAGE})}" if offset + PAGE < total else None
        names = {c["code"]: c["name"] for c in await communes(request)}
        return console.page("bulletins/list.html", seat=seat, section="bulletins", bulletins=rows, total=total,
                            filters=filters, statuses=STATUSES, priorities=PRIORITIES, communes=names,
                            offset=offset, previous=previous, following=following,
                            may_write=seat.user.role in ("admin", "editor", "operator"))

    # --- the form ----------------------------------------------------------------------------------

    def form_page(seat: Seat, all_communes: list[dict[str, Any]], values: dict[str, Any], *,
                  bulletin: dict[str, Any] | None = None, errors: list[str] | None = None, status: int = 200) -> Response:
        return console.page("bulletins/form.html", status, seat=seat, section="bulletins", values=values,
                            bulletin=bulletin, errors=errors or [], communes=all_communes,
                            priorities=PRIORITIES, channels=CHANNELS,
                            cap_categories=CAP_CATEGORIES)

    def values_of(bulletin: dict[str, Any] | None) -> dict[str, Any]:
        if bulletin is None:
            return {"title": "", "body": "", "priority": "normal", "channels": list(CHANNELS), "targets": [],
                    "valid_from": "", "valid_until": "", "voice": "", "repeat_count": "", "repeat_interval_s": "",
                    "cap_event": "", "cap_category": "", "instruction": ""}
        shown = {k: bulletin.get(k) for k in ("title", "body", "priority", "channels", "targets", "voice")}
        for name in ("voice", "cap_event", "cap_category", "instruction"):
            shown[name] = bulletin.get(name) or ""
        for name in ("valid_from", "valid_until"):
            moment = local(bulletin[name]) if bulletin.get(name) else None
            shown[name] = moment.strftime("%Y-%m-%dT%H:%M") if moment else ""
        for name in ("repeat_count", "repeat_interval_s"):
            shown[name] = "" if bulletin.get(name) is None else str(bulletin[name])
        return shown

    def parse(form: Any, known: set[str]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """(what to show again, the content fields, the errors in Vietnamese)."""
        errors: list[str] = []
        values: dict[str, Any] = {
            "title": _text(form, "title", 400), "body": (form.get("body") or "").strip() if isinstance(form.get("body"), str) else "",
            "priority": _text(form, "priority", 16), "channels": [c for c in form.getlist("channels") if isinstance(c, str)],
            "targets": [t for t in form.getlist("targets") if isinstance(t, str)],
            "valid_from": _text(form, "valid_from", 32), "valid_until": _text(form, "valid_until", 32),
            "voice": _text(form, "voice", 64), "repeat_count": _text(form, "repeat_count", 8),
            "repeat_interval_s": _text(form, "repeat_interval_s", 8),
            "cap_event": _text(form, "cap_event", 200), "cap_category": _text(form, "cap_category", 16),
            "instruction": (form.get("instruction") or "").strip() if isinstance(form.get("instruction"), str) else "",
        }
        if any("\x00" in str(v) for v in values.values()):
            errors.append(_("bulletins.error.nul"))
        if not values["title"]:
            errors.append(_("bulletins.error.title"))
        if not values["body"]:
            errors.append(_("bulletins.error.body"))
        if values["priority"] not in PRIORITIES:
            errors.append(_("bulletins.error.priority"))
        if not values["channels"] or any(c not in CHANNELS for c in values["channels"]):
            errors.append(_("bulletins.error.channels"))
        targets = list(dict.fromkeys(values["targets"]))
        if not targets:
            errors.append(_("bulletins.error.no_targets"))
        elif "*" in targets and len(targets) > 1:
            errors.append(_("bulletins.error.all_alone"))
        elif any(t != "*" and t not in known for t in targets):
            errors.append(_("bulletins.error.targets"))
        content: dict[str, Any] = {"title": values["title"], "body": values["body"], "priority": values["priority"],
                                   "channels": [c for c in CHANNELS if c in values["channels"]], "targets": targets,
                                   "voice": values["voice"] or None, "cap_event": values["cap_event"] or None,
                                   "cap_category": values["cap_category"] or None,
                                   "instruction": values["instruction"] or None}
        if content["cap_category"] is not None and content["cap_category"] not in CAP_CATEGORIES:
            errors.append(_("bulletins.error.cap_category"))
        for name in ("valid_from", "valid_until"):
            content[name] = None
            if values[name]:
                try:
                    moment = datetime.fromisoformat(values[name])
                    if not 1970 <= moment.year <= 2999:
                        raise ValueError
                    content[name] = local(moment)
                except ValueError:
                    errors.append(_("bulletins.error.when"))
        for name, low, high in (("repeat_count", 1, 50), ("repeat_interval_s", 30, 86_400)):
            content[name] = None
            if values[name]:
                try:
                    number = int(values[name])
                    if not low <= number <= high:
                        raise ValueError
                    content[name] = number
                except ValueError:
                    errors.append(_(f"bulletins.error.{name}", low=low, high=high))
        if content["valid_from"] and content["valid_until"] and content["valid_until"] <= content["valid_from"]:
            errors.append(_("bulletins.error.times"))
        return values, content, errors

    async def save(request: Request, bulletin_id: str | None) -> Response:
        seat = await console.seat(request)
        if not isinstance(seat, Seat):
            return seat
        services = console.hub(request).services
        bulletin = None
        if bulletin_id is not None:
            try:
                bulletin = await console.call(services.bulletins.get, seat.user, bulletin_id)
            except NotFound:
                return console.not_found(seat)
            if not may_edit(seat.user, bulletin):
                return console.not_found(seat) if seat.user.role == "monitor" else console.forbidden(seat)
        elif seat.user.role not in ("admin", "editor", "operator"):
            return console.not_found(seat)
        form = await console.form(request, seat)
        if form is None:
            return console.forbidden(seat)
        all_communes = await communes(request)
        values, content, errors = parse(form, {c["code"] for c in all_communes})
        if errors:
            return form_page(seat, all_communes, values, bulletin=bulletin, errors=errors, status=422)
        try:
            if bulletin is None:
                view, _created = await console.call(services.bulletins.create, seat.user,
                                                    services.bulletins.Content(**content), source="console")
            else:
                view = await console.call(services.bulletins.edit, seat.user, bulletin["id"], content)
            done = "saved"
            if form.get("action") == "submit":
                await console.call(services.bulletins.submit, seat.user, view["id"])
                done = "submit"
        except NotFound:
            return console.not_found(seat)
        except HubError as exc:
            return form_page(seat, all_communes, values, bulletin=bulletin, errors=[error_text(exc)],
                             status=STATUS_CODES.get(type(exc), 422))
        return console.redirect(f"/console/bulletins/{view['id']}?done={done}")

    @router.get("/console/bulletins/new")
    async def new_bulletin(request: Request) -> Response:
        seat = await console.seat(request)
        if not isinstance(seat, Seat):
            return seat
        if seat.user.role not in ("admin", "editor", "operator"):
            return console.not_found(seat)
        values = values_of(None)
        if seat.user.role == "operator":
            values["targets"] = [seat.user.commune]
        return form_page(seat, await communes(request), values)

    @router.post("/console/bulletins/new")
    async def create_bulletin(request: Request) -> Response:
        return await save(request, None)

    @router.get("/console/bulletins/{bulletin_id}/edit")
    async def edit_bulletin(request: Request, bulletin_id: str) -> Response:
        seat = await console.seat(request)
        if not isinstance(seat, Seat):
            return seat
        try:
            bulletin = await console.call(console.hub(request).services.bulletins.get, seat.user, bulletin_id)
        except NotFound:
            return console.not_found(seat)
        if not may_edit(seat.user, bulletin):
            return console.not_found(seat)
        return form_page(seat, await communes(request), values_of(bulletin), bulletin=bulletin)

    @router.post("/console/bulletins/{bulletin_id}/edit")
    async def save_bulletin(request: Request, bulletin_id: str) -> Response:
        return await save(request, bulletin_id)

    # --- the bulletin and its approval -------------------------------------------------------------

    async def show(request: Request, seat: Seat, bulletin_id: str, *, error: str | None = None,
                   status: int = 200, reason: str = "") -> Response:
        service = console.hub(request).services.bulletins
        try:
            bulletin = await console.call(service.get, seat.user, bulletin_id)
        except NotFound:
            return console.not_found(seat)
        artifacts = await console.call(service.artifacts, seat.user, bulletin_id)
        history = await console.call(service.history, seat.user, bulletin_id)
        approved = await console.call(service.last_approved, seat.user, bulletin_id)
        changes = None
        if approved is not None and approved["revision"] != bulletin["revision"] \
                and approved["content_hash"] != bulletin["content_hash"]:
            changes = {"revision": approved["revision"],
                       "title": diff_html(approved["title"], bulletin["title"]),
                       "body": diff_html(approved["body"], bulletin["body"])}
        names = {c["code"]: c["name"] for c in await communes(request)}
        done = request.query_params.get("done")
        allow_self = bool(getattr(console.hub(request).settings, "allow_self_approval", False))
        return console.page(
            "bulletins/show.html", status, seat=seat, section="bulletins", bulletin=bulletin,
            audio=[a for a in artifacts if str(a.get("mime", "")).startswith("audio/")],
            images=[a for a in artifacts if str(a.get("mime", "")).startswith("image/")],
            history=history, changes=changes, communes=names, error=error, reason=reason,
            done=_(f"bulletins.done.{done}") if done in DONE and error is None else None,
            actions=allowed_actions(seat.user, bulletin, allow_self), may_edit=may_edit(seat.user, bulletin),
            is_approver=seat.user.role in EDITORS)

    @router.get("/console/bulletins/{bulletin_id}")
    async def bulletin_page(request: Request, bulletin_id: str) -> Response:
        seat = await console.seat(request)
        if not isinstance(seat, Seat):
            return seat
        return await show(request, seat, bulletin_id)

    @router.post("/console/bulletins/{bulletin_id}")
    async def bulletin_action(request: Request, bulletin_id: str) -> Response:
        seat = await console.seat(request)
        if not isinstance(seat, Seat):
            return seat
        service = console.hub(request).services.bulletins
        try:
            await console.call(service.get, seat.user, bulletin_id)
        except NotFound:
            return console.not_found(seat)
        form = await console.form(request, seat)
        if form is None:
            return console.forbidden(seat)
        action = form.get("action")
        reason = _text(form, "reason", 1000).replace("\x00", "")
        if action not in ACTIONS:
            return await show(request, seat, bulletin_id, error=_("bulletins.error.action"), status=422)
        if action == "withdraw" and not reason:
            # The author and the audit log are told why a bulletin came off the air (as on the home page).
            return await show(request, seat, bulletin_id, error=_("bulletins.error.withdraw_reason"), status=422)
        expected = _text(form, "expected_hash", 64) or None
        try:
            if action == "submit":
                await console.call(service.submit, seat.user, bulletin_id)
            else:
                await console.call(getattr(service, action), seat.user, bulletin_id, reason=reason or None,
                                   expected_hash=expected if action in ("approve", "reject") else None)
        except NotFound:
            return console.not_found(seat)
        except HubError as exc:
            return await show(request, seat, bulletin_id, error=error_text(exc),
                              status=STATUS_CODES.get(type(exc), 422), reason=reason)
        return console.redirect(f"/console/bulletins/{bulletin_id}?done={action}")
