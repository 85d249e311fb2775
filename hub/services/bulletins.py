"""Bulletins: create, edit and move through the workflow, with every after-effect, for every door.

Approval is written once, here: the workflow step (hub/bulletins.py) and, after the commit,
``hub_on_bulletin_approved`` fired. Render jobs are queued when a revision is submitted, so the
approver hears exactly what will air and approval only publishes it.
The API, the console, CAP ingest, RSS import and the demo all approve through :meth:`approve`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from hub import bulletins as domain
from hub import recording_check
from hub.auth import Principal
from hub.errors import Conflict, Invalid
from hub.models import Approval, AuditEvent, Bulletin, Revision
from hub.pipeline import enqueue, shown_artifacts
from hub.services import Service, Transaction
from hub.validation import OFFSET_MAX



class BulletinService(Service):
    #: What importers build bulletins from, and the limits the service enforces on it.
    Content = domain.Content
    CONTENT_FIELDS = domain.CONTENT_FIELDS
    TITLE_MAX = domain.TITLE_MAX
    BODY_MAX = domain.BODY_MAX
    CAP_CATEGORIES = domain.CAP_CATEGORIES
    CAP_EVENT_MAX = domain.CAP_EVENT_MAX
    INSTRUCTION_MAX = domain.INSTRUCTION_MAX

    # --- reading ----------------------------------------------------------------------------------

    def get(self, principal: Principal, bulletin_id: str) -> dict[str, Any]:
        with self.reading() as session:
            return domain.view(session, domain.visible(session, principal, bulletin_id), viewer=principal)

    def artifacts(self, principal: Principal, bulletin_id: str) -> list[dict[str, Any]]:
        with self.reading() as session:
            bulletin = domain.visible(session, principal, bulletin_id)
            return shown_artifacts(session, bulletin, may_see_unpublished=domain.may_approve(principal))

    def listing(self, principal: Principal, *, status: str | None = None, commune: str | None = None,
                priority: str | None = None, limit: int = 50, offset: int = 0,
                q: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """One page of the bulletins this principal may see, newest first, and the total count;
        ``q`` keeps those whose current title or body contains it."""
        if not 0 <= offset <= OFFSET_MAX:
            raise Invalid(f"offset must be 0 to {OFFSET_MAX}")
        with self.reading() as session:
            rows, total = domain.listing(session, principal, status=status, commune=commune, priority=priority,
                                         limit=limit, offset=offset, q=q)
            return domain.views(session, rows), total

    def rejection_reasons(self, principal: Principal, bulletin_ids: list[str]) -> dict[str, str | None]:
        """For each rejected bulletin of ``bulletin_ids`` this principal may see: the reason given
        when its current revision was rejected (None if none was given)."""
        with self.reading() as session:
            found: dict[str, str | None] = {}
            for bulletin_id in bulletin_ids:
                bulletin = domain.visible(session, principal, bulletin_id)
                if bulletin.status != "rejected":
                    continue
                found[bulletin.id] = session.scalar(
                    select(Approval.reason).where(Approval.bulletin_id == bulletin.id,
                                                  Approval.revision == bulletin.revision,
                                                  Approval.decision == "reject")
                    .order_by(Approval.decided_at.desc()).limit(1))
            return found

    def history(self, principal: Principal, bulletin_id: str) -> list[dict[str, Any]]:
        """Who did what to this bulletin and when, oldest first: each step of its audit trail
        (create, edit, submit, approve, reject, withdraw) with the actor's name, the revision, the
        status before and after, and the reason given."""
        with self.reading() as session:
            bulletin = domain.visible(session, principal, bulletin_id)
            events = session.scalars(select(AuditEvent).where(
                AuditEvent.object_type == "bulletin", AuditEvent.object_id == bulletin.id)
                .order_by(AuditEvent.at, AuditEvent.id)).all()
            names = domain.author_names(session, {e.actor for e in events if e.actor})
            return [{"at": e.at, "action": e.action, "actor": e.actor, "actor_name": names.get(e.actor),
                     "revision": e.revision, "from_status": e.from_status, "to_status": e.to_status,
                     "reason": (e.detail or {}).get("reason")} for e in events]

    def last_approved(self, principal: Principal, bulletin_id: str) -> dict[str, Any] | None:
        """The content of the latest revision of this bulletin that was approved (None if none
        was), to compare the current one against."""
        with self.reading() as session:
            bulletin = domain.visible(session, principal, bulletin_id)
            number = session.scalar(select(func.max(Approval.revision)).where(
                Approval.bulletin_id == bulletin.id, Approval.decision == "approve"))
            if number is None:
                return None
            revision = session.scalars(select(Revision).where(
                Revision.bulletin_id == bulletin.id, Revision.revision == number)).one()
            shown = {name: getattr(revision, name) for name in domain.CONTENT_FIELDS}
            shown.update(revision=number, content_hash=revision.content_hash)
            return shown

    def find(self, bulletin_id: str, *, tx: Transaction | None = None) -> dict[str, Any] | None:
        """The bulletin by id, whoever may see it (for importers acting as system principals)."""
        with self.reading(tx) as session:
            bulletin = session.get(Bulletin, bulletin_id) if isinstance(bulletin_id, str) else None
            return domain.view(session, bulletin) if bulletin is not None else None

    def by_source(self, source: str, source_ref: str, *, tx: Transaction | None = None) -> dict[str, Any] | None:
        """The bulletin imported from ``source`` as ``source_ref``, whoever may see it (for importers)."""
        with self.reading(tx) as session:
            bulletin = session.scalar(select(Bulletin).where(Bulletin.source == source,
                                                             Bulletin.source_ref == source_ref))
            return domain.view(session, bulletin) if bulletin is not None else None

    # --- writing ----------------------------------------------------------------------------------

    def ingest(self, author: Principal, content: domain.Content, *, source: str, source_ref: str,
               tx: Transaction | None = None) -> tuple[dict[str, Any], bool]:
        """A bulletin from another system (CAP, a feed): created and submitted, so it is rendered and
        waits for an approver; idempotent by ``source`` and ``source_ref`` (created=False when seen
        before, also when another process imported it a moment ago)."""
        with self.transaction(tx) as t:
            try:
                # A savepoint: losing the race to another process (the unique source and
                # source_ref) undoes only this insert, not the caller's transaction.
                with t.session.begin_nested():
                    view, created = self.create(author, content, source=source, source_ref=source_ref, tx=t)
            except IntegrityError:
                existing = self.by_source(source, source_ref, tx=t)
                if existing is None:
                    raise
                return existing, False
            if created:
                view = self.submit(author, view["id"], tx=t)
            return view, created

    def create(self, principal: Principal, content: domain.Content, *, source: str = "api", source_ref: str | None = None,
               tx: Transaction | None = None) -> tuple[dict[str, Any], bool]:
        """A new draft (created=True), or the existing bulletin for this source and source_ref."""
        with self.transaction(tx) as t:
            bulletin, created = domain.create(t.session, principal, content, source=source, source_ref=source_ref)
            t.session.flush()
            return domain.view(t.session, bulletin, viewer=principal), created

    def edit(self, principal: Principal, bulletin_id: str, changes: dict[str, Any], *,
             tx: Transaction | None = None) -> dict[str, Any]:
        """A new revision, back in draft (or nothing, if the changes change nothing)."""
        with self.transaction(tx) as t:
            bulletin = domain.edit(t.session, principal, bulletin_id, changes)
            t.session.flush()
            return domain.view(t.session, bulletin, viewer=principal)

    def submit(self, principal: Principal, bulletin_id: str, *, tx: Transaction | None = None) -> dict[str, Any]:
        """Send the current revision for approval and queue its render at once, so that the approver
        hears exactly what will air and approval has nothing left to wait for."""
        return self._transition(principal, bulletin_id, "submit", tx=tx)

    def approve(self, principal: Principal, bulletin_id: str, *, reason: str | None = None,
                expected_hash: str | None = None, tx: Transaction | None = None) -> dict[str, Any]:
        """Approve the current revision (four eyes), queue its render and, after the commit, wake
        the workers and fire ``hub_on_bulletin_approved``."""
        return self._transition(principal, bulletin_id, "approve", reason=reason, expected_hash=expected_hash, tx=tx)

    def reject(self, principal: Principal, bulletin_id: str, *, reason: str | None = None,
               expected_hash: str | None = None, tx: Transaction | None = None) -> dict[str, Any]:
        return self._transition(principal, bulletin_id, "reject", reason=reason, expected_hash=expected_hash, tx=tx)

    def withdraw(self, principal: Principal, bulletin_id: str, *, reason: str | None = None,
                 expected_hash: str | None = None, tx: Transaction | None = None) -> dict[str, Any]:
        return self._transition(principal, bulletin_id, "withdraw", reason=reason, expected_hash=expected_hash,
                                tx=tx)

    def _transition(self, principal: Principal, bulletin_id: str, action: str, *, reason: str | None = None,
                    expected_hash: str | None = None, tx: Transaction | None = None) -> dict[str, Any]:
        hub = self.hub
        with self.transaction(tx) as t:
            bulletin = domain.transition(
                t.session, principal, bulletin_id, action, reason=reason, expected_hash=expected_hash,
                allow_self_approval=hub.settings.allow_self_approval)
            if action == "approve":
                # With a blocking speech checker (HUB_ASR_BLOCK), a recording must say its text.
                blocked = recording_check.blocking_reason(domain.current_revision(t.session, bulletin),
                                                          hub.pipeline.hook)
                if blocked:
                    raise Conflict(blocked)
            if action in ("submit", "approve"):
                self._render(t, bulletin, retry_failed=action == "approve")
            if action == "approve":
                approved = domain.snapshot(t.session, bulletin)
                t.after_commit(lambda: hub.notify("hub_on_bulletin_approved", bulletin=approved))
            t.session.flush()
            return domain.view(t.session, bulletin, viewer=principal)

    def _render(self, t: Transaction, bulletin: Bulletin, *, retry_failed: bool = False) -> None:
        """Queue the current revision's render jobs (idempotent: a revision submitted earlier has
        them already, and approving it queues nothing new but the retry of a render that failed)
        and wake the workers after the commit."""
        hub = self.hub
        revision = domain.current_revision(t.session, bulletin)
        # A recording is checked against the text being submitted (the text may have changed since
        # the recording was attached, which queued a check of that revision).
        if recording_check.queue(t.session, bulletin, revision, hub.pipeline.hook):
            t.after_commit(hub.pipeline.wake)
        if enqueue(t.session, bulletin, hub.pipeline.renderers, list(revision.channels), revision.priority,
                   retry_failed=retry_failed):
            t.after_commit(hub.pipeline.wake)
