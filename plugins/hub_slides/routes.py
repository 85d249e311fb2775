"""HTTP route of the slides plugin: the first slide of a text, drawn as the board will show it.

The console's bulletin form asks for it while the author types; it is the renderer's own layout
and drawing (``plan_slides`` → ``draw`` → ``to_png``), with the bulletin not yet approved (no
approval date, no communes) and the QR code pointing at the hub's public site.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hub.plugin_api import CurrentUser, HubDep, Invalid, refuse_nul

#: The most text a preview draws; a bulletin's first slide never needs more.
PREVIEW_MAX_TITLE = 300
PREVIEW_MAX_BODY = 20_000


class SlidePreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(default="", max_length=PREVIEW_MAX_TITLE)
    body: str = Field(default="", max_length=PREVIEW_MAX_BODY)
    priority: Literal["normal", "priority", "emergency"] = "normal"
    orientation: Literal["landscape", "portrait"] = "landscape"


def build_router() -> APIRouter:
    router = APIRouter(tags=["slides"])

    @router.post("/api/v1/slides/preview.png", response_class=Response,
                 responses={200: {"content": {"image/png": {}}}})
    async def preview_png(payload: SlidePreviewIn, hub: HubDep, _user: CurrentUser) -> Response:
        """The first slide of this title and body; the header X-Slide-Pages says how many there would be."""
        refuse_nul("title", payload.title)
        refuse_nul("body", payload.body)
        if not (payload.title.strip() or payload.body.strip()):
            raise Invalid("title or body must have some text")
        from hub_slides import preview_slide

        try:
            data, pages = await run_in_threadpool(
                preview_slide, hub.settings, title=payload.title, body=payload.body,
                priority=payload.priority, orientation=payload.orientation,
            )
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        return Response(data, media_type="image/png",
                        headers={"Cache-Control": "no-store", "X-Slide-Pages": str(pages)})

    return router
