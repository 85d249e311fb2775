"""/api/v1/bulletins: create, list, read, edit and move bulletins through the workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from hub import bulletins as service
from hub.api.deps import CurrentUser, HubDep, ReadDB
from hub.config import LOCAL_TZ
from hub.errors import Invalid
from hub.models import Bulletin
from hub.pipeline import artifact_view, artifacts_of, enqueue, render_status
from hub.workflow import PRIORITIES, STATUSES

router = APIRouter(prefix="/api/v1/bulletins", tags=["bulletins"])

Priority = Literal["normal", "priority", "emergency"]
Channel = Literal["speaker", "display", "web"]
# Lengths are checked by the service (with 413 for an over-long body), not here, so that the
# limits and their messages live in one place.
Code = Annotated[str, Field(min_length=1, max_length=32)]
YEARS = (1970, 2999)


def _local(value: datetime | None) -> datetime | None:
    """Times without an offset are Asia/Ho_Chi_Minh wall-clock time (DESIGN rule 7)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=ZoneInfo(LOCAL_TZ))
    return value


def _refuse_nul(value: str | list[str] | None) -> str | list[str] | None:
    # PostgreSQL refuses NUL in text; refuse it here so both stores answer 422, not 500.
    values = value if isinstance(value, list) else [value]
    if any(v is not None and "\x00" in v for v in values):
        raise ValueError("must not contain NUL characters")
    return value


class ContentFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("channels", "targets", check_fields=False)
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("must not repeat an entry")
        return value

    @field_validator("title", check_fields=False)
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("valid_from", "valid_until", check_fields=False)
    @classmethod
    def _tz(cls, value: datetime | None) -> datetime | None:
        value = _local(value)
        # Far-off years overflow when converted to UTC for the store (a 500), and mean nothing here.
        if value is not None and not YEARS[0] <= value.year <= YEARS[1]:
            raise ValueError(f"must be between the years {YEARS[0]} and {YEARS[1]}")
        return value

    @field_validator("title", "body", "voice", "targets", "source", "source_ref", check_fields=False)
    @classmethod
    def _no_nul(cls, value: str | list[str] | None) -> str | list[str] | None:
        return _refuse_nul(value)


class BulletinIn(ContentFields):
    title: str = Field(min_length=1)
    body: str
    priority: Priority = "normal"
    channels: list[Channel] = Field(default_factory=lambda: ["speaker", "display", "web"], min_length=1)
    targets: list[Code] = Field(min_length=1, max_length=2000)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    voice: str | None = Field(default=None, max_length=64)
    #: How often an emergency airs (or a priority bulletin opens a programme), and how far apart.
    repeat_count: int | None = Field(default=None, ge=1, le=50)
    repeat_interval_s: int | None = Field(default=None, ge=30, le=86_400)
    source: str = Field(default="api", min_length=1, max_length=64)
    source_ref: str | None = Field(default=None, min_length=1, max_length=500)


class BulletinPatch(ContentFields):
    title: str | None = Field(default=None, min_length=1)
    body: str | None = None
    priority: Priority | None = None
    channels: list[Channel] | None = Field(default=None, min_length=1)
    targets: list[Code] | None = Field(default=None, min_length=1, max_length=2000)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    voice: str | None = Field(default=None, max_length=64)
    #: How often an emergency airs (or a priority bulletin opens a programme), and how far apart.
    repeat_count: int | None = Field(default=None, ge=1, le=50)
    repeat_interval_s: int | None = Field(default=None, ge=30, le=86_400)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000)
    #: Optional: the content hash the decider read; a mismatch means someone edited it meanwhile (409).
    content_hash: str | None = Field(default=None, max_length=64)

    @field_validator("reason", "content_hash")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        return _refuse_nul(value)


def bulletin_view(session: Session, bulletin: Bulletin, *, with_artifacts: bool = True) -> dict[str, Any]:
    revision = service.current_revision(session, bulletin)
    status, error = render_status(session, bulletin)
    names = service.author_names(session, {bulletin.author_id})
    view: dict[str, Any] = {
        "id": bulletin.id,
        "status": bulletin.status,
        "revision": bulletin.revision,
        "content_hash": revision.content_hash,
        "author": bulletin.author_id,
        "author_name": names.get(bulletin.author_id),
        "title": revision.title,
        "body": revision.body,
        "priority": revision.priority,
        "channels": revision.channels,
        "targets": revision.targets,
        "valid_from": revision.valid_from,
        "valid_until": revision.valid_until,
        "voice": revision.voice,
        "repeat_count": revision.repeat_count,
        "repeat_interval_s": revision.repeat_interval_s,
        "source": bulletin.source,
        "source_ref": bulletin.source_ref,
        "created_at": bulletin.created_at,
        "updated_at": bulletin.updated_at,
        "approved_revision": bulletin.approved_revision,
        "approved_at": bulletin.approved_at,
        "recording_sha256": revision.recording_sha256,
        "render_status": status,
        "error": error,
    }
    if with_artifacts:
        view["artifacts"] = [artifact_view(a) for a in artifacts_of(session, bulletin)]
    return view


@router.post("", status_code=201)
def create_bulletin(payload: BulletinIn, user: CurrentUser, hub: HubDep, response: Response) -> dict[str, Any]:
    content = service.Content(**payload.model_dump(include=set(service.CONTENT_FIELDS)))
    with hub.store.session() as session:
        bulletin, created = service.create(session, user, content, source=payload.source,
                                           source_ref=payload.source_ref)
        session.flush()
        view = bulletin_view(session, bulletin)
    if not created:
        response.status_code = 200
    return view


@router.get("")
def list_bulletins(
    session: ReadDB, user: CurrentUser, response: Response,
    status: Annotated[str | None, Query()] = None,
    commune: Annotated[str | None, Query(max_length=32)] = None,
    priority: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}")
    if priority is not None and priority not in PRIORITIES:
        raise Invalid(f"priority must be one of {', '.join(PRIORITIES)}")
    if commune is not None and "\x00" in commune:
        raise Invalid("commune must not contain NUL characters")
    rows, total = service.listing(session, user, status=status, commune=commune, priority=priority,
                                  limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(total)
    return [bulletin_view(session, b, with_artifacts=False) for b in rows]


@router.get("/{bulletin_id}")
def get_bulletin(bulletin_id: str, session: ReadDB, user: CurrentUser) -> dict[str, Any]:
    return bulletin_view(session, service.visible(session, user, bulletin_id))


@router.get("/{bulletin_id}/artifacts")
def get_artifacts(bulletin_id: str, session: ReadDB, user: CurrentUser) -> list[dict[str, Any]]:
    bulletin = service.visible(session, user, bulletin_id)
    return [artifact_view(a) for a in artifacts_of(session, bulletin)]


@router.patch("/{bulletin_id}")
def edit_bulletin(bulletin_id: str, payload: BulletinPatch, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    changes = payload.model_dump(exclude_unset=True)
    for name in ("title", "body", "priority", "channels", "targets"):
        if name in changes and changes[name] is None:
            raise Invalid(f"{name} cannot be null")
    with hub.store.session() as session:
        bulletin = service.edit(session, user, bulletin_id, changes)
        session.flush()
        return bulletin_view(session, bulletin)


def _transition(hub: HubDep, user: CurrentUser, bulletin_id: str, action: str,
                decision: Decision | None = None) -> dict[str, Any]:
    decision = decision or Decision()
    with hub.store.session() as session:
        bulletin = service.transition(
            session, user, bulletin_id, action, reason=decision.reason, expected_hash=decision.content_hash,
            allow_self_approval=hub.settings.allow_self_approval)
        approved = None
        if action == "approve":
            approved = service.snapshot(session, bulletin)
            enqueue(session, bulletin, hub.pipeline.renderers, list(approved.channels), approved.priority)
        session.flush()
        view = bulletin_view(session, bulletin)
    if approved is not None:
        hub.pipeline.wake()
        hub.notify("hub_on_bulletin_approved", bulletin=approved)
    return view


@router.post("/{bulletin_id}/submit")
def submit(bulletin_id: str, user: CurrentUser, hub: HubDep) -> dict[str, Any]:
    return _transition(hub, user, bulletin_id, "submit")


@router.post("/{bulletin_id}/approve")
def approve(bulletin_id: str, user: CurrentUser, hub: HubDep, decision: Decision | None = None) -> dict[str, Any]:
    return _transition(hub, user, bulletin_id, "approve", decision)


@router.post("/{bulletin_id}/reject")
def reject(bulletin_id: str, user: CurrentUser, hub: HubDep, decision: Decision | None = None) -> dict[str, Any]:
    return _transition(hub, user, bulletin_id, "reject", decision)


@router.post("/{bulletin_id}/withdraw")
def withdraw(bulletin_id: str, user: CurrentUser, hub: HubDep, decision: Decision | None = None) -> dict[str, Any]:
    return _transition(hub, user, bulletin_id, "withdraw", decision)
