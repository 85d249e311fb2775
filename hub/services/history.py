"""Play history: what the monitoring pages read beside the airtime totals.

Where one bulletin played (and in which of its communes it did not), each device of a commune with
its health and its plays of one local day, and how many devices are online in each commune.
Operators see only their own commune: another commune, or a bulletin's plays elsewhere, are simply
not there for them (an unknown commune is :class:`NotFound`, as the API answers).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import case, func, select

from hub.auth import Principal
from hub.clock import LOCAL_TZ, local_today, utcnow
from hub.errors import NotFound
from hub.media import SHA256_RE
from hub.models import Bulletin, Commune, Device, PlayReport, Revision
from hub.services import Service

#: Who may read it: the same people as the monitor (operators for their own commune).
WATCHERS = ("monitor", "editor", "admin", "operator")
MAX_PLAYS = 2000


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; the store keeps UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _play(report: PlayReport, device_name: str | None = None) -> dict[str, Any]:
    started, ended = _utc(report.started_at), _utc(report.ended_at)
    return {"device": report.device_id, "device_name": device_name, "commune": report.commune,
            "bulletin_id": report.bulletin_id, "item_id": report.item_id, "priority": report.priority,
            "started_at": started, "ended_at": ended, "result": report.result,
            "seconds": round(max(0.0, (ended - started).total_seconds()), 1),
            # A stream's play (relay, live): what the device really heard, which a drop makes less.
            "heard_s": report.heard_s}


class PlayHistory(Service):
    def _cutoff(self) -> datetime:
        return utcnow() - timedelta(seconds=self.hub.settings.offline_after_s)

    def _online(self, device: Device, cutoff: datetime) -> bool:
        seen = _utc(device.last_seen)
        return seen is not None and seen >= cutoff

    def _communes(self, session, principal: Principal) -> dict[str, str]:
        query = select(Commune.code, Commune.name).order_by(Commune.code)
        if principal.role == "operator":
            query = query.where(Commune.code == principal.commune)
        return dict(session.execute(query).all())

    def online_counts(self, principal: Principal) -> list[dict[str, Any]]:
        """Per commune this principal may see: ``{commune, name, devices, online, offline}``, active
        devices only, communes without devices included."""
        principal.require(*WATCHERS)
        cutoff = self._cutoff()
        with self.reading() as session:
            names = self._communes(session, principal)
            rows = {code: {"commune": code, "name": name, "devices": 0, "online": 0, "offline": 0}
                    for code, name in names.items()}
            for device in session.scalars(select(Device).where(Device.active, Device.commune.in_(list(names)))):
                row = rows[device.commune]
                row["devices"] += 1
                row["online" if self._online(device, cutoff) else "offline"] += 1
        return list(rows.values())

    def offline(self, principal: Principal, limit: int = 50) -> list[dict[str, Any]]:
        """Active devices that are offline, the longest silent first (never seen before all)."""
        principal.require(*WATCHERS)
        cutoff = self._cutoff()
        with self.reading() as session:
            names = self._communes(session, principal)
            found = [d for d in session.scalars(select(Device).where(Device.active, Device.commune.in_(list(names))))
                     if not self._online(d, cutoff)]
        found.sort(key=lambda d: (d.last_seen is not None, _utc(d.last_seen) or cutoff, d.name))
        return [{"id": d.id, "name": d.name, "commune": d.commune, "commune_name": names[d.commune],
                 "kind": d.kind, "last_seen": _utc(d.last_seen)} for d in found[:limit]]

    def commune_devices(self, principal: Principal, commune: str, day: date | None = None) -> list[dict[str, Any]]:
        """Each active device of ``commune``: online, last seen, status, volume, its agent (firmware)
        and player as its last heartbeat said, and its plays of local ``day`` (default today),
        oldest first. Another commune for an operator, or an unknown one: NotFound."""
        principal.require(*WATCHERS)
        if not principal.sees_commune(commune):
            raise NotFound(f"no commune {commune!r}")
        day = day or local_today()
        start = datetime.combine(day, time(0), LOCAL_TZ)
        end = start + timedelta(days=1)
        cutoff = self._cutoff()
        with self.reading() as session:
            if session.get(Commune, commune) is None:
                raise NotFound(f"no commune {commune!r}")
            devices = list(session.scalars(select(Device).where(Device.active, Device.commune == commune)
                                           .order_by(Device.name, Device.id)))
            plays: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for report in session.scalars(select(PlayReport).where(
                    PlayReport.commune == commune, PlayReport.started_at >= start, PlayReport.started_at < end)
                    .order_by(PlayReport.started_at, PlayReport.id)):
                plays[report.device_id].append(_play(report))
            out = []
            for d in devices:
                beat = d.heartbeat or {}
                out.append({"id": d.id, "name": d.name, "commune": d.commune, "kind": d.kind,
                            "online": self._online(d, cutoff), "last_seen": _utc(d.last_seen),
                            "status": d.status, "volume": d.volume,
                            "firmware": beat.get("agent") or beat.get("firmware"),
                            "player": beat.get("player"), "error": beat.get("error"),
                            # A board says which bulletin and which slide it shows (hub_display's heartbeat).
                            "showing": beat.get("showing") if isinstance(beat.get("showing"), str) else None,
                            "slide": beat.get("slide") if isinstance(beat.get("slide"), str)
                            and SHA256_RE.match(beat["slide"]) else None,
                            "plays": plays.get(d.id, [])})
        return out

    def bulletin_plays(self, principal: Principal, bulletin_id: str) -> list[dict[str, Any]]:
        """Every reported play of ``bulletin_id`` (newest first, at most MAX_PLAYS) in the communes
        this principal may see, with the device's name. The caller checks that the bulletin itself
        is visible (``bulletins.get``)."""
        principal.require(*WATCHERS)
        query = (select(PlayReport, Device.name).join(Device, Device.id == PlayReport.device_id)
                 .where(PlayReport.bulletin_id == bulletin_id)
                 .order_by(PlayReport.started_at.desc(), PlayReport.id.desc()).limit(MAX_PLAYS))
        if principal.role == "operator":
            query = query.where(PlayReport.commune == principal.commune)
        with self.reading() as session:
            return [_play(report, name) for report, name in session.execute(query).all()]

    def played_bulletins(self, principal: Principal, first: date, last: date, limit: int = 20) -> list[dict[str, Any]]:
        """The bulletins played in local days [first, last] in the communes this principal may see,
        the most recently played first: ``{bulletin_id, title, priority, plays, failed, communes,
        last_played}`` (plays not counting failed ones)."""
        principal.require(*WATCHERS)
        start = datetime.combine(first, time(0), LOCAL_TZ)
        end = datetime.combine(last + timedelta(days=1), time(0), LOCAL_TZ)
        ok = PlayReport.result != "failed"
        query = (select(PlayReport.bulletin_id, func.sum(case((ok, 1), else_=0)),
                        func.sum(case((ok, 0), else_=1)), func.count(func.distinct(PlayReport.commune)),
                        func.max(PlayReport.started_at))
                 .where(PlayReport.bulletin_id.is_not(None), PlayReport.started_at >= start,
                        PlayReport.started_at < end)
                 .group_by(PlayReport.bulletin_id).order_by(func.max(PlayReport.started_at).desc()).limit(limit))
        if principal.role == "operator":
            query = query.where(PlayReport.commune == principal.commune)
        with self.reading() as session:
            rows = session.execute(query).all()
            ids = [row[0] for row in rows]
            content = {bid: (title, priority) for bid, title, priority in session.execute(
                select(Bulletin.id, Revision.title, Revision.priority).join(Revision, (Revision.bulletin_id == Bulletin.id) & (
                    Revision.revision == Bulletin.revision)).where(Bulletin.id.in_(ids))).all()}
        return [{"bulletin_id": bid, "title": content.get(bid, (None, None))[0],
                 "priority": content.get(bid, (None, None))[1], "plays": int(plays or 0), "failed": int(failed or 0),
                 "communes": communes, "last_played": _utc(last_played)}
                for bid, plays, failed, communes, last_played in rows]
