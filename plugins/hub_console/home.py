"""``/console``: what the signed-in person must do now.

- approvers (admin, editor): bulletins waiting for approval, emergencies first, each with a quick
  "Phê duyệt" button when the viewer did not write it (four eyes: the service decides);
- whoever writes (admin, editor, operator): their own drafts and their rejected bulletins with
  the reason given;
- everyone: emergencies on air now, with a withdraw button for who may withdraw them.

``GET /console/home/tasks`` answers the same task lists as an HTML fragment (same include), which
static/live.js fetches every few seconds to keep the page current; without script the page is
whole as it is. The buttons post to ``/console/home/approve`` and ``/console/home/withdraw``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from hub.plugin_api import EDITORS, Conflict, Forbidden, HubError, Invalid, NotFound, utcnow

from . import security
from .formatting import _moment
from .pages import Console, Seat

WRITERS = ("admin", "editor", "operator")


def on_air(bulletin: dict[str, Any], now) -> bool:
    """Whether an approved bulletin is valid at ``now``."""
    start, end = _moment(bulletin.get("valid_from")), _moment(bulletin.get("valid_until"))
    return (start is None or start <= now) and (end is None or end > now)


def register(router: APIRouter, console: Console) -> None:
    _ = console._

    async def tasks(request: Request, seat: Seat) -> dict[str, Any]:
        """The task lists of this person, as the template's values."""
        service = console.hub(request).services.bulletins
        user = seat.user
        values: dict[str, Any] = {"pending": [], "drafts": [], "rejected": [], "on_air": [], "reasons": {}}
        if user.role in EDITORS:
            rows, _total = await console.call(service.listing, user, status="pending", limit=100)
            rows.sort(key=lambda b: b["priority"] != "emergency")  # stable: newest first within each
            values["pending"] = rows
        if user.role in WRITERS:
            drafts, _total = await console.call(service.listing, user, status="draft", limit=100)
            values["drafts"] = [b for b in drafts if b["author"] == user.id]
            rejected, _total = await console.call(service.listing, user, status="rejected", limit=100)
            values["rejected"] = [b for b in rejected if b["author"] == user.id]
            if values["rejected"]:
                values["reasons"] = await console.call(service.rejection_reasons, user,
                                                       [b["id"] for b in values["rejected"]])
        approved, _total = await console.call(service.listing, user, status="approved", priority="emergency",
                                              limit=100)
        now = utcnow()
        values["on_air"] = [b for b in approved if on_air(b, now)]
        return values

    async def home_page(request: Request, seat: Seat, *, status: int = 200, error: str | None = None,
                        done: str | None = None) -> Response:
        user = seat.user
        commune = None
        if user.commune:
            found = await console.call(console.hub(request).services.directory.commune, user.commune)
            commune = found["name"] if found else user.commune
        return console.page("home.html", status, seat=seat, section="home", commune=commune, error=error,
                            done=done, **await tasks(request, seat))

    def error_text(exc: HubError) -> str:
        detail = exc.detail.lower()
        if isinstance(exc, NotFound):
            return _("tasks.error.not_found")
        if "content_hash" in detail:
            return _("tasks.error.changed")
        if isinstance(exc, Conflict):
            return _("tasks.error.state")
        if "author" in detail and "approve" in detail:
            return _("tasks.error.own")
        if isinstance(exc, Forbidden):
            return _("tasks.error.forbidden")
        return _("tasks.error.generic", detail=exc.detail)

    @router.get("/console")
    async def home(request: Request) -> Response:
        seat = await console.seat(request)
        if not isinstance(seat, Seat):
            return seat
        key = request.query_params.get("done")
        done = _(f"tasks.done.{key}") if key in ("approved", "withdrawn") else None
        return await home_page(request, seat, done=done)

    @router.get("/console/home/tasks")
    async def task_fragment(request: Request) -> Response:
        token, user = await console.signed_in(request)
        if token is None or user is None:
            return security.protect(Response(status_code=401))
        seat = Seat(token, user, security.session_csrf(token))
        html = console.env.get_template("home_tasks.html").render(
            user=user, csrf_token=seat.csrf_token, **await tasks(request, seat))
        return security.protect(HTMLResponse(html))

    async def act(request: Request, action: str) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        seat, form = posted
        bulletin_id = form.get("bulletin_id")
        if not isinstance(bulletin_id, str) or not bulletin_id:
            return await home_page(request, seat, status=422, error=_("tasks.error.not_found"))
        service = console.hub(request).services.bulletins
        try:
            if action == "approve":
                expected = form.get("expected_hash")
                if not isinstance(expected, str) or not expected:
                    raise Invalid("content_hash missing")
                await console.call(service.approve, seat.user, bulletin_id, expected_hash=expected)
            else:
                reason = form.get("reason")
                reason = reason.strip() if isinstance(reason, str) else ""
                if not reason:
                    return await home_page(request, seat, status=422, error=_("tasks.error.reason"))
                await console.call(service.withdraw, seat.user, bulletin_id, reason=reason[:2000])
        except NotFound as exc:
            return await home_page(request, seat, status=404, error=error_text(exc))
        except HubError as exc:
            return await home_page(request, seat, status=409 if isinstance(exc, Conflict) else 422,
                                   error=error_text(exc))
        return console.redirect("/console?done=" + ("approved" if action == "approve" else "withdrawn"))

    @router.post("/console/home/approve")
    async def approve(request: Request) -> Response:
        return await act(request, "approve")

    @router.post("/console/home/withdraw")
    async def withdraw(request: Request) -> Response:
        return await act(request, "withdraw")
