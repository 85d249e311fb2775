"""What devices tell the hub: heartbeats and batched, idempotent proof-of-play reports."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from hub import changes
from hub.auth import Principal
from hub.models import Artifact, Bulletin, Device, PlayReport, Revision, utcnow
from hub.services import Service
from hub.services.monitoring import credit_online, roll_up_plays

log = logging.getLogger(__name__)

#: Heartbeat fields that change which variant of the content a device gets (a board turned round
#: needs the slides of its new orientation); a change of one rebuilds the device's manifest.
VARIANT_FIELDS = ("orientation",)

# A play report is checked against what the device could have been given (issue 14: a play
# "ending" in year 9999 credited a commune 251,606,221,199 s in a day). See docs/security.md.
#: How far back a report may start: a device offline for a year still brings its plays home.
PLAY_MAX_AGE = timedelta(days=400)
#: How far ahead of the hub's clock a report may start or end: a device whose clock or time zone is
#: wrong by hours still reports; later than this, it is refused (a start) or clipped (an end).
PLAY_MAX_AHEAD = timedelta(days=1)
#: How much longer than the bulletin's longest audio a play may last (player start, a slow card).
PLAY_SLACK = timedelta(minutes=3)
#: The longest play of anything without a bulletin's audio to measure it by (a relay, programme audio).
PLAY_MAX = timedelta(hours=12)


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
            given = self._given(session, device, bulletin_ids)
            accepted = refused = clipped = 0
            added: list[PlayReport] = []
            now = utcnow()
            for play in plays:
                if play.report_id in seen:
                    continue
                seen.add(play.report_id)
                checked = _checked(play, given, now)
                if checked is None:
                    refused += 1
                    continue
                if checked is not play:
                    clipped += 1
                    play = checked
                report = PlayReport(
                    device_id=device.id, report_id=play.report_id, commune=device.commune, item_id=play.item_id,
                    bulletin_id=play.bulletin_id, priority=priorities.get(play.bulletin_id),
                    started_at=play.started_at, ended_at=play.ended_at, result=play.result,
                    heard_s=play.heard_s)
                session.add(report)
                added.append(report)
                accepted += 1
            roll_up_plays(session, added)  # the daily roll-ups, in this same transaction
        if refused or clipped:
            self.hub.metrics.plays_refused.inc(refused)
            self.hub.metrics.plays_clipped.inc(clipped)
            log.warning("device %s: %d play report(s) refused, %d clipped (outside what it was given)",
                        device.id, refused, clipped)
        answer = {"accepted": accepted, "duplicates": len(plays) - accepted - refused}
        # Only when there are any, so a device that reports honestly sees the answer it always saw.
        answer.update({k: v for k, v in (("refused", refused), ("clipped", clipped)) if v})
        return answer

    @staticmethod
    def _given(session, device: Principal, bulletin_ids: set[str]) -> dict[str, float | None]:
        """The reported bulletins this device's commune was ever given, each with its longest audio
        in seconds (None: no audio to measure by). A bulletin missing here was never its to play."""
        if not bulletin_ids:
            return {}
        targeted: set[str] = set()
        for bulletin_id, targets in session.execute(
                select(Revision.bulletin_id, Revision.targets).join(
                    Bulletin, Bulletin.id == Revision.bulletin_id).where(
                    Revision.bulletin_id.in_(bulletin_ids), Bulletin.approved_at.is_not(None))):
            if "*" in (targets or []) or device.commune in (targets or []):
                targeted.add(bulletin_id)
        longest: dict[str, float | None] = dict.fromkeys(targeted)
        for bulletin_id, meta in session.execute(select(Artifact.bulletin_id, Artifact.meta).where(
                Artifact.bulletin_id.in_(targeted), Artifact.kind == "audio")):
            seconds = (meta or {}).get("duration_s")
            if isinstance(seconds, (int, float)):
                longest[bulletin_id] = max(float(seconds), longest[bulletin_id] or 0.0)
        return longest


def _checked(play: Play, given: dict[str, float | None], now: datetime) -> Play | None:
    """The play as it can be counted: None to refuse it, a clipped copy, or ``play`` itself."""
    if play.bulletin_id and play.bulletin_id not in given:
        return None
    if play.started_at < now - PLAY_MAX_AGE or play.started_at > now + PLAY_MAX_AHEAD:
        return None
    seconds = given.get(play.bulletin_id) if play.bulletin_id else None
    longest = PLAY_MAX if seconds is None else timedelta(seconds=seconds) + PLAY_SLACK
    end = min(play.ended_at, play.started_at + longest, now + PLAY_MAX_AHEAD)
    return play if end == play.ended_at else replace(play, ended_at=end)
