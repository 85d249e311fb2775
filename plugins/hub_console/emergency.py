"""``/console/emergency``: "Phát khẩn cấp", an emergency bulletin in one confirmed form.

The form posts the API's field names (``targets`` one per commune checked, ``*`` for the whole
province, ``title``, ``body``) and a ``confirm`` checkbox; sending creates the bulletin through
``hub.services.bulletins.create`` (priority emergency, channels speaker, display and web, valid
from now) and submits it at once (its audio renders while it waits for the second pair of eyes),
then goes to its page. Bad input: the form again, 422, nothing created.

The second button (``action=record``, "Thu âm thay vì gõ chữ") is for an officer who would rather
speak than type: the same checks (communes, title, confirmation), but the bulletin is created as a
DRAFT, without submitting, and the browser goes to its page (``?recording=1``), where the recorder
(``_recorder.html``) attaches the officer's voice and the "Gửi duyệt" button submits it. The body
may then be left empty: the title stands in for it (the recording is what airs; the service's own
rules are unchanged).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from hub.plugin_api import Forbidden, HubError, Invalid, utcnow

from .pages import Console, Seat

WRITERS = ("admin", "editor", "operator")
CHANNELS = ["speaker", "display", "web"]


def register(router: APIRouter, console: Console) -> None:
    _ = console._

    async def writer_seat(request: Request) -> Seat | Response:
        seat = await console.seat(request)
        if isinstance(seat, Seat) and seat.user.role not in WRITERS:
            return console.not_found(seat)
        return seat

    async def form_page(request: Request, seat: Seat, *, status: int = 200, errors: list[str] | None = None,
                        values: dict[str, Any] | None = None) -> Response:
        communes = await console.call(console.hub(request).services.directory.communes)
        user = seat.user
        if user.role == "operator":
            communes = [c for c in communes if c["code"] == user.commune]
        chosen = (values or {}).get("targets") or ([user.commune] if user.role == "operator" and user.commune else [])
        return console.page("emergency.html", status, seat=seat, section="emergency", communes=communes,
                            errors=errors or [], values=values or {}, chosen=chosen,
                            whole_province=user.role != "operator")

    def error_text(exc: HubError) -> str:
        detail = exc.detail.lower()
        for needle, key in (("operator may target", "operator"), ("unknown commune", "commune"),
                            ("must stand alone", "star"), ("title is", "title_long"), ("body is", "body_long")):
            if needle in detail:
                return _(f"emergency.error.{key}")
        if isinstance(exc, Forbidden):
            return _("emergency.error.forbidden")
        return _("emergency.error.generic", detail=exc.detail)

    @router.get("/console/emergency")
    async def emergency_form(request: Request) -> Response:
        seat = await writer_seat(request)
        if not isinstance(seat, Seat):
            return seat
        return await form_page(request, seat)

    @router.post("/console/emergency")
    async def emergency_send(request: Request) -> Response:
        seat = await writer_seat(request)
        if not isinstance(seat, Seat):
            return seat
        form = await console.form(request, seat)
        if form is None:
            return console.forbidden(seat)
        title = form.get("title")
        body = form.get("body")
        title = title.strip() if isinstance(title, str) else ""
        body = body.strip() if isinstance(body, str) else ""
        targets = [t for t in form.getlist("targets") if isinstance(t, str) and t]
        if "*" in targets:
            targets = ["*"]
        recording = form.get("action") == "record"
        values = {"title": title, "body": body, "targets": targets}
        errors = []
        if not targets:
            errors.append(_("emergency.error.targets"))
        if not title:
            errors.append(_("emergency.error.title"))
        if not body and not recording:
            errors.append(_("emergency.error.body"))
        if form.get("confirm") != "yes":
            errors.append(_("emergency.error.confirm"))
        if errors:
            return await form_page(request, seat, status=422, errors=errors, values=values)
        service = console.hub(request).services.bulletins
        content = service.Content(title=title, body=body or title, priority="emergency", channels=list(CHANNELS),
                                  targets=targets, valid_from=utcnow())
        try:
            if recording:
                created = await console.call(draft, service, seat, content)
            else:
                created = await console.call(send, service, seat, content)
        except (Invalid, Forbidden, HubError) as exc:
            return await form_page(request, seat, status=422, errors=[error_text(exc)], values=values)
        if recording:
            return console.redirect(f"/console/bulletins/{created['id']}?recording=1")
        # Said plainly on the page it lands on: sent for approval is not on the air yet.
        return console.redirect(f"/console/bulletins/{created['id']}?done=emergency")

    def draft(service: Any, seat: Seat, content: Any) -> dict[str, Any]:
        """Create only: the officer records the voice on the bulletin's page, then submits it."""
        view, _created = service.create(seat.user, content, source="console")
        return view

    def send(service: Any, seat: Seat, content: Any) -> dict[str, Any]:
        """Create and submit in one transaction: either both happen or nothing is left behind."""
        with service.transaction() as t:
            view, _created = service.create(seat.user, content, source="console", tx=t)
            return service.submit(seat.user, view["id"], tx=t)
