"""The console's routes: ``/`` and sign-in and sign-out here, its stylesheet and fonts; the pages
in one module each (home.py, bulletins.py, emergency.py, admin.py, account.py, monitor.py), all over pages.py's ``Console``.

Every page is rendered on the server from one template per page over one base layout, autoescaped;
every answer carries the security headers of security.py. Routes parse, call a service of the core
(``hub.services.*``) and shape the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from hub.plugin_api import Throttled, Unauthenticated

from . import account, admin, broadcast, bulletins, emergency, home, monitor, playlists, pronunciations, security
from .pages import Console, Seat
from .settings import ConsoleSettings

HERE = Path(__file__).parent
FONTS = ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf")
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}
STATIC["admin.js"] = "text/javascript"  # the administration pages' copy buttons
STATIC.update({"live.js": "text/javascript", "recorder.js": "text/javascript"})  # pages kept current (home, monitor), recorder
STATIC["bulletin-form.js"] = "text/javascript"  # the bulletin form: what the loudspeaker will say
STATIC["monitor.css"] = "text/css"  # monitoring pages: charts
STATIC["playlist-form.js"] = "text/javascript"  # the playlist form: the bulletin list narrows as one types
STATIC["live-broadcast.js"] = "text/javascript"  # "Phát trực tiếp": the microphone to the ingest, the level meter
STATIC["pronunciations.js"] = "text/javascript"  # the pronunciation dictionary's "Nghe thử" buttons
STATIC["hear.js"] = "text/javascript"  # "Nghe thử" for the bulletin form and the dictionary: the hub's voice on a text


def safe_next(target: object) -> str:
    """Where to go after signing in: a path of this console only, never another site."""
    if not isinstance(target, str) or not target.startswith("/console") or target.startswith("//"):
        return "/console"
    parts = urlsplit(target)
    return "/console" if parts.scheme or parts.netloc or "\\" in target else target


def make_router(settings: Any, options: ConsoleSettings) -> APIRouter:
    router = APIRouter(tags=["console"], include_in_schema=False)
    console = Console(settings, options)
    _ = console._

    def login_page(request: Request, *, error: str | None = None, username: str = "", status: int = 200,
                   headers: dict[str, str] | None = None, next_path: str = "/console") -> Response:
        secret = request.cookies.get(security.LOGIN_COOKIE)
        fresh = not secret or len(secret) > 100
        if fresh:
            secret = security.new_login_secret()
        response = console.page("login.html", status, headers, user=None, error=error, username=username,
                                csrf_token=security.login_csrf(secret), next_path=next_path)
        if fresh:
            security.set_cookie(response, request, security.LOGIN_COOKIE, secret, path="/login",
                                trusted_proxies=console.proxies)
        return response

    @router.get("/")
    def root() -> Response:
        return console.redirect("/console")

    @router.get("/login")
    async def login_form(request: Request) -> Response:
        _token, user = await console.signed_in(request)
        next_path = safe_next(request.query_params.get("next"))
        if user is not None:
            return console.redirect(next_path)
        return login_page(request, next_path=next_path)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        secret = request.cookies.get(security.LOGIN_COOKIE)
        if not secret or not security.same(security.login_csrf(secret), form.get("csrf_token")):
            return console.forbidden()
        username = form.get("username")
        password = form.get("password")
        username = username if isinstance(username, str) else ""
        password = password if isinstance(password, str) else ""
        next_path = safe_next(form.get("next"))
        client = request.client.host if request.client else None
        try:
            token, _user = await console.call(
                console.hub(request).services.sessions.sign_in, username, password, ip=client,
                user_agent=request.headers.get("user-agent"), limits=console.limits)
        except Throttled as exc:
            minutes = max(1, -(-exc.retry_after // 60))
            return login_page(request, error=_("login.throttled", minutes=minutes), username=username[:200],
                              status=429, headers={"Retry-After": str(exc.retry_after)}, next_path=next_path)
        except Unauthenticated:
            return login_page(request, error=_("login.failed"), username=username[:200], next_path=next_path)
        response = console.redirect(next_path)
        security.set_cookie(response, request, security.SESSION_COOKIE, token, trusted_proxies=console.proxies)
        security.clear_cookie(response, request, security.LOGIN_COOKIE, path="/login",
                              trusted_proxies=console.proxies)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        form = await request.form()
        token = request.cookies.get(security.SESSION_COOKIE)
        if not token or not security.same(security.session_csrf(token), form.get("csrf_token")):
            return console.forbidden()
        await console.call(console.hub(request).services.sessions.sign_out, token)
        response = console.redirect("/login")
        security.clear_cookie(response, request, security.SESSION_COOKIE, trusted_proxies=console.proxies)
        return response

    @router.get("/console/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC or not (HERE / "static" / name).is_file():
            return security.protect(Response(status_code=404))
        return security.protect(FileResponse(HERE / "static" / name, media_type=STATIC[name],
                                             headers={"Cache-Control": "public, max-age=3600"}))

    @router.get("/console/static/fonts/{name}")
    def font(name: str) -> Response:
        path = options.font_dir / name
        if name not in FONTS or not path.is_file():
            return security.protect(Response(status_code=404))
        return security.protect(FileResponse(path, media_type="font/ttf",
                                             headers={"Cache-Control": "public, max-age=86400"}))

    for module in (home, bulletins, emergency, broadcast, admin, account, monitor, playlists, pronunciations):
        module.register(router, console)

    # Last: any other /console address, and a GET of an address that only takes a form, is the
    # Vietnamese "not found" page, never the API's JSON. (A plugin adding /console pages must be
    # registered before this one, or use a prefix of its own.)
    @router.api_route("/console/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
    async def unknown(request: Request, rest: str) -> Response:
        if rest.startswith("static/"):
            return security.protect(Response(status_code=404))  # a file, not a page: no sign-in asked
        seat = await console.seat(request)
        return console.not_found(seat) if isinstance(seat, Seat) else seat

    return router
