"""Monitoring: which devices are online, and airtime per commune and local day."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, text

from hub.auth import Principal
from hub.clock import LOCAL_TZ, local_today, utcnow
from hub.errors import Invalid
from hub.manifests import scheduled_counts
from hub.models import Commune, Device, PlayReport
from hub.services import Service

MAX_DAYS = 366
#: Who may watch: the department, and operators for their own commune.
WATCHERS = ("monitor", "editor", "admin", "operator")


def _day(value: str | None, default: date, name: str) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


class MonitoringService(Service):
    def check_store(self) -> None:
        """Raise if the store cannot answer a query (liveness)."""
        with self.reading() as session:
            session.execute(text("SELECT 1"))

    def devices(self, principal: Principal, commune: str | None = None) -> list[dict[str, Any]]:
        """Every active device with ``online`` (a heartbeat within HUB_OFFLINE_AFTER_S)."""
        principal.require(*WATCHERS)
        cutoff = utcnow() - timedelta(seconds=self.hub.settings.offline_after_s)
        query = select(Device).where(Device.active).order_by(Device.commune, Device.name, Device.id)
        if principal.role == "operator":
            query = query.where(Device.commune == principal.commune)
        if commune:
            query = query.where(Device.commune == commune)
        with self.reading() as session:
            return [{
                "id": d.id, "name": d.name, "commune": d.commune, "kind": d.kind,
                "online": d.last_seen is not None and d.last_seen >= cutoff,
                "last_seen": d.last_seen, "status": d.status, "volume": d.volume,
            } for d in session.scalars(query)]

    def airtime(self, principal: Principal, first: str | None = None, last: str | None = None,
                commune: str | None = None) -> list[dict[str, Any]]:
        """One row per commune and local day in [first, last] (default: the last seven days):
        plays, seconds, bulletins, emergency plays, interrupted, failed, and how many plays the
        schedule had for that day."""
        principal.require(*WATCHERS)
        today = local_today()
        start_day = _day(first, today - timedelta(days=6), "from")
        end_day = _day(last, today, "to")
        if end_day < start_day:
            raise Invalid("to must not be before from")
        if (end_day - start_day).days >= MAX_DAYS:
            raise Invalid(f"at most {MAX_DAYS} days at a time")
        codes_query = select(Commune.code).order_by(Commune.code)
        if principal.role == "operator":
            codes_query = codes_query.where(Commune.code == principal.commune)
        if commune:
            codes_query = codes_query.where(Commune.code == commune)
        with self.reading() as session:
            codes = list(session.scalars(codes_query))
            start = datetime.combine(start_day, time(0), LOCAL_TZ)
            end = datetime.combine(end_day + timedelta(days=1), time(0), LOCAL_TZ)
            rows: dict[tuple[str, date], dict[str, Any]] = {}
            for code in codes:
                day = start_day
                while day <= end_day:
                    rows[(code, day)] = {"commune": code, "date": day.isoformat(), "plays": 0, "seconds": 0.0,
                                         "bulletins": 0, "emergency_plays": 0, "interrupted": 0, "failed": 0,
                                         "scheduled": 0}
                    day += timedelta(days=1)
            bulletins: dict[tuple[str, date], set[str]] = defaultdict(set)
            reports = session.scalars(select(PlayReport).where(
                PlayReport.commune.in_(codes), PlayReport.started_at >= start, PlayReport.started_at < end))
            for report in reports:
                key = (report.commune, report.started_at.astimezone(LOCAL_TZ).date())
                row = rows.get(key)
                if row is None:
                    continue
                if report.result == "failed":
                    row["failed"] += 1
                    continue
                row["plays"] += 1
                row["interrupted"] += report.result == "interrupted"
                row["seconds"] += (report.ended_at - report.started_at).total_seconds()
                row["emergency_plays"] += report.priority == "emergency"
                if report.bulletin_id:
                    bulletins[key].add(report.bulletin_id)
            for key, ids in bulletins.items():
                rows[key]["bulletins"] = len(ids)
            for (code, day), count in scheduled_counts(session, codes, start_day, end_day).items():
                if (code, day) in rows:
                    rows[(code, day)]["scheduled"] = count
        for row in rows.values():
            row["seconds"] = round(row["seconds"], 1)
        return sorted(rows.values(), key=lambda r: (r["commune"], r["date"]))
