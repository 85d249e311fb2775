"""``/console/account``: one's own password and open sessions (every signed-in user).

Changing the password ends the user's other sessions and keeps this one (whoever changes it has
just proved they know the old one, here): a session left open elsewhere, or a stolen cookie, stops
working at once, and nobody has to sign in again on the phone they are holding.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from hub.plugin_api import Invalid, Throttled, Unauthenticated, WrongPassword

from .pages import Console, Seat

DONE = ("password", "ended")


def register(router: APIRouter, console: Console) -> None:
    _ = console._

    async def account_page(request: Request, seat: Seat, *, error: str | None = None, status: int = 200,
                           headers: dict[str, str] | None = None) -> Response:
        sessions = await console.call(console.hub(request).services.sessions.live_sessions, seat.token)
        commune = None
        if seat.user.commune:
            found = await console.call(console.hub(request).services.directory.commune, seat.user.commune)
            commune = found["name"] if found else seat.user.commune
        key = request.query_params.get("done")
        return console.page("account.html", status, headers, seat=seat, section="account", sessions=sessions,
                            commune=commune, error=error, done=_(f"account.done.{key}") if key in DONE else None)

    @router.get("/console/account")
    async def account(request: Request) -> Response:
        seat = await console.seat(request)
        if not isinstance(seat, Seat):
            return seat
        return await account_page(request, seat)

    @router.post("/console/account/password")
    async def change_password(request: Request) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        seat, form = posted
        current, new, again = (form.get(n) if isinstance(form.get(n), str) else ""
                               for n in ("current_password", "password", "password_again"))
        if new != again:
            return await account_page(request, seat, error=_("account.error.mismatch"), status=422)
        try:
            await console.call(console.hub(request).services.sessions.change_password, seat.token, current, new,
                               limits=console.limits)
        except Throttled as exc:
            minutes = max(1, -(-exc.retry_after // 60))
            return await account_page(request, seat, error=_("login.throttled", minutes=minutes), status=429,
                                      headers={"Retry-After": str(exc.retry_after)})
        except Unauthenticated:
            return console.redirect("/login")
        except WrongPassword:
            return await account_page(request, seat, status=422, error=_("account.error.current"))
        except Invalid:
            return await account_page(request, seat, status=422, error=_("account.error.length"))
        return console.redirect("/console/account?done=password")

    @router.post("/console/account/sessions")
    async def end_sessions(request: Request) -> Response:
        posted = await console.posted(request)
        if isinstance(posted, Response):
            return posted
        seat, form = posted
        handle = form.get("session")
        handle = handle if isinstance(handle, str) and 0 < len(handle) <= 64 else None
        await console.call(console.hub(request).services.sessions.end_own_sessions, seat.token, handle)
        return console.redirect("/console/account?done=ended")
