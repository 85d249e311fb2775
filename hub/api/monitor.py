"""/api/v1/monitor/*: device health and airtime for the department."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from sqlalchemy import select

from hub.api.deps import CurrentUser, HubDep, ReadDB
from hub.config import LOCAL_TZ
from hub.errors import Invalid
from hub.models import Commune, Device, PlayReport, utcnow

router = APIRouter(prefix="/api/v1/monitor", tags=["monitor"])
TZ = ZoneInfo(LOCAL_TZ)
MAX_DAYS = 366


@router.get("/devices")
def devices(session: ReadDB, user: CurrentUser, hub: HubDep,
            commune: Annotated[str | None, Query(max_length=32)] = None) -> list[dict[str, Any]]:
    user.require("monitor", "editor", "admin", "operator")
    cutoff = utcnow() - timedelta(seconds=hub.settings.offline_after_s)
    query = select(Device).where(Device.active).order_by(Device.commune, Device.name, Device.id)
    if user.role == "operator":
        query = query.where(Device.commune == user.commune)
    if commune:
        query = query.where(Device.commune == commune)
    return [{
        "id": d.id, "name": d.name, "commune": d.commune, "kind": d.kind,
        "online": d.last_seen is not None and d.last_seen >= cutoff,
        "last_seen": d.last_seen, "status": d.status, "volume": d.volume,
    } for d in session.scalars(query)]


def _day(value: str | None, default: date, name: str) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


@router.get("/airtime")
def airtime(
    session: ReadDB, user: CurrentUser, hub: HubDep,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Annotated[str | None, Query()] = None,
    commune: Annotated[str | None, Query(max_length=32)] = None,
) -> list[dict[str, Any]]:
    """One row per commune and local day in [from, to]: plays, seconds, bulletins, emergency plays,
    and how many plays the schedule had for that day."""
    user.require("monitor", "editor", "admin", "operator")
    today = utcnow().astimezone(TZ).date()
    first = _day(from_, today - timedelta(days=6), "from")
    last = _day(to, today, "to")
    if last < first:
        raise Invalid("to must not be before from")
    if (last - first).days >= MAX_DAYS:
        raise Invalid(f"at most {MAX_DAYS} days at a time")
    codes_query = select(Commune.code).order_by(Commune.code)
    if user.role == "operator":
        codes_query = codes_query.where(Commune.code == user.commune)
    if commune:
        codes_query = codes_query.where(Commune.code == commune)
    codes = list(session.scalars(codes_query))
    start = datetime.combine(first, time(0), TZ)
    end = datetime.combine(last + timedelta(days=1), time(0), TZ)
    rows: dict[tuple[str, date], dict[str, Any]] = {}
    for code in codes:
        day = first
        while day <= last:
            rows[(code, day)] = {"commune": code, "date": day.isoformat(), "plays": 0, "seconds": 0.0,
                                 "bulletins": 0, "emergency_plays": 0, "interrupted": 0, "failed": 0,
                                 "scheduled": 0}
            day += timedelta(days=1)
    bulletins: dict[tuple[str, date], set[str]] = defaultdict(set)
    reports = session.scalars(select(PlayReport).where(
        PlayReport.commune.in_(codes), PlayReport.started_at >= start, PlayReport.started_at < end))
    for report in reports:
        key = (report.commune, report.started_at.astimezone(TZ).date())
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
    for (code, day), count in hub.manifests.scheduled_counts(session, codes, first, last).items():
        if (code, day) in rows:
            rows[(code, day)]["scheduled"] = count
    for row in rows.values():
        row["seconds"] = round(row["seconds"], 1)
    return sorted(rows.values(), key=lambda r: (r["commune"], r["date"]))
