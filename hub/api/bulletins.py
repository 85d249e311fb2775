"""/api/v1/bulletins: create, list, read, edit and move bulletins through the workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub import bulletins as domain
from hub.api.deps import CurrentUser, HubDep
from hub.clock import local
from hub.errors import Invalid
from hub.plugin_types import CHANNELS, PRIORITIES
from hub.validation import OFFSET_MAX, NoNul
from hub.workflow import STATUSES

router = APIRouter(prefix="/api/v1/bulletins", tags=["bulletins"])

Priority = Literal[PRIORITIES]
Channel = Literal[CHANNELS]
CapCategory = Literal[domain.CAP_CATEGORIES]
# Lengths are checked by the service (with 413 for an over-long body), not here, so that the
# limits and their messages live in one place.
Code = Annotated[NoNul, Field(min_length=1, max_length=32)]
YEARS = (1970, 2999)


class ContentFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("channels", "targets", check_fields=False)
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("must not repeat an entry")
        return value

    @field_validator("title", "cap_event", "instruction", check_fields=False)
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("valid_from", "valid_until", check_fields=False)
    @classmethod
    def _tz(cls, value: datetime | None) -> datetime | None:
        # Times without an offset are Asia/Ho_Chi_Minh wall-clock time (DESIGN rule 7).
        value = value if value is None or value.tzinfo is not None else local(value)
        # Far-off years overflow when converted to UTC for the store (a 500), and mean nothing here.
        if value is not None and not YEARS[0] <= value.year <= YEARS[1]:
            raise ValueError(f"must be between the years {YEARS[0]} and {YEARS[1]}")
        return value


class BulletinIn(ContentFields):
    title: NoNul = Field(min_length=1)
    body: NoNul
    priority: Priority = "normal"
    channels: list[Channel] = Field(default_factory=lambda: ["speaker", "display", "web"], min_length=1)
    targets: list[Code] = Field(min_length=1, max_length=2000)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    voice: NoNul | None = Field(default=None, max_length=64)
    #: How often an emergency airs (or a priority bulletin opens a programme), and how far apart.
    repeat_count: int | None = Field(default=None, ge=1, le=50)
    repeat_interval_s: int | None = Field(default=None, ge=30, le=86_400)
    #: CAP <event> (what happened, e.g. "Lũ quét"), <category> and <instruction> of its alert.
    cap_event: NoNul | None = Field(default=None, min_length=1)
    cap_category: CapCategory | None = None
    instruction: NoNul | None = Field(default=None, min_length=1)
    source: NoNul = Field(default="api", min_length=1, max_length=64)
    source_ref: NoNul | None = Field(default=None, min_length=1, max_length=500)


class BulletinPatch(ContentFields):
    title: NoNul | None = Field(default=None, min_length=1)
    body: NoNul | None = None
    priority: Priority | None = None
    channels: list[Channel] | None = Field(default=None, min_length=1)
    targets: list[Code] | None = Field(default=None, min_length=1, max_length=2000)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    voice: NoNul | None = Field(default=None, max_length=64)
    #: How often an emergency airs (or a priority bulletin opens a programme), and how far apart.
    repeat_count: int | None = Field(default=None, ge=1, le=50)
    repeat_interval_s: int | None = Field(default=None, ge=30, le=86_400)
    #: CAP <event> (what happened, e.g. "Lũ quét"), <category> and <instruction> of its alert.
    cap_event: NoNul | None = Field(default=None, min_length=1)
    cap_category: CapCategory | None = None
    instruction: NoNul | None = Field(default=None, min_length=1)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: NoNul | None = Field(default=None, max_length=2000)
    #: Optional: the content hash the decider read; a mismatch means someone edited it meanwhile (409).
    content_hash: NoNul | None = Field(default=None, max_length=64)


@router.post("", status_code=201)
def create_bulletin(payload: BulletinIn, user: CurrentUser, hub: HubDep, response: Response) -> dict[str, Any]:
    content = domain.Content(**payload.model_dump(include=set(domain.CONTENT_FIELDS)))
    view, created = hub.services.bulletins.create(user, content, source=payload.source, source_ref=payload.source_ref)
    if not created:
        response.status_code = 200
    return view


@router.get("")
def list_bulletins(
    user: CurrentUser, hub: HubDep, response: Response,
    status: Annotated[Literal[STATUSES] | None, Query()] = None,
    commune: Annotated[NoNul | None, Query(max_length=32)] = None,
    priority: Annotated[Priority | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    # Bounded: a 64-bit integer would overflow SQLite and answer 500 (issue 14).
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    q: Annotated[NoNul | None, Query(max_length=200)] = None,
) -> list[dict[str, Any]]:
    rows, total = hub.services.bulletins.listing(user, status=status, commune=commune, priority=priority,
                                                 limit=limit, offset=offset, q=q or None)
    response.headers["X-Total-Count"] = str(total)
    return rows


@router.get("/{bulletin_id}")
def get_bulletin(bulletin_id: str, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    return hub.services.bulletins.get(user, bulletin_id)


@router.get("/{bulletin_id}/artifacts")
def get_artifacts(bulletin_id: str, user: CurrentUser, hub: HubDep) -> list[dict[str, Any]]:
    return hub.services.bulletins.artifacts(user, bulletin_id)


@router.patch("/{bulletin_id}")
def edit_bulletin(bulletin_id: str, payload: BulletinPatch, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    changes = payload.model_dump(exclude_unset=True)
    for name in ("title", "body", "priority", "channels", "targets"):
        if name in changes and changes[name] is None:
            raise Invalid(f"{name} cannot be null")
    return hub.services.bulletins.edit(user, bulletin_id, changes)


@router.post("/{bulletin_id}/submit")
def submit(bulletin_id: str, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    return hub.services.bulletins.submit(user, bulletin_id)


@router.post("/{bulletin_id}/approve")
def approve(bulletin_id: str, user: CurrentUser, hub: HubDep, decision: Decision | None = None) -> dict[str, Any]:
    decision = decision or Decision()
    return hub.services.bulletins.approve(user, bulletin_id, reason=decision.reason,
                                          expected_hash=decision.content_hash)


@router.post("/{bulletin_id}/reject")
def reject(bulletin_id: str, user: CurrentUser, hub: HubDep, decision: Decision | None = None) -> dict[str, Any]:
    decision = decision or Decision()
    return hub.services.bulletins.reject(user, bulletin_id, reason=decision.reason,
                                         expected_hash=decision.content_hash)


@router.post("/{bulletin_id}/withdraw")
def withdraw(bulletin_id: str, user: CurrentUser, hub: HubDep, decision: Decision | None = None) -> dict[str, Any]:
    decision = decision or Decision()
    return hub.services.bulletins.withdraw(user, bulletin_id, reason=decision.reason,
                                           expected_hash=decision.content_hash)
