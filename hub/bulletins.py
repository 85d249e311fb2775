"""Bulletins: creation, revisions, the four-eyes workflow and what each role may see.

Every function takes an open session and the calling principal, raises domain errors, and leaves
committing to the caller, so a request either changes everything it should or nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.orm import Session

from hub.auth import EDITORS, Principal
from hub.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from hub.models import Approval, AuditEvent, Bulletin, BulletinTarget, Commune, Revision, User, utcnow
from hub.plugin_types import BulletinSnapshot
from hub.validation import well_formed_id
from hub.workflow import next_status

TITLE_MAX = 300
BODY_MAX = 20_000
CAP_EVENT_MAX = 120
INSTRUCTION_MAX = 2_000
#: The fields that make up a revision's content; the content hash covers exactly these.
CONTENT_FIELDS = ("title", "body", "priority", "channels", "targets", "valid_from", "valid_until", "voice",
                  "repeat_count", "repeat_interval_s", "recording_sha256", "cap_event", "cap_category",
                  "instruction")
#: The content fields added after the hash was first defined: hashed only when set, so a revision
#: without them keeps the hash it always had.
OPTIONAL_HASHED = ("cap_event", "cap_category", "instruction")
#: CAP 1.2's <category> values (OASIS CAP 1.2 §3.2.2).
CAP_CATEGORIES = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
                  "CBRNE", "Other")


@dataclass
class Content:
    title: str
    body: str
    priority: str
    channels: list[str]
    targets: list[str]
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    voice: str | None = None
    repeat_count: int | None = None
    repeat_interval_s: int | None = None
    recording_sha256: str | None = None
    #: CAP <event>, <category> and <instruction> of an alert made from this revision.
    cap_event: str | None = None
    cap_category: str | None = None
    instruction: str | None = None

    def hash(self) -> str:
        canonical = {
            "title": self.title,
            "body": self.body,
            "priority": self.priority,
            "channels": sorted(self.channels),
            "targets": sorted(self.targets),
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "voice": self.voice,
            "repeat_count": self.repeat_count,
            "repeat_interval_s": self.repeat_interval_s,
            "recording_sha256": self.recording_sha256,
        }
        for name in OPTIONAL_HASHED:
            if getattr(self, name) is not None:
                canonical[name] = getattr(self, name)
        blob = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    @classmethod
    def of(cls, revision: Revision) -> Content:
        return cls(**{name: getattr(revision, name) for name in CONTENT_FIELDS})


def audit(session: Session, actor: Principal | None, action: str, bulletin: Bulletin, *,
          from_status: str | None, content_hash: str | None, detail: dict[str, Any] | None = None) -> None:
    session.add(AuditEvent(
        actor=actor.id if actor else None, action=action, object_type="bulletin", object_id=bulletin.id,
        from_status=from_status, to_status=bulletin.status, revision=bulletin.revision,
        content_hash=content_hash, detail=detail,
    ))


def _check_content(session: Session, principal: Principal, content: Content) -> None:
    if len(content.body) > BODY_MAX:
        raise TooLarge(f"body is {len(content.body)} characters; the limit is {BODY_MAX}")
    if len(content.title) > TITLE_MAX:
        raise Invalid(f"title is {len(content.title)} characters; the limit is {TITLE_MAX}")
    if content.cap_event is not None and len(content.cap_event) > CAP_EVENT_MAX:
        raise Invalid(f"cap_event is {len(content.cap_event)} characters; the limit is {CAP_EVENT_MAX}")
    if content.instruction is not None and len(content.instruction) > INSTRUCTION_MAX:
        raise Invalid(f"instruction is {len(content.instruction)} characters; the limit is {INSTRUCTION_MAX}")
    if content.cap_category is not None and content.cap_category not in CAP_CATEGORIES:
        raise Invalid(f"cap_category must be one of {', '.join(CAP_CATEGORIES)}")
    if content.valid_from and content.valid_until and content.valid_until <= content.valid_from:
        raise Invalid("valid_until must be after valid_from")
    if content.targets == ["*"]:
        if principal.role == "operator":
            raise Forbidden("an operator may target only its own commune, not every commune")
        return
    if "*" in content.targets:
        raise Invalid("targets: '*' must stand alone")
    known = set(session.scalars(select(Commune.code).where(Commune.code.in_(content.targets))))
    unknown = [code for code in content.targets if code not in known]
    if unknown:
        raise Invalid(f"targets: unknown commune code(s): {', '.join(unknown)}")
    if principal.role == "operator" and set(content.targets) != {principal.commune}:
        raise Forbidden(f"an operator may target only its own commune ({principal.commune})")


def _write_revision(session: Session, bulletin: Bulletin, content: Content, principal: Principal) -> str:
    digest = content.hash()
    session.add(Revision(
        bulletin_id=bulletin.id, revision=bulletin.revision, content_hash=digest, created_by=principal.id,
        **{name: getattr(content, name) for name in CONTENT_FIELDS},
    ))
    session.query(BulletinTarget).filter_by(bulletin_id=bulletin.id).delete()
    session.add_all(BulletinTarget(bulletin_id=bulletin.id, commune=code) for code in set(content.targets))
    return digest


def create(session: Session, principal: Principal, content: Content, *, source: str = "api",
           source_ref: str | None = None) -> tuple[Bulletin, bool]:
    """A new draft, or the existing bulletin for the same source and source_ref (created=False)."""
    principal.require("admin", "editor", "operator")
    if source_ref is not None:
        existing = session.scalar(select(Bulletin).where(Bulletin.source == source, Bulletin.source_ref == source_ref))
        if existing is not None:
            return visible(session, principal, existing.id), False
    _check_content(session, principal, content)
    bulletin = Bulletin(status="draft", revision=1, author_id=principal.id, source=source, source_ref=source_ref)
    session.add(bulletin)
    session.flush()
    digest = _write_revision(session, bulletin, content, principal)
    audit(session, principal, "create", bulletin, from_status=None, content_hash=digest)
    return bulletin, True


def visible(session: Session, principal: Principal, bulletin_id: str) -> Bulletin:
    """The bulletin if this principal may see it; NotFound otherwise (never reveals it exists)."""
    bulletin = session.get(Bulletin, bulletin_id) if well_formed_id(bulletin_id) else None
    if bulletin is None or not _may_see(session, principal, bulletin):
        raise NotFound("bulletin not found")
    return bulletin


def _may_see(session: Session, principal: Principal, bulletin: Bulletin) -> bool:
    if principal.is_device:
        return False
    if principal.role != "operator" or bulletin.author_id == principal.id:
        return True
    targets = set(session.scalars(select(BulletinTarget.commune).where(BulletinTarget.bulletin_id == bulletin.id)))
    return bool(targets & {"*", principal.commune})


def may_approve(principal: Principal | None) -> bool:
    """Whether this principal is of a role that decides on bulletins (and so hears them first)."""
    return principal is not None and principal.role in EDITORS


def _may_change(principal: Principal, bulletin: Bulletin) -> None:
    if principal.role in EDITORS or bulletin.author_id == principal.id:
        return
    raise Forbidden("only the author or an editor may change this bulletin")


def current_revision(session: Session, bulletin: Bulletin) -> Revision:
    return session.scalars(select(Revision).where(
        Revision.bulletin_id == bulletin.id, Revision.revision == bulletin.revision)).one()


def edit(session: Session, principal: Principal, bulletin_id: str, changes: dict[str, Any]) -> Bulletin:
    """Apply changes as a new revision, back in draft; an edit that changes nothing is a no-op."""
    bulletin = visible(session, principal, bulletin_id)
    principal.require("admin", "editor", "operator")
    _may_change(principal, bulletin)
    revision = current_revision(session, bulletin)
    content = Content.of(revision)
    for name, value in changes.items():
        setattr(content, name, value)
    # Checked before the no-op test so that a withdrawn bulletin refuses every edit alike (409).
    new_status = next_status(bulletin.status, "edit")
    if content.hash() == revision.content_hash:
        return bulletin
    _check_content(session, principal, content)
    before = bulletin.status
    bulletin.status = new_status
    bulletin.revision += 1
    bulletin.approved_revision = None
    digest = _write_revision(session, bulletin, content, principal)
    audit(session, principal, "edit", bulletin, from_status=before, content_hash=digest,
          detail={"fields": sorted(changes)})
    return bulletin


def transition(session: Session, principal: Principal, bulletin_id: str, action: str, *,
               reason: str | None = None, expected_hash: str | None = None,
               allow_self_approval: bool = False) -> Bulletin:
    """submit, approve, reject or withdraw, enforcing roles and the four-eyes rule."""
    bulletin = visible(session, principal, bulletin_id)
    revision = current_revision(session, bulletin)
    if action in ("approve", "reject"):
        principal.require(*EDITORS)
    elif action == "submit":
        principal.require("admin", "editor", "operator")
        _may_change(principal, bulletin)
    elif action == "withdraw":
        principal.require("admin", "editor", "operator")
        _may_change(principal, bulletin)
    new_status = next_status(bulletin.status, action)
    if expected_hash is not None and expected_hash != revision.content_hash:
        raise Conflict("the bulletin changed since you read it: content_hash does not match the current revision")
    if action == "approve" and not allow_self_approval:
        # Four eyes: whoever wrote the bulletin or its current revision cannot approve it.
        if principal.id in (bulletin.author_id, revision.created_by):
            raise Forbidden("the author of a bulletin cannot approve it; a second editor must")
    before = bulletin.status
    bulletin.status = new_status
    now = utcnow()
    if action in ("approve", "reject"):
        session.add(Approval(bulletin_id=bulletin.id, revision=bulletin.revision, content_hash=revision.content_hash,
                             decision=action, reason=reason, decided_by=principal.id, decided_at=now))
    if action == "approve":
        bulletin.approved_revision = bulletin.revision
        bulletin.approved_at = now
        bulletin.approved_by = principal.id
    audit(session, principal, action, bulletin, from_status=before, content_hash=revision.content_hash,
          detail={"reason": reason} if reason else None)
    return bulletin


def listing(session: Session, principal: Principal, *, status: str | None, commune: str | None,
            priority: str | None, limit: int, offset: int, q: str | None = None) -> tuple[list[Bulletin], int]:
    if principal.is_device:
        raise Forbidden("devices read their manifest, not the bulletin list")
    query = select(Bulletin)
    if status:
        query = query.where(Bulletin.status == status)
    if priority or q:
        query = query.join(Revision, (Revision.bulletin_id == Bulletin.id) & (Revision.revision == Bulletin.revision))
    if priority:
        query = query.where(Revision.priority == priority)
    if q:
        # Text search in the current revision's title and body (case-insensitive for ASCII;
        # Vietnamese letters match as typed).
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Revision.title.ilike(pattern, escape="\\"),
                                Revision.body.ilike(pattern, escape="\\")))
    if commune:
        query = query.where(Bulletin.id.in_(select(BulletinTarget.bulletin_id).where(
            BulletinTarget.commune.in_([commune, "*"]))))
    if principal.role == "operator":
        query = query.where(or_(Bulletin.author_id == principal.id, Bulletin.id.in_(
            select(BulletinTarget.bulletin_id).where(BulletinTarget.commune.in_([principal.commune, "*"])))))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(Bulletin.created_at.desc(), Bulletin.id).limit(limit).offset(offset)).all()
    return list(rows), int(total or 0)


def snapshot(session: Session, bulletin: Bulletin, revision_number: int | None = None) -> BulletinSnapshot:
    """The frozen view of one revision that renderers and hooks receive."""
    number = revision_number or bulletin.revision
    revision = session.scalars(select(Revision).where(
        Revision.bulletin_id == bulletin.id, Revision.revision == number)).one()
    return BulletinSnapshot(
        id=bulletin.id, revision=number, content_hash=revision.content_hash, title=revision.title,
        body=revision.body, priority=revision.priority, channels=tuple(revision.channels),
        targets=tuple(revision.targets), valid_from=revision.valid_from, valid_until=revision.valid_until,
        approved_at=bulletin.approved_at, voice=revision.voice, recording_sha256=revision.recording_sha256,
    )


def author_names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def views(session: Session, bulletins: list[Bulletin]) -> list[dict[str, Any]]:
    """``view`` (without artifacts) of a page of bulletins in three queries, whatever the page's
    length: their current revisions, their render jobs and their authors' names."""
    from hub.pipeline import render_statuses

    if not bulletins:
        return []
    revisions = {(r.bulletin_id, r.revision): r for r in session.scalars(select(Revision).where(
        tuple_(Revision.bulletin_id, Revision.revision).in_([(b.id, b.revision) for b in bulletins])))}
    statuses = render_statuses(session, bulletins)
    names = author_names(session, {b.author_id for b in bulletins})
    return [view(session, b, with_artifacts=False, _loaded=(revisions[(b.id, b.revision)], statuses[b.id], names))
            for b in bulletins]


def view(session: Session, bulletin: Bulletin, *, with_artifacts: bool = True,
         viewer: Principal | None = None, _loaded: tuple | None = None) -> dict[str, Any]:
    """The bulletin as every door shows it (CONTRACT §Bulletins); the artifacts of a revision not
    yet approved are listed only when ``viewer`` may approve it. (``_loaded`` is what ``views``
    fetched for a whole page: the revision, the render status and the authors' names.)"""
    from hub.pipeline import render_status, shown_artifacts

    if _loaded is None:
        revision = current_revision(session, bulletin)
        status, error = render_status(session, bulletin)
        names = author_names(session, {bulletin.author_id})
    else:
        revision, (status, error), names = _loaded
    shown: dict[str, Any] = {
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
        "cap_event": revision.cap_event,
        "cap_category": revision.cap_category,
        "instruction": revision.instruction,
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
    if revision.recording_check is not None:
        # CONTRACT §Checking recordings by ear: what the speech checker heard in the recording.
        shown["recording_check"] = revision.recording_check
    if with_artifacts:
        shown["artifacts"] = shown_artifacts(session, bulletin, may_see_unpublished=may_approve(viewer))
    return shown
