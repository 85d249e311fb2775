"""``/console``: what the signed-in person must do now."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from .pages import Console, Seat


def register(router: APIRouter, console: Console) -> None:
    @router.get("/console")
    async def home(request: Request) -> Response:
        seat = await console.seat(request)
        if not isinstance(seat, Seat):
            return seat
        user = seat.user
        commune = None
        if user.commune:
            found = await console.call(console.hub(request).services.directory.commune, user.commune)
            commune = found["name"] if found else user.commune
        return console.page("home.html", seat=seat, commune=commune)
