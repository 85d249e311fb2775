"""Cookies, CSRF tokens and the headers every console answer carries.

CSRF tokens are HMACs, so the server stores nothing for them:

- the sign-in form's token is ``HMAC(login cookie, "login")``: the cookie is random, ``HttpOnly``
  and set by ``GET /login``, so a page on another site can neither read it nor forge the token;
- a signed-in form's token is ``HMAC(session token, "console")``: tied to the session, and the
  store (which keeps only the session token's sha256) cannot produce it either.

Both are compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from hub.plugin_api import session_csrf as core_session_csrf

SESSION_COOKIE = "hub_session"
LOGIN_COOKIE = "hub_login"

#: Only the hub's own files: scripts from /console/static (never inline: no 'unsafe-inline'),
#: audio from /media and the recorder's blob:, requests back to the hub only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def protect(response: Response) -> Response:
    """Put the console's security headers on an answer."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _mac(key: str, purpose: str) -> str:
    return hmac.new(key.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def new_login_secret() -> str:
    return secrets.token_urlsafe(32)


def login_csrf(secret: str) -> str:
    return _mac(secret, "login")


def session_csrf(session_token: str) -> str:
    # The core's, so that the API accepts a console page's script with the same token.
    return core_session_csrf(session_token)


def same(expected: str | None, given: object) -> bool:
    """A constant-time comparison that is false for anything missing or not a string."""
    if not expected or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def is_https(request: Request, trusted_proxies: set[str]) -> bool:
    """Whether the browser reached us over HTTPS: directly, or through a proxy we trust."""
    if request.url.scheme == "https":
        return True
    client = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https" and client in trusted_proxies


def set_cookie(response: Response, request: Request, name: str, value: str, *, path: str = "/",
               trusted_proxies: set[str]) -> None:
    response.set_cookie(name, value, path=path, httponly=True, samesite="lax",
                        secure=is_https(request, trusted_proxies))


def clear_cookie(response: Response, request: Request, name: str, *, path: str = "/",
                 trusted_proxies: set[str]) -> None:
    response.delete_cookie(name, path=path, httponly=True, samesite="lax",
                           secure=is_https(request, trusted_proxies))
