"""What the public may see: approved, current, currently valid, web-channel bulletins.

Every public view (feeds, the bulletin page, CAP) reads through this module, so the rule
"only approved content reaches a feed" lives in one query.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, or_, select
from sqlalchemy.orm import Session

from hub.models import Approval, Artifact, Bulletin, BulletinTarget, Commune, Job, Revision
from hub.validation import well_formed_id

#: Bulletin ids and commune codes are at most this long (their columns' width).
ID_LENGTH = 32


@dataclass(frozen=True)
class Media:
    """A published file and the declared fields of its artifact (``RenderedMedia.declared()``).

    Only the declared fields are read: the rest of an artifact's meta is its plugin's own.
    """

    sha256: str
    bytes: int
    mime: str
    #: Playing time in seconds (a slide's time on screen); None when absent or not a number.
    duration_s: float | None = None
    #: "landscape" or "portrait" for slides; None: any board.
    orientation: str | None = None
    page: int | None = None
    pages: int | None = None

    def url(self, public_url: str) -> str:
        return f"{public_url.rstrip('/')}/media/{self.sha256}"


@dataclass(frozen=True)
class Slide:
    """One page of the slide set, with its portrait twin when the renderer made both sets."""

    image: Media
    portrait: Media | None
    page: int
    pages: int


@dataclass(frozen=True)
class PublicBulletin:
    id: str
    revision: int
    content_hash: str
    title: str
    body: str
    priority: str
    targets: tuple[str, ...]
    #: (code, name) of every commune it reaches; "*" expanded to every commune.
    communes: tuple[tuple[str, str], ...]
    approved_at: datetime
    valid_from: datetime | None
    valid_until: datetime | None
    audio: Media | None
    slides: tuple[Slide, ...]
    #: A render of the approved revision is still queued or running: its artifacts are not all there.
    rendering: bool = False
    cap_event: str | None = None
    cap_category: str | None = None
    instruction: str | None = None
    #: The outlines of the communes it reaches (GeoJSON Polygon/MultiPolygon geometries, from
    #: ``hub communes import-geojson``), for communes that have one; none for "every commune".
    boundaries: tuple[dict[str, Any], ...] = ()

    @property
    def everywhere(self) -> bool:
        return "*" in self.targets


def _visible(now: datetime):
    """Bulletins whose approved revision is current, valid now, and published on the web."""
    return (
        select(Bulletin, Revision)
        .join(Revision, (Revision.bulletin_id == Bulletin.id) & (Revision.revision == Bulletin.revision))
        .where(
            Bulletin.status == "approved",
            Bulletin.approved_revision == Bulletin.revision,
            Bulletin.approved_at.is_not(None),
            or_(Revision.valid_from.is_(None), Revision.valid_from <= now),
            or_(Revision.valid_until.is_(None), Revision.valid_until > now),
            # Channels are a JSON list of fixed words, so its text form contains '"web"' exactly
            # when the list does; this keeps the filter (and the LIMIT) in SQL on every backend.
            cast(Revision.channels, String).like('%"web"%'),
        )
    )


def published(session: Session, *, now: datetime, commune: str | None = None, priority: str | None = None,
              limit: int = 50) -> list[PublicBulletin]:
    """Newest first by approval time; ``commune`` keeps those targeting it or every commune."""
    query = _visible(now)
    if commune is not None:
        query = query.where(Bulletin.id.in_(
            select(BulletinTarget.bulletin_id).where(BulletinTarget.commune.in_([commune, "*"]))))
    if priority is not None:
        query = query.where(Revision.priority == priority)
    rows = session.execute(query.order_by(Bulletin.approved_at.desc(), Bulletin.id).limit(limit)).all()
    return _assemble(session, rows)


def published_one(session: Session, bulletin_id: str, *, now: datetime) -> PublicBulletin | None:
    if not well_formed_id(bulletin_id, ID_LENGTH):
        return None
    rows = session.execute(_visible(now).where(Bulletin.id == bulletin_id)).all()
    found = _assemble(session, rows)
    return found[0] if found else None


def commune_name(session: Session, code: str) -> str | None:
    """The name of the commune with this code, or None when there is none."""
    if not well_formed_id(code, ID_LENGTH):
        return None
    commune = session.get(Commune, code)
    return commune.name if commune else None


def previous_approval(session: Session, bulletin_id: str, revision: int) -> tuple[int, datetime] | None:
    """The last approval of an earlier revision, which a CAP update refers to."""
    row = session.execute(
        select(Approval.revision, Approval.decided_at)
        .where(Approval.bulletin_id == bulletin_id, Approval.decision == "approve", Approval.revision < revision)
        .order_by(Approval.revision.desc(), Approval.decided_at.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def _assemble(session: Session, rows: list[Any]) -> list[PublicBulletin]:
    rows = [(bulletin, revision) for bulletin, revision in rows if "web" in (revision.channels or [])]
    if not rows:
        return []
    names = dict(session.execute(select(Commune.code, Commune.name).order_by(Commune.code)).all())
    outlined = {code for _bulletin, revision in rows if "*" not in revision.targets for code in revision.targets}
    # A JSON null and SQL NULL both mean "no outline": filtered here, not in SQL.
    boundaries = {code: shape for code, shape in session.execute(
        select(Commune.code, Commune.boundary).where(Commune.code.in_(outlined))) if shape} if outlined else {}
    wanted = {bulletin.id: bulletin.approved_revision for bulletin, _ in rows}
    by_bulletin: dict[str, list[Artifact]] = defaultdict(list)
    for artifact in session.scalars(select(Artifact).where(Artifact.bulletin_id.in_(wanted)).order_by(
            Artifact.renderer, Artifact.position, Artifact.id)):
        if artifact.revision == wanted[artifact.bulletin_id]:
            by_bulletin[artifact.bulletin_id].append(artifact)
    rendering = set(session.scalars(select(Job.bulletin_id).where(
        Job.bulletin_id.in_(wanted), Job.status.in_(("queued", "running")))
        .where(or_(*((Job.bulletin_id == bid) & (Job.revision == number) for bid, number in wanted.items())))))
    result = []
    for bulletin, revision in rows:
        targets = tuple(revision.targets)
        codes = sorted(names) if "*" in targets else [code for code in targets if code in names]
        artifacts = by_bulletin[bulletin.id]
        result.append(PublicBulletin(
            id=bulletin.id, revision=revision.revision, content_hash=revision.content_hash,
            title=revision.title, body=revision.body, priority=revision.priority, targets=targets,
            communes=tuple((code, names[code]) for code in codes), approved_at=bulletin.approved_at,
            valid_from=revision.valid_from, valid_until=revision.valid_until,
            audio=_audio(artifacts), slides=_slides(artifacts), rendering=bulletin.id in rendering,
            cap_event=revision.cap_event, cap_category=revision.cap_category, instruction=revision.instruction,
            boundaries=() if "*" in targets else tuple(boundaries[code] for code in codes if code in boundaries),
        ))
    return result


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _media(artifact: Artifact) -> Media:
    # The pipeline stores the declared fields in meta under their own names.
    meta = artifact.meta or {}
    orientation = meta.get("orientation")
    return Media(sha256=artifact.sha256, bytes=artifact.bytes, mime=artifact.mime,
                 duration_s=_number(meta.get("duration_s")),
                 orientation=orientation if isinstance(orientation, str) else None,
                 page=_whole(meta.get("page")), pages=_whole(meta.get("pages")))


def _audio(artifacts: list[Artifact]) -> Media | None:
    # One enclosure per entry (RSS allows no more): the first MP3, in renderer order.
    for artifact in artifacts:
        if artifact.kind == "audio" and artifact.mime == "audio/mpeg":
            return _media(artifact)
    return None


def _slides(artifacts: list[Artifact]) -> tuple[Slide, ...]:
    pngs = [_media(a) for a in artifacts if a.kind == "slide" and a.mime == "image/png"]
    landscape = [m for m in pngs if m.orientation != "portrait"]
    portrait = [m for m in pngs if m.orientation == "portrait"]
    main = landscape or portrait
    # Pair portrait pages with landscape ones only when both sets have the same pages.
    twins = portrait if landscape and len(portrait) == len(landscape) else [None] * len(main)
    return tuple(
        Slide(image=a, portrait=b, page=index + 1, pages=len(main))
        for index, (a, b) in enumerate(zip(main, twins))
    )
