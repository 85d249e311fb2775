"""What every console page module shares: templates, the signed-in person, CSRF-checked forms.

A page module (home.py, bulletins.py, admin.py, …) has one ``register(router, console)`` that
adds its routes; each route asks :meth:`Console.seat` who is signed in (or gets the answer that
sends them to sign in), reads a form with :meth:`Console.form` (CSRF checked), calls a service of
the core through :meth:`Console.call` (a worker thread: services do blocking I/O) and answers with
:meth:`Console.page` or :meth:`Console.redirect`. No page module reaches the store itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from hub.plugin_api import Hub, Principal

from . import formatting, security
from .messages import translator
from .settings import ConsoleSettings

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Seat:
    """Who is signed in on this request: their session token, who they are, their forms' CSRF token."""

    token: str
    user: Principal
    csrf_token: str


class Console:
    def __init__(self, settings: Any, console: ConsoleSettings) -> None:
        self.settings = settings
        self.options = console
        self._ = translator(console.language)
        self.limits = console.limits()
        self.proxies = console.proxies()
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.globals["_"] = self._
        formatting.install(self.env)

    # --- answers ----------------------------------------------------------------------------------

    @staticmethod
    def hub(request: Request) -> Hub:
        return request.app.state.hub

    def page(self, template: str, status: int = 200, headers: dict[str, str] | None = None,
             seat: Seat | None = None, **values: Any) -> Response:
        """A page from its template over the base layout, with the security headers."""
        if seat is not None:
            values.setdefault("user", seat.user)
            values.setdefault("csrf_token", seat.csrf_token)
        html = self.env.get_template(template).render(province=self.settings.province, **values)
        return security.protect(HTMLResponse(html, status_code=status, headers=headers))

    def redirect(self, to: str) -> Response:
        """303 See Other: after a form, the browser asks for the page with GET."""
        return security.protect(RedirectResponse(to, status_code=303))

    def forbidden(self, seat: Seat | None = None) -> Response:
        """A form without its CSRF token, or with a wrong one: 403, nothing changed."""
        return self.page("error.html", 403, seat=seat, title=self._("error.csrf.title"),
                         message=self._("error.csrf.body"), user=seat.user if seat else None)

    def not_found(self, seat: Seat | None = None) -> Response:
        """What a page someone may not see answers: the same as one that does not exist."""
        return self.page("error.html", 404, seat=seat, title=self._("error.not_found.title"),
                         message=self._("error.not_found.body"), user=seat.user if seat else None)

    # --- who is asking ----------------------------------------------------------------------------

    async def signed_in(self, request: Request) -> tuple[str | None, Principal | None]:
        token = request.cookies.get(security.SESSION_COOKIE)
        if not token:
            return None, None
        return token, await run_in_threadpool(self.hub(request).services.sessions.principal, token,
                                              limits=self.limits)

    async def seat(self, request: Request) -> Seat | Response:
        """The signed-in person, or the redirect that sends a browser to sign in (and back here)."""
        token, user = await self.signed_in(request)
        if token is None or user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return self.redirect("/login" if target == "/console" else f"/login?next={quote(target, safe='')}")
        return Seat(token, user, security.session_csrf(token))

    async def posted(self, request: Request) -> tuple[Seat, FormData] | Response:
        """Who posted and their form, CSRF checked; or the answer to give instead (sign in, 403)."""
        seat = await self.seat(request)
        if not isinstance(seat, Seat):
            return seat
        form = await self.form(request, seat)
        return (seat, form) if form is not None else self.forbidden(seat)

    async def form(self, request: Request, seat: Seat) -> FormData | None:
        """The posted form if its ``csrf_token`` is this session's, else None (answer forbidden)."""
        form = await request.form()
        return form if security.same(seat.csrf_token, form.get("csrf_token")) else None

    @staticmethod
    async def call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a (blocking) service call in a worker thread."""
        return await run_in_threadpool(function, *args, **kwargs)
