"""Console page: the province's pronunciation dictionary (issue 16), for administrators.

``/console/pronunciations`` lists the entries (written form → what the voices read) with a
"Nghe thử" button on each that speaks the written form through the hub's own chain (the
dictionary applied, as the next render will), and a form to add one whose button speaks the
spoken form as typed; ``/console/pronunciations/{id}`` changes or removes one. Every action
calls ``hub.services.pronunciations``; the next render uses the change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from hub.plugin_api import Conflict, Invalid, NotFound

from .pages import Console, Seat

DONE = ("added", "saved", "deleted")


def _text(form: Any, name: str, limit: int) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def register(router: APIRouter, console: Console) -> None:
    _ = console._

    async def admin(request: Request) -> Seat | Response:
        seat = await console.seat(request)
        if isinstance(seat, Seat) and seat.user.role != "admin":
            return console.not_found(seat)
        return seat

    def error_text(exc: Exception) -> str:
        detail = getattr(exc, "detail", str(exc))
        if isinstance(exc, Conflict):
            return _("pronunciations.error.exists")
        for needle, key in (("blank", "blank"), ("too long", "long"), ("contain a letter", "letter"),
                            ("itself in the dictionary", "chain"), ("holds this written form", "chain"),
                            ("read twice", "twice")):
            if needle in detail:
                return _(f"pronunciations.error.{key}")
        return _("pronunciations.error.generic", detail=detail)

    async def listing(request: Request, seat: Seat, *, values: dict[str, str] | None = None,
                      error: str | None = None, status: int = 200) -> Response:
        entries = await console.call(console.hub(request).services.pronunciations.list, seat.user)
        key = request.query_params.get("done")
        return console.page("admin/pronunciations.html", status, seat=seat, section="pronunciations",
                            entries=entries, values=values or {}, error=error,
                            done=_(f"pronunciations.done.{key}") if key in DONE else None)

    @router.get("/console/pronunciations")
    async def index(request: Request) -> Response:
        seat = await admin(request)
        return await listing(request, seat) if isinstance(seat, Seat) else seat

    @router.post("/console/pronunciations")
    async def add(request: Request) -> Response:
        seat = await admin(request)
        if not isinstance(seat, Seat):
            return seat
        form = await console.form(request, seat)
        if form is None:
            return console.forbidden(seat)
        values = {k: _text(form, k, 400) for k in ("written", "spoken", "note")}
        try:
            await console.call(console.hub(request).services.pronunciations.put, seat.user, values["written"],
                               values["spoken"], values["note"] or None)
        except (Invalid, Conflict) as exc:
            return await listing(request, seat, values=values, error=error_text(exc), status=422)
        return console.redirect("/console/pronunciations?done=added")

    async def entry_page(request: Request, seat: Seat, entry: dict[str, Any], *, values: dict[str, str] | None = None,
                         error: str | None = None, status: int = 200) -> Response:
        return console.page("admin/pronunciation.html", status, seat=seat, section="pronunciations", entry=entry,
                            values=values or {k: entry[k] or "" for k in ("written", "spoken", "note")}, error=error)

    async def found(request: Request, entry_id: str) -> dict[str, Any] | None:
        try:
            return await console.call(console.hub(request).services.pronunciations.get, entry_id)
        except NotFound:
            return None

    @router.get("/console/pronunciations/{entry_id}")
    async def show(request: Request, entry_id: str) -> Response:
        seat = await admin(request)
        if not isinstance(seat, Seat):
            return seat
        entry = await found(request, entry_id)
        return await entry_page(request, seat, entry) if entry else console.not_found(seat)

    @router.post("/console/pronunciations/{entry_id}")
    async def save(request: Request, entry_id: str) -> Response:
        seat = await admin(request)
        if not isinstance(seat, Seat):
            return seat
        entry = await found(request, entry_id)
        if entry is None:
            return console.not_found(seat)
        form = await console.form(request, seat)
        if form is None:
            return console.forbidden(seat)
        values = {k: _text(form, k, 400) for k in ("written", "spoken", "note")}
        try:
            await console.call(console.hub(request).services.pronunciations.put, seat.user, values["written"],
                               values["spoken"], values["note"] or None, entry_id=entry_id)
        except (Invalid, Conflict) as exc:
            return await entry_page(request, seat, entry, values=values, error=error_text(exc), status=422)
        return console.redirect("/console/pronunciations?done=saved")

    @router.post("/console/pronunciations/{entry_id}/delete")
    async def delete(request: Request, entry_id: str) -> Response:
        seat = await admin(request)
        if not isinstance(seat, Seat):
            return seat
        if await found(request, entry_id) is None:
            return console.not_found(seat)
        if await console.form(request, seat) is None:
            return console.forbidden(seat)
        await console.call(console.hub(request).services.pronunciations.delete, seat.user, entry_id)
        return console.redirect("/console/pronunciations?done=deleted")
