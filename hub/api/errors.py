"""Domain errors to HTTP, in one place: every error is JSON with a ``detail`` field."""

from __future__ import annotations

import errno
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.errors import HubError

log = logging.getLogger(__name__)

#: What a full disk looks like from SQLite and PostgreSQL, whose errors carry no errno.
_FULL = ("database or disk is full", "no space left on device", "disk quota exceeded")


def disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is the disk or the database being full."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        # PostgreSQL's disk_full (psycopg's DiskFull): its message is in the server's language.
        if getattr(exc, "sqlstate", None) == "53100":
            return True
        if any(words in str(exc).lower() for words in _FULL):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def install(app: FastAPI, io_errors: tuple[type[BaseException], ...] = (OSError,)) -> None:
    """``io_errors``: the exception types a full disk shows up as (the app adds the store's)."""
    @app.exception_handler(HubError)
    async def _hub_error(_request: Request, exc: HubError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        if getattr(exc, "retry_after", None):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse({**exc.fields, "detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    async def _io_error(request: Request, exc: Exception) -> JSONResponse:
        if disk_full(exc):
            # Nothing was saved (the transaction rolled back, the file was not renamed into place);
            # the hub recovers by itself when space returns.
            log.error("disk full on %s %s: %s", request.method, request.url.path, exc)
            return JSONResponse({"detail": "the hub's disk is full: nothing was saved; try again when an "
                                           "administrator has freed space"}, status_code=507)
        return await _unexpected(request, exc)

    # Handled here rather than as any Exception, so the answer is not also re-raised to the server.
    for kind in io_errors:
        app.add_exception_handler(kind, _io_error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
