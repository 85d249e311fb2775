"""The durable render pipeline: approval enqueues jobs; workers claim them with a lease and run them.

A job is one (bulletin revision, renderer). Claiming is a compare-and-set on (id, attempts) (on
PostgreSQL after locking the candidate rows with FOR UPDATE SKIP LOCKED), so any number of workers in any number of processes (or machines, on PostgreSQL) can share the table. A
worker that dies leaves its lease to expire and the job is claimed again; a finished job records its
artifacts in the same transaction that marks it done, and only if the lease is still its own, so no
artifact is stored twice.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import socket
import threading
import traceback
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select, tuple_, update
from sqlalchemy.orm import Session

from hub import bulletins, recording_check
from hub.media import MediaStore
from hub.models import Artifact, Bulletin, Commune, Job, MediaObject, utcnow
from hub.plugin_types import PRIORITY_RANK, CommuneInfo, RenderContext, Renderer
from hub.plugins import Registrations, notify
from hub.store import Store

log = logging.getLogger(__name__)


def enqueue(session: Session, bulletin: Bulletin, renderers: dict[str, Renderer], channels: list[str],
            priority: str, *, retry_failed: bool = False) -> list[Job]:
    """One job per renderer that serves any of the bulletin's channels (idempotent), and with
    ``retry_failed`` the revision's failed jobs queued again from their first attempt (an approver
    who approves a revision whose render failed at submission wants it to air, not to stay failed).
    Returns the jobs that are new or queued again."""
    existing = {job.renderer: job for job in session.scalars(select(Job).where(
        Job.bulletin_id == bulletin.id, Job.revision == bulletin.revision))}
    jobs = [
        Job(bulletin_id=bulletin.id, revision=bulletin.revision, renderer=name, priority=PRIORITY_RANK[priority])
        for name, renderer in sorted(renderers.items())
        if name not in existing and set(renderer.channels) & set(channels)
    ]
    session.add_all(jobs)
    if retry_failed:
        for job in existing.values():
            if job.status == "failed" and job.renderer in renderers:
                job.status, job.attempts, job.run_after = "queued", 0, utcnow()
                job.lease_owner = job.lease_until = None
                jobs.append(job)
    return jobs


def rendered_revision(bulletin: Bulletin) -> int | None:
    """The revision whose artifacts a bulletin shows: the approved one, or the one submitted for
    approval (rendered at submission, so that the approver hears exactly what will air)."""
    if bulletin.approved_revision is not None and bulletin.approved_revision == bulletin.revision:
        return bulletin.approved_revision
    if bulletin.status in ("pending", "rejected", "withdrawn"):
        return bulletin.revision
    return bulletin.approved_revision


def is_published(bulletin: Bulletin, revision: int) -> bool:
    """Only the approved, current revision of an approved bulletin reaches devices, feeds and pages."""
    return bulletin.publishes(revision)


def render_status(session: Session, bulletin: Bulletin) -> tuple[str | None, str | None]:
    """(render_status, error) of the revision the bulletin shows, derived from its jobs; None when
    nothing was queued for it (a draft)."""
    number = rendered_revision(bulletin)
    if number is None:
        return None, None
    jobs = session.scalars(select(Job).where(Job.bulletin_id == bulletin.id, Job.revision == number,
                                             Job.status != "skipped")).all()
    return _status_of(bulletin, jobs)


def render_statuses(session: Session, bulletins: list[Bulletin]) -> dict[str, tuple[str | None, str | None]]:
    """``render_status`` of many bulletins in one query (a list page), by bulletin id."""
    wanted = {b.id: rendered_revision(b) for b in bulletins}
    pairs = [(bulletin_id, number) for bulletin_id, number in wanted.items() if number is not None]
    jobs: dict[str, list[Job]] = {}
    if pairs:
        for job in session.scalars(select(Job).where(tuple_(Job.bulletin_id, Job.revision).in_(pairs),
                                                     Job.status != "skipped")):
            jobs.setdefault(job.bulletin_id, []).append(job)
    return {b.id: (None, None) if wanted[b.id] is None else _status_of(b, jobs.get(b.id, []))
            for b in bulletins}


def _status_of(bulletin: Bulletin, jobs: list[Job]) -> tuple[str | None, str | None]:
    # A recording's check by ear is not part of the render: its result is the revision's own.
    jobs = [job for job in jobs if job.renderer != recording_check.CHECK_JOB]
    if not jobs:
        return (None, None) if bulletin.approved_revision is None else ("done", None)
    statuses = {job.status for job in jobs}
    error = next((job.error for job in jobs if job.error and job.status != "done"), None)
    if "failed" in statuses:
        return "failed", error
    if "running" in statuses:
        return "running", error
    if "queued" in statuses:
        return "queued", error
    return "done", None


def artifact_view(artifact: Artifact, *, published: bool = True) -> dict[str, Any]:
    view = {"kind": artifact.kind, "url": f"/media/{artifact.sha256}", "sha256": artifact.sha256,
            "bytes": artifact.bytes, "mime": artifact.mime, "renderer": artifact.renderer,
            "revision": artifact.revision}
    view.update(artifact.meta or {})
    view["published"] = published
    return view


def artifacts_of(session: Session, bulletin: Bulletin, revision: int | None = None) -> list[Artifact]:
    number = revision if revision is not None else rendered_revision(bulletin)
    if number is None:
        return []
    return list(session.scalars(select(Artifact).where(
        Artifact.bulletin_id == bulletin.id, Artifact.revision == number).order_by(
        Artifact.renderer, Artifact.position)))


def shown_artifacts(session: Session, bulletin: Bulletin, *, may_see_unpublished: bool) -> list[dict[str, Any]]:
    """The artifacts a bulletin lists: published ones to everyone who may see the bulletin, those
    of a revision not yet approved only to whoever may approve it (``"published": false``)."""
    number = rendered_revision(bulletin)
    if number is None:
        return []
    published = is_published(bulletin, number)
    if not published and not may_see_unpublished:
        return []
    return [artifact_view(a, published=published) for a in artifacts_of(session, bulletin, number)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Pipeline:
    """Claims and runs jobs; one instance per process, any number of worker threads."""

    def __init__(self, store: Store, media: MediaStore, pm: Any, settings: Any) -> None:
        self.store = store
        self.media = media
        self.pm = pm
        self.settings = settings
        #: What renderers get as ``ctx.hook``: registrations collected once per process.
        self.hook = Registrations(pm, settings)
        self.renderers = self.hook.renderers()
        #: Job names this process claims: its renderers, and a recording's check when a speech
        #: checker is registered (hub/recording_check.py).
        self.job_names = list(self.renderers)
        if recording_check.checkers(self.hook):
            self.job_names.append(recording_check.CHECK_JOB)
        self.host = socket.gethostname()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- claiming ---------------------------------------------------------------------------------

    def new_owner(self) -> str:
        return f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def release_dead_leases(self) -> int:
        """Expire leases held by processes on this host that no longer exist (after kill -9)."""
        released = 0
        with self.store.session() as session:
            running = session.scalars(select(Job).where(Job.status == "running")).all()
            for job in running:
                host, _, rest = (job.lease_owner or "").partition(":")
                pid = rest.split(":", 1)[0]
                if host == self.host and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                    job.lease_until = utcnow() - timedelta(seconds=1)
                    released += 1
        return released

    def claim(self, owner: str) -> Job | None:
        if not self.job_names:
            return None
        now = utcnow()
        claimable = or_(
            and_(Job.status == "queued", Job.run_after <= now),
            and_(Job.status == "running", Job.lease_until < now),
        )
        candidates_query = (select(Job.id, Job.attempts, Job.status)
                            .where(claimable, Job.renderer.in_(self.job_names))
                            .order_by(Job.priority, Job.run_after, Job.id).limit(8))
        if self.store.dialect == "postgresql":
            # Row locks, skipping rows another worker holds: concurrent claimers take different jobs
            # instead of racing for the first one (the compare-and-set below then always wins).
            # SQLite has no row locks; its writers are serialised by BEGIN IMMEDIATE instead.
            candidates_query = candidates_query.with_for_update(skip_locked=True)
        with self.store.session() as session:
            candidates = session.execute(candidates_query).all()
            for job_id, attempts, status in candidates:
                if status == "running" and attempts >= self.settings.job_max_attempts:
                    # The worker died on each try (a crash, not an exception): stop retrying it.
                    session.execute(update(Job).where(Job.id == job_id, Job.attempts == attempts).values(
                        status="failed", lease_owner=None, lease_until=None,
                        error=f"worker died during {attempts} attempts"))
                    continue
                claimed = session.execute(
                    update(Job).where(Job.id == job_id, Job.attempts == attempts, claimable).values(
                        status="running", attempts=attempts + 1, lease_owner=owner,
                        lease_until=now + timedelta(seconds=self.settings.job_lease_s))
                ).rowcount
                if claimed == 1:
                    return session.get(Job, job_id)
        return None

    def _renew(self, job: Job, owner: str, done: threading.Event) -> None:
        interval = self.settings.job_lease_s / 3
        while not done.wait(interval):
            try:
                with self.store.session() as session:
                    session.execute(update(Job).where(
                        Job.id == job.id, Job.lease_owner == owner, Job.status == "running").values(
                        lease_until=utcnow() + timedelta(seconds=self.settings.job_lease_s)))
            except Exception:  # a missed renewal only risks a duplicate render, never a duplicate artifact
                log.exception("lease renewal for job %s failed", job.id)

    # --- running ----------------------------------------------------------------------------------

    def _context(self, job: Job, work_dir: Path) -> RenderContext:
        with self.store.session() as session:
            bulletin = session.get(Bulletin, job.bulletin_id)
            snap = bulletins.snapshot(session, bulletin, job.revision)
            query = select(Commune).order_by(Commune.code)
            if "*" not in snap.targets:
                query = query.where(Commune.code.in_(snap.targets))
            communes = tuple(CommuneInfo(c.code, c.name, c.voice) for c in session.scalars(query))
        return RenderContext(bulletin=snap, communes=communes, settings=self.settings, hook=self.hook,
                             media=self.media, work_dir=work_dir, province=self.settings.province)

    def run_one(self, owner: str | None = None) -> bool:
        """Claim and run one job; False when there was nothing to do."""
        owner = owner or self.new_owner()
        job = self.claim(owner)
        if job is None:
            return False
        renderer = self.renderers.get(job.renderer)
        work_dir = self.settings.data_dir / "tmp" / f"job-{job.id}-{uuid.uuid4().hex[:6]}"
        work_dir.mkdir(parents=True, exist_ok=True)
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(job, owner, done), daemon=True)
        renewer.start()
        try:
            superseded = self._superseded(job)
            if superseded:
                self._skip(job, owner, superseded)
                return True
            if renderer is None:  # the recording check, the only other job this process claims
                recording_check.run(self, job)
                self._complete(job, owner, None, [])
                return True
            ctx = self._context(job, work_dir)
            results = renderer.render(ctx)
            self._complete(job, owner, ctx, results)
        except Exception as exc:
            log.warning("job %s (%s) failed: %s", job.id, job.renderer, exc)
            self._fail(job, owner, exc)
        finally:
            done.set()
            shutil.rmtree(work_dir, ignore_errors=True)
        return True

    def _superseded(self, job: Job) -> str | None:
        """Why the job's revision will never air (an edit made a newer one, or the bulletin was
        withdrawn), or None: such a render would only take a worker from one that will."""
        with self.store.reader() as session:
            bulletin = session.get(Bulletin, job.bulletin_id)
            if bulletin is None or bulletin.status == "withdrawn":
                return "the bulletin was withdrawn"
            if bulletin.revision != job.revision:
                return f"superseded by revision {bulletin.revision}"
        return None

    def _skip(self, job: Job, owner: str, why: str) -> None:
        with self.store.session() as session:
            session.execute(update(Job).where(Job.id == job.id, Job.lease_owner == owner).values(
                status="skipped", lease_owner=None, lease_until=None, error=f"not rendered: {why}"))
        log.info("job %s (%s) skipped: %s", job.id, job.renderer, why)

    def _complete(self, job: Job, owner: str, ctx: RenderContext, results: list) -> None:
        stored = [(self.media.put(item.data), item) for item in results]
        views = []
        with self.store.session() as session:
            still_ours = session.execute(update(Job).where(
                Job.id == job.id, Job.lease_owner == owner, Job.status == "running").values(
                status="done", lease_owner=None, lease_until=None, error=None)).rowcount
            if still_ours != 1:
                log.warning("job %s: lease lost before completion; discarding this run's results", job.id)
                session.rollback()
                return
            for position, (sha256, item) in enumerate(stored):
                if session.get(MediaObject, sha256) is None:
                    session.add(MediaObject(sha256=sha256, bytes=len(item.data), mime=item.mime))
                artifact = Artifact(bulletin_id=job.bulletin_id, revision=job.revision, job_id=job.id,
                                    position=position, renderer=job.renderer, kind=item.kind, sha256=sha256,
                                    bytes=len(item.data), mime=item.mime, meta={**item.meta, **item.declared()})
                session.add(artifact)
                session.flush()
                bulletin = session.get(Bulletin, job.bulletin_id)
                views.append(artifact_view(artifact, published=is_published(bulletin, job.revision)))
        for view in views:
            # Artifacts of a revision not yet approved stay inside the hub: plugins hear of them
            # only once they are published (a render that finishes after the approval).
            if view["published"]:
                notify(self.pm, "hub_on_artifact_stored", artifact=view, bulletin=ctx.bulletin,
                       settings=self.settings)

    def _fail(self, job: Job, owner: str, exc: Exception) -> None:
        attempts = job.attempts
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.debug("job %s traceback:\n%s", job.id, traceback.format_exc())
        with self.store.session() as session:
            if attempts >= self.settings.job_max_attempts:
                values: dict[str, Any] = {"status": "failed"}
            else:
                delay = min(self.settings.job_backoff_max_s, self.settings.job_backoff_s * 2 ** (attempts - 1))
                delay *= random.uniform(0.75, 1.25)
                values = {"status": "queued", "run_after": utcnow() + timedelta(seconds=delay)}
            session.execute(update(Job).where(Job.id == job.id, Job.lease_owner == owner).values(
                lease_owner=None, lease_until=None, error=error, **values))

    # --- worker threads ---------------------------------------------------------------------------

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _loop(self) -> None:
        owner = self.new_owner()
        while not self._stop.is_set():
            try:
                worked = self.run_one(owner)
            except Exception:
                log.exception("worker loop error")
                worked = False
            if not worked:
                with self._wake:
                    self._wake.wait(self.settings.job_poll_s)

    def start(self, count: int) -> None:
        if count <= 0:
            return
        self.release_dead_leases()
        for index in range(count):
            thread = threading.Thread(target=self._loop, name=f"hub-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
