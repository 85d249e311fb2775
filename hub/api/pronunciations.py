"""/api/v1/pronunciations: the province's pronunciation dictionary (issue 16), the same operations
as the console's page: any user may read it, an administrator changes it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import CurrentUser, HubDep
from hub.validation import NoNul

router = APIRouter(prefix="/api/v1", tags=["pronunciations"])


class PronunciationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: As the bulletins write it ("Khau Phạ", "BQLDA"); matched as a whole token, case-sensitively.
    written: NoNul = Field(min_length=1, max_length=80)
    #: What the voices should read instead ("Khau Phả", "Ban quản lý dự án").
    spoken: NoNul = Field(min_length=1, max_length=200)
    note: NoNul | None = Field(default=None, max_length=200)


@router.get("/pronunciations")
def list_pronunciations(user: CurrentUser, hub: HubDep) -> list[dict[str, Any]]:
    return hub.services.pronunciations.list(user)


@router.post("/pronunciations", status_code=201)
def add_pronunciation(payload: PronunciationIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    """Add an entry (admin); the next render reads it. 409 if the written form is there already."""
    return hub.services.pronunciations.put(user, payload.written, payload.spoken, payload.note)


@router.put("/pronunciations/{entry_id}")
def change_pronunciation(entry_id: str, payload: PronunciationIn, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    return hub.services.pronunciations.put(user, payload.written, payload.spoken, payload.note, entry_id=entry_id)


@router.delete("/pronunciations/{entry_id}", status_code=204)
def remove_pronunciation(entry_id: str, user: CurrentUser, hub: HubDep) -> Response:
    hub.services.pronunciations.delete(user, entry_id)
    return Response(status_code=204)
