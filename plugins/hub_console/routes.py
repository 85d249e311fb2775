"""The console's routes: ``/`` and ``/console``, sign-in and sign-out, its stylesheet and fonts.

Every page is rendered on the server from one template per page over one base layout, autoescaped;
every answer carries the security headers of security.py. Routes parse, call a service
(``hub.services.sessions``, ``hub.services.directory``) and shape the answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from hub.plugin_api import Hub, Principal, Throttled, Unauthenticated

from . import security
from .messages import translator
from .settings import ConsoleSettings

HERE = Path(__file__).parent
FONTS = ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf")


def environment(language: str) -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["_"] = translator(language)
    return env


def make_router(settings: Any, console: ConsoleSettings) -> APIRouter:
    router = APIRouter(tags=["console"], include_in_schema=False)
    env = environment(console.language)
    _ = translator(console.language)
    limits = console.limits()
    proxies = console.proxies()

    def hub_of(request: Request) -> Hub:
        return request.app.state.hub

    def page(template: str, status: int = 200, headers: dict[str, str] | None = None, **values: Any) -> Response:
        html = env.get_template(template).render(province=settings.province, **values)
        return security.protect(HTMLResponse(html, status_code=status, headers=headers))

    def redirect(to: str) -> Response:
        return security.protect(RedirectResponse(to, status_code=303))

    def forbidden() -> Response:
        return page("error.html", 403, title=_("error.csrf.title"), message=_("error.csrf.body"), user=None)

    async def signed_in(request: Request) -> tuple[str | None, Principal | None]:
        token = request.cookies.get(security.SESSION_COOKIE)
        if not token:
            return None, None
        return token, await run_in_threadpool(hub_of(request).services.sessions.principal, token, limits=limits)

    def login_page(request: Request, *, error: str | None = None, username: str = "", status: int = 200,
                   headers: dict[str, str] | None = None) -> Response:
        secret = request.cookies.get(security.LOGIN_COOKIE)
        fresh = not secret or len(secret) > 100
        if fresh:
            secret = security.new_login_secret()
        response = page("login.html", status, headers, user=None, error=error, username=username,
                        csrf_token=security.login_csrf(secret))
        if fresh:
            security.set_cookie(response, request, security.LOGIN_COOKIE, secret, path="/login",
                                trusted_proxies=proxies)
        return response

    @router.get("/")
    def root() -> Response:
        return redirect("/console")

    @router.get("/console")
    async def home(request: Request) -> Response:
        token, user = await signed_in(request)
        if user is None:
            return redirect("/login")
        commune = None
        if user.commune:
            found = await run_in_threadpool(hub_of(request).services.directory.commune, user.commune)
            commune = found["name"] if found else user.commune
        return page("home.html", user=user, commune=commune, csrf_token=security.session_csrf(token))

    @router.get("/login")
    async def login_form(request: Request) -> Response:
        _token, user = await signed_in(request)
        if user is not None:
            return redirect("/console")
        return login_page(request)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        secret = request.cookies.get(security.LOGIN_COOKIE)
        if not secret or not security.same(security.login_csrf(secret), form.get("csrf_token")):
            return forbidden()
        username = form.get("username")
        password = form.get("password")
        username = username if isinstance(username, str) else ""
        password = password if isinstance(password, str) else ""
        client = request.client.host if request.client else None
        try:
            token, _user = await run_in_threadpool(
                hub_of(request).services.sessions.sign_in, username, password, ip=client,
                user_agent=request.headers.get("user-agent"), limits=limits)
        except Throttled as exc:
            minutes = max(1, -(-exc.retry_after // 60))
            return login_page(request, error=_("login.throttled", minutes=minutes), username=username[:200],
                              status=429, headers={"Retry-After": str(exc.retry_after)})
        except Unauthenticated:
            return login_page(request, error=_("login.failed"), username=username[:200])
        response = redirect("/console")
        security.set_cookie(response, request, security.SESSION_COOKIE, token, trusted_proxies=proxies)
        security.clear_cookie(response, request, security.LOGIN_COOKIE, path="/login", trusted_proxies=proxies)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        form = await request.form()
        token = request.cookies.get(security.SESSION_COOKIE)
        if not token or not security.same(security.session_csrf(token), form.get("csrf_token")):
            return forbidden()
        await run_in_threadpool(hub_of(request).services.sessions.sign_out, token)
        response = redirect("/login")
        security.clear_cookie(response, request, security.SESSION_COOKIE, trusted_proxies=proxies)
        return response

    @router.get("/console/static/console.css")
    def stylesheet() -> Response:
        return security.protect(FileResponse(HERE / "static" / "console.css", media_type="text/css",
                                             headers={"Cache-Control": "public, max-age=3600"}))

    @router.get("/console/static/fonts/{name}")
    def font(name: str) -> Response:
        path = console.font_dir / name
        if name not in FONTS or not path.is_file():
            return security.protect(Response(status_code=404))
        return security.protect(FileResponse(path, media_type="font/ttf",
                                             headers={"Cache-Control": "public, max-age=86400"}))

    return router
