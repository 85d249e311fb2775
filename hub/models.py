"""The store's tables (SQLAlchemy 2 declarative). Alembic migrations create them; see hub/migrations."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    and_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from hub.clock import utcnow  # re-exported: column defaults use it




def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Commune(Base):
    __tablename__ = "communes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    voice: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The commune's outline as a GeoJSON Polygon or MultiPolygon geometry (``hub communes
    #: import-geojson``); CAP alerts for the commune carry it as <polygon>s.
    boundary: Mapped[dict[str, Any] | None] = mapped_column()


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    commune: Mapped[str | None] = mapped_column(ForeignKey("communes.code"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: argon2id hash (PHC string) of the console password; None: this user cannot sign in.
    password_hash: Mapped[str | None] = mapped_column(String(255))


class ConsoleSession(Base):
    """A signed-in browser: valid while not ended, not expired (idle or absolute), its user active."""

    __tablename__ = "console_sessions"

    #: sha256 of the random token the cookie carries (the token itself is never stored).
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    #: The idle limit the session was made with (seconds); None: the caller's.
    idle_s: Mapped[int | None] = mapped_column(Integer)
    ended_at: Mapped[datetime | None] = mapped_column()
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class LoginFailure(Base):
    """One failed console sign-in, counted per user name and per address to slow guessing."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(200), index=True)
    ip: Mapped[str | None] = mapped_column(String(64), index=True)


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    commune: Mapped[str] = mapped_column(ForeignKey("communes.code"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="speaker")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime | None] = mapped_column()
    status: Mapped[str | None] = mapped_column(String(16))
    volume: Mapped[int | None] = mapped_column(Integer)
    heartbeat: Mapped[dict[str, Any] | None] = mapped_column()


class Bulletin(Base):
    """A bulletin's identity and workflow state; its content lives in revisions."""

    __tablename__ = "bulletins"
    __table_args__ = (UniqueConstraint("source", "source_ref"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(64), default="api")
    source_ref: Mapped[str | None] = mapped_column(String(500))
    #: The revision that was approved last, if it is the current one; devices read only that.
    approved_revision: Mapped[int | None] = mapped_column(Integer)
    approved_at: Mapped[datetime | None] = mapped_column()
    approved_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def publishes(self, revision: int) -> bool:
        """Whether ``revision``'s artifacts reach devices, feeds and pages: only the approved,
        current revision of an approved bulletin does."""
        return self.status == "approved" and self.approved_revision == revision == self.revision

    @classmethod
    def publishing(cls, revision: Any) -> Any:
        """:meth:`publishes` as an SQL condition on a revision column (``Artifact.revision``)."""
        return and_(cls.status == "approved", cls.approved_revision == revision, cls.revision == revision)


class Revision(Base):
    """The content of one revision, immutable once written."""

    __tablename__ = "bulletin_revisions"
    __table_args__ = (UniqueConstraint("bulletin_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bulletin_id: Mapped[str] = mapped_column(ForeignKey("bulletins.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16))
    channels: Mapped[list[str]] = mapped_column()
    targets: Mapped[list[str]] = mapped_column()
    valid_from: Mapped[datetime | None] = mapped_column()
    valid_until: Mapped[datetime | None] = mapped_column()
    voice: Mapped[str | None] = mapped_column(String(64))
    #: How often an emergency (or priority) bulletin airs, and how far apart; None = the defaults.
    repeat_count: Mapped[int | None] = mapped_column(Integer)
    repeat_interval_s: Mapped[int | None] = mapped_column(Integer)
    #: An uploaded recording that airs instead of synthesised speech (part of the approved content).
    recording_sha256: Mapped[str | None] = mapped_column(String(64))
    #: What a CAP alert of this revision says happened (<event>, <category>) and what people
    #: should do (<instruction>); unset falls back to the web plugin's settings.
    cap_event: Mapped[str | None] = mapped_column(String(120))
    cap_category: Mapped[str | None] = mapped_column(String(16))
    instruction: Mapped[str | None] = mapped_column(Text)
    #: What a speech checker heard in the recording (hub/recording_check.py): written by the worker
    #: after the revision, so not part of its content or hash. None: not checked.
    recording_check: Mapped[dict[str, Any] | None] = mapped_column()
    content_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BulletinTarget(Base):
    """Which communes a revision targets, as rows, so lists can filter by commune in SQL."""

    __tablename__ = "bulletin_targets"

    bulletin_id: Mapped[str] = mapped_column(ForeignKey("bulletins.id"), primary_key=True)
    commune: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class Approval(Base):
    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bulletin_id: Mapped[str] = mapped_column(ForeignKey("bulletins.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("job_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bulletin_id: Mapped[str] = mapped_column(ForeignKey("bulletins.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    position: Mapped[int] = mapped_column(Integer)
    renderer: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    bytes: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str] = mapped_column(String(100))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A durable render job: one per (bulletin revision, renderer)."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("bulletin_id", "revision", "renderer"),
        Index("ix_jobs_claim", "status", "run_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bulletin_id: Mapped[str] = mapped_column(ForeignKey("bulletins.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    renderer: Mapped[str] = mapped_column(String(64))
    #: 0 emergency, 1 priority, 2 normal: emergencies are rendered first.
    priority: Mapped[int] = mapped_column(Integer, default=2)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MediaObject(Base):
    """A file in the content-addressed media store, with who uploaded it (if anyone)."""

    __tablename__ = "media"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    bytes: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str] = mapped_column(String(100))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    uploaded_by: Mapped[str | None] = mapped_column(String(32))
    commune: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    revision: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column()
    #: The hash chain (hub/audit_chain.py): the previous entry's hash, and this entry's.
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class Playlist(Base):
    """A commune's programme: items played back to back at scheduled wall-clock times."""

    __tablename__ = "playlists"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    commune: Mapped[str] = mapped_column(ForeignKey("communes.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Higher wins when two programmes of one commune would overlap.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    #: [{"bulletin_id": …} | {"media": "<sha256>"}]
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: {"days": [...], "times": ["06:00"], "start_date": …, "end_date": …, "exceptions": [...]}
    schedule: Mapped[dict[str, Any]] = mapped_column()
    #: "api", or "file" for playlists that `hub playlists sync` owns.
    origin: Mapped[str] = mapped_column(String(16), default="api")
    origin_path: Mapped[str | None] = mapped_column(String(500), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PlayReport(Base):
    """Proof of play from a device; (device, report_id) makes reports idempotent."""

    __tablename__ = "play_reports"
    __table_args__ = (UniqueConstraint("device_id", "report_id"),
                      Index("ix_play_reports_commune_started", "commune", "started_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    report_id: Mapped[str] = mapped_column(String(64))
    commune: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str | None] = mapped_column(String(64))
    bulletin_id: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime] = mapped_column()
    result: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: For a stream (relay, live): the seconds the device really played it, reconnects excluded.
    heard_s: Mapped[float | None] = mapped_column(Float, default=None)


class Source(Base):
    """A feed (RSS/Atom) the hub polls for new bulletins."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    commune: Mapped[str | None] = mapped_column(ForeignKey("communes.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    etag: Mapped[str | None] = mapped_column(String(500))
    modified: Mapped[str | None] = mapped_column(String(200))
    last_polled_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Counter(Base):
    """Named counters; ``schedule`` goes up with every change that can alter a device's manifest."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


# --- Monitoring roll-ups (issue 12): kept current in the same transaction as what they count ---

from datetime import date as _date  # noqa: E402

from sqlalchemy import Date, Float  # noqa: E402


class PlayDay(Base):
    """Plays per commune and local day (Asia/Ho_Chi_Minh), added to by every accepted play report."""

    __tablename__ = "play_days"

    commune: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[_date] = mapped_column(Date, primary_key=True)
    plays: Mapped[int] = mapped_column(Integer, default=0)  # played or interrupted, not failed
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    emergency_plays: Mapped[int] = mapped_column(Integer, default=0)
    interrupted: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)


class PlayBulletinDay(Base):
    """Plays of one bulletin per commune and local day, and its first start that day."""

    __tablename__ = "play_bulletin_days"
    __table_args__ = (Index("ix_play_bulletin_days_day", "day"),)

    commune: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[_date] = mapped_column(Date, primary_key=True)
    bulletin_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    priority: Mapped[str | None] = mapped_column(String(16))
    plays: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    first_started_at: Mapped[datetime] = mapped_column()


class DeviceDay(Base):
    """Seconds a device was online per local day, added to by its heartbeats: the time between two
    heartbeats at most HUB_OFFLINE_AFTER_S apart counts as online (docs/monitoring.md)."""

    __tablename__ = "device_days"
    __table_args__ = (Index("ix_device_days_day", "day"),)

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    day: Mapped[_date] = mapped_column(Date, primary_key=True)
    commune: Mapped[str] = mapped_column(String(32))
    online_s: Mapped[float] = mapped_column(Float, default=0.0)


#: Where and when one bulletin played (the monitor's bulletin page).
Index("ix_play_reports_bulletin_started", PlayReport.bulletin_id, PlayReport.started_at)


class LiveBroadcast(Base):
    """A live broadcast (phát trực tiếp): who spoke, to which communes, when, and its archive."""

    __tablename__ = "live_broadcasts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(200))
    priority: Mapped[str] = mapped_column(String(16))
    targets: Mapped[list[str]] = mapped_column(JSON)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    #: The ingest's key, hashed (hub/auth.py hash_token): who holds it may send the audio.
    ingest_key_hash: Mapped[str] = mapped_column(String(64))
    #: Where devices listen (Icecast's public address and this broadcast's mount).
    stream_url: Mapped[str] = mapped_column(String(500))
    #: open (waiting for audio) → on_air (audio reached Icecast) → ended.
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    #: The latest it may end (created_at + HUB_LIVE_MAX_S): the resolver's end while it is on air.
    deadline_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    #: Written by the ingest every few seconds while it carries the broadcast (hub/live.py ALIVE_S).
    alive_at: Mapped[datetime | None] = mapped_column()
    #: stopped | browser_gone | no_audio | limit | failed
    end_reason: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    archive_sha256: Mapped[str | None] = mapped_column(String(64))
    archive_duration_s: Mapped[float | None] = mapped_column(Float)


class Pronunciation(Base):
    """A province's pronunciation dictionary entry (issue 16): a written form the voices say wrongly
    (a place name, a name in Tày, Nùng or H'Mông, an abbreviation) → what they should read instead.
    Used by the speech normaliser beside its YAML lexicons, winning over them; edited in the console."""

    __tablename__ = "pronunciations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    written: Mapped[str] = mapped_column(String(80), unique=True)
    spoken: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(32))
