"""``/console/live``: "Phát trực tiếp", speaking live to the loudspeakers, and the broadcast log.

The page lists the communes this user may speak to (an operator: its own), a title and the
priority; its script (static/live-broadcast.js) asks for the microphone (getUserMedia), opens the
broadcast through the API (``POST /api/v1/live`` with the session's CSRF token), sends
MediaRecorder's webm/opus chunks to the ingest WebSocket, shows a level meter, and stops it
(``POST /api/v1/live/{id}/stop``). A broadcast of this officer's still going when the page is
loaded (a reload, another device) is taken back at once (``POST /api/v1/live/{id}/resume``: a new
ingest key). Below: the broadcast log (``LiveService.list``): who spoke,
when, for how long, to which communes, how it ended, the archive to play back (the department,
and an operator the broadcasts to its commune: the log lists only those; /media checks it again)
and the devices' play reports.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from .pages import Console, Seat

SPEAKERS = ("admin", "editor", "operator")


def register(router: APIRouter, console: Console) -> None:
    @router.get("/console/live")
    async def live_page(request: Request) -> Response:
        seat = await console.seat(request)
        if not isinstance(seat, Seat):
            return seat
        if seat.user.role not in SPEAKERS:
            return console.not_found(seat)
        services = console.hub(request).services
        communes = await console.call(services.directory.communes)
        user = seat.user
        if user.role == "operator":
            communes = [c for c in communes if c["code"] == user.commune]
        log: list[dict[str, Any]] = await console.call(services.live.list, user)
        names = {c["code"]: c["name"] for c in communes}
        # This officer's broadcast still going (the page was reloaded, or opened on another device):
        # the script takes the microphone back at once (LiveService.resume).
        going = next((b for b in log if b["status"] != "ended" and b["author_id"] == user.id), None)
        return console.page("broadcast.html", seat=seat, section="live", communes=communes, log=log, names=names,
                            going=going,
                            whole_province=user.role != "operator", hears_archive=user.role in SPEAKERS,
                            configured=bool(console.hub(request).settings.icecast_url))
