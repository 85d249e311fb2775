"""What devices tell the hub: heartbeats and batched, idempotent proof-of-play reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from hub import changes
from hub.auth import Principal
from hub.models import Bulletin, Device, PlayReport, Revision, utcnow
from hub.services import Service
from hub.services.monitoring import credit_online, roll_up_plays

#: Heartbeat fields that change which variant of the content a device gets (a board turned round
#: needs the slides of its new orientation); a change of one rebuilds the device's manifest.
VARIANT_FIELDS = ("orientation",)


@dataclass(frozen=True)
class Play:
    """One play a device reports."""

    report_id: str
    item_id: str | None
    bulletin_id: str | None
    started_at: datetime
    ended_at: datetime
    result: str
    #: A stream's play (relay, live): how many seconds the device really played it.
    heard_s: float | None = None


class DeviceService(Service):
    def heartbeat(self, device: Principal, status: str, volume: int | None, report: dict[str, Any]) -> None:
        """Record that ``device`` is alive, what it is doing and the rest of what it reported."""
        with self.transaction() as t:
            row = t.session.get(Device, device.id)
            before = row.heartbeat or {}
            previous, now = row.last_seen, utcnow()
            credit_online(t.session, row, previous, now, self.hub.settings.offline_after_s)
            if any(report.get(name) != before.get(name) for name in VARIANT_FIELDS):
                changes.bump(t.session)
            row.last_seen = now
            row.status = status
            if volume is not None:
                row.volume = volume
            row.heartbeat = report

    def record_plays(self, device: Principal, plays: list[Play]) -> dict[str, int]:
        """Store a batch of reports; a ``report_id`` this device sent before is counted once."""
        with self.transaction() as t:
            session = t.session
            ids = [p.report_id for p in plays]
            seen = set(session.scalars(select(PlayReport.report_id).where(
                PlayReport.device_id == device.id, PlayReport.report_id.in_(ids))))
            bulletin_ids = {p.bulletin_id for p in plays if p.bulletin_id}
            priorities = dict(session.execute(
                select(Bulletin.id, Revision.priority).join(Revision, (Revision.bulletin_id == Bulletin.id) & (
                    Revision.revision == Bulletin.revision)).where(Bulletin.id.in_(bulletin_ids))).all())
            accepted = 0
            added: list[PlayReport] = []
            for play in plays:
                if play.report_id in seen:
                    continue
                seen.add(play.report_id)
                report = PlayReport(
                    device_id=device.id, report_id=play.report_id, commune=device.commune, item_id=play.item_id,
                    bulletin_id=play.bulletin_id, priority=priorities.get(play.bulletin_id),
                    started_at=play.started_at, ended_at=play.ended_at, result=play.result,
                    heard_s=play.heard_s)
                session.add(report)
                added.append(report)
                accepted += 1
            roll_up_plays(session, added)  # the daily roll-ups, in this same transaction
        return {"accepted": accepted, "duplicates": len(plays) - accepted}
