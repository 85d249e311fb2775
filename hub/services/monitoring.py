"""Monitoring: which devices are online, airtime per commune and local day, the monthly report
upward, and their CSV/XLSX exports.

Airtime and the report read daily roll-ups (``play_days``, ``play_bulletin_days``,
``device_days``) that the play-report and heartbeat paths keep current in their own transaction
(:func:`roll_up_plays`, :func:`credit_online`); :meth:`MonitoringService.airtime_raw` is the same
answer counted from every play report, kept as the reference the tests and the benchmark compare
with. docs/monitoring.md says what each figure means.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import csv
import io
import statistics

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from hub.auth import Principal
from hub.clock import LOCAL_TZ, local_today, utcnow
from hub.errors import Invalid, NotFound
from hub.manifests import scheduled_counts
from hub.models import (
    Bulletin,
    BulletinTarget,
    Commune,
    Device,
    DeviceDay,
    PlayBulletinDay,
    PlayDay,
    PlayReport,
    Revision,
)
from hub.services import Service
from hub.validation import sane_date

MAX_DAYS = 366
#: Airtime answers whose scheduled counts are remembered at once (scopes × periods asked).
SCHEDULED_CACHED = 256
#: Who may watch: the department, and operators for their own commune.
WATCHERS = ("monitor", "editor", "admin", "operator")


def _day(value: str | None, default: date, name: str) -> date:
    if value is None:
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None
    return sane_date(name, day)  # 9999-12-31 and a day more overflowed: a 500 (issue 14)


class MonitoringService(Service):
    def __init__(self, services) -> None:
        super().__init__(services)
        #: (communes, first day, last day) → (schedule generation, scheduled counts); see _scheduled_counts.
        self._scheduled_cache: dict[tuple[tuple[str, ...], date, date], tuple[int, dict[tuple[str, date], int]]] = {}

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

    def airtime_raw(self, principal: Principal, first: str | None = None, last: str | None = None,
                    commune: str | None = None, *, scheduled: bool = True) -> list[dict[str, Any]]:
        """:meth:`airtime` counted from every play report instead of the roll-ups (the reference)."""
        start_day, end_day = self._range(principal, first, last, commune)
        with self.reading() as session:
            codes = self._codes(session, principal, commune)
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
                row["seconds"] += _heard(report)
                row["emergency_plays"] += report.priority == "emergency"
                if report.bulletin_id:
                    bulletins[key].add(report.bulletin_id)
            for key, ids in bulletins.items():
                rows[key]["bulletins"] = len(ids)
            if scheduled:
                self._scheduled(session, rows, codes, start_day, end_day)
        for row in rows.values():
            row["seconds"] = round(row["seconds"], 1)
        return sorted(rows.values(), key=lambda r: (r["commune"], r["date"]))

    # --- shared parts -----------------------------------------------------------------------------

    def _range(self, principal: Principal, first: str | None, last: str | None,
               commune: str | None) -> tuple[date, date]:
        principal.require(*WATCHERS)
        # CONTRACT §Monitoring: operators see only their own commune's rows (another commune's
        # code gives no rows, not 404; the exports have the same rows). The report is 404.
        today = local_today()
        start_day = _day(first, today - timedelta(days=6), "from")
        end_day = _day(last, today, "to")
        if end_day < start_day:
            raise Invalid("to must not be before from")
        if (end_day - start_day).days >= MAX_DAYS:
            raise Invalid(f"at most {MAX_DAYS} days at a time")
        return start_day, end_day

    @staticmethod
    def _codes(session: Session, principal: Principal, commune: str | None) -> list[str]:
        query = select(Commune.code).order_by(Commune.code)
        if principal.role == "operator":
            query = query.where(Commune.code == principal.commune)
        if commune:
            query = query.where(Commune.code == commune)
        return list(session.scalars(query))

    def _scheduled(self, session: Session, rows: dict[tuple[str, date], dict[str, Any]], codes: list[str],
                   start_day: date, end_day: date) -> None:
        for (code, day), count in self._scheduled_counts(session, codes, start_day, end_day).items():
            if (code, day) in rows:
                rows[(code, day)]["scheduled"] = count

    def _scheduled_counts(self, session: Session, codes: list[str], start_day: date,
                          end_day: date) -> dict[tuple[str, date], int]:
        """``scheduled_counts`` (the scheduler run over every commune and day: the costly part of an
        airtime answer), remembered per schedule generation. Every change that can alter a schedule
        bumps the counter (hub/changes.py), and the resolution is a pure function of that state, so
        a remembered answer is the same answer; the console's monitoring pages, polled every 5 s,
        then cost only the roll-up reads. The generation is read before resolving: a change made
        meanwhile leaves an older generation on the entry, and the next call resolves again."""
        generation = self.hub.counter.value()
        key = (tuple(codes), start_day, end_day)
        cache = self._scheduled_cache
        hit = cache.get(key)
        if hit is not None and hit[0] == generation:
            return hit[1]
        counts = scheduled_counts(session, codes, start_day, end_day)
        if len(cache) >= SCHEDULED_CACHED:
            cache.clear()
        cache[key] = (generation, counts)
        return counts

    # --- airtime from the roll-ups ----------------------------------------------------------------

    def airtime(self, principal: Principal, first: str | None = None, last: str | None = None,
                commune: str | None = None, *, scheduled: bool = True) -> list[dict[str, Any]]:
        """One row per commune and local day in [first, last] (default: the last seven days):
        plays, seconds, bulletins, emergency plays, interrupted, failed, and how many plays the
        schedule had for that day. An operator gets only their own commune's rows."""
        start_day, end_day = self._range(principal, first, last, commune)
        with self.reading() as session:
            codes = self._codes(session, principal, commune)
            rows = _empty_rows(codes, start_day, end_day)
            in_range = (PlayDay.day >= start_day) & (PlayDay.day <= end_day)
            query = select(PlayDay).where(in_range)
            if len(codes) < 50:
                query = query.where(PlayDay.commune.in_(codes))
            for day in session.scalars(query):
                row = rows.get((day.commune, day.day))
                if row is not None:
                    row.update(plays=day.plays, seconds=day.seconds, emergency_plays=day.emergency_plays,
                               interrupted=day.interrupted, failed=day.failed)
            counted = select(PlayBulletinDay.commune, PlayBulletinDay.day, func.count()).where(
                (PlayBulletinDay.day >= start_day) & (PlayBulletinDay.day <= end_day)).group_by(
                PlayBulletinDay.commune, PlayBulletinDay.day)
            if len(codes) < 50:
                counted = counted.where(PlayBulletinDay.commune.in_(codes))
            for code, day, count in session.execute(counted):
                row = rows.get((code, day))
                if row is not None:
                    row["bulletins"] = count
            if scheduled:
                self._scheduled(session, rows, codes, start_day, end_day)
        for row in rows.values():
            row["seconds"] = round(row["seconds"], 1)
        return sorted(rows.values(), key=lambda r: (r["commune"], r["date"]))

    # --- the monthly report -----------------------------------------------------------------------

    def report(self, principal: Principal, month: str | None = None, commune: str | None = None) -> dict[str, Any]:
        """The month's report upward, per commune and in total (see docs/monitoring.md)."""
        principal.require(*WATCHERS)
        if principal.role == "operator":
            if commune and commune != principal.commune:
                raise NotFound("no such commune")
            commune = principal.commune
        first, last = _month(month)
        start = datetime.combine(first, time(0), LOCAL_TZ).astimezone(utc)
        end = datetime.combine(last + timedelta(days=1), time(0), LOCAL_TZ).astimezone(utc)
        now = utcnow()
        with self.reading() as session:
            names = dict(session.execute(select(Commune.code, Commune.name).order_by(Commune.code)).all())
            if commune and commune not in names:
                raise NotFound("no such commune")
            codes = [commune] if commune else list(names)
            rows = {code: {"commune": code, "name": names[code], "devices": 0, "availability_pct": None,
                           "bulletins": 0, "plays": 0, "airtime_minutes": 0.0, "emergency_broadcasts": 0,
                           "emergency_time_to_air_median_s": None, "emergency_time_to_air_max_s": None,
                           "interrupted": 0, "failed": 0} for code in codes}
            in_month = (PlayDay.day >= first) & (PlayDay.day <= last)
            sums = select(PlayDay.commune, func.sum(PlayDay.plays), func.sum(PlayDay.seconds),
                          func.sum(PlayDay.interrupted), func.sum(PlayDay.failed)).where(in_month).group_by(
                PlayDay.commune)
            if commune:
                sums = sums.where(PlayDay.commune == commune)
            seconds_total = 0.0
            for code, plays, seconds, interrupted, failed in session.execute(sums):
                if code in rows:
                    rows[code].update(plays=int(plays or 0), airtime_minutes=(seconds or 0.0) / 60,
                                      interrupted=int(interrupted or 0), failed=int(failed or 0))
                    seconds_total += seconds or 0.0
            played = select(PlayBulletinDay.commune, PlayBulletinDay.bulletin_id, PlayBulletinDay.priority,
                            func.min(PlayBulletinDay.first_started_at)).where(
                (PlayBulletinDay.day >= first) & (PlayBulletinDay.day <= last)).group_by(
                PlayBulletinDay.commune, PlayBulletinDay.bulletin_id, PlayBulletinDay.priority)
            if commune:
                played = played.where(PlayBulletinDay.commune == commune)
            aired: set[str] = set()
            first_play: dict[str, dict[str, datetime]] = defaultdict(dict)  # emergency -> commune -> first
            for code, bulletin_id, priority, started in session.execute(played):
                if code not in rows:
                    continue
                rows[code]["bulletins"] += 1
                aired.add(bulletin_id)
                if priority == "emergency":
                    known = first_play[bulletin_id].get(code)
                    first_play[bulletin_id][code] = started if known is None else min(known, started)
            emergencies = []
            per_commune_waits: dict[str, list[float]] = defaultdict(list)
            if first_play:
                info = session.execute(select(Bulletin.id, Bulletin.approved_at, Revision.title).join(
                    Revision, (Revision.bulletin_id == Bulletin.id) & (Revision.revision == Bulletin.revision)).where(
                    Bulletin.id.in_(list(first_play)))).all()
                for bulletin_id, approved_at, title in info:
                    firsts = first_play[bulletin_id]
                    waits = {}
                    for code, started in firsts.items():
                        rows[code]["emergency_broadcasts"] += 1
                        if approved_at is not None and started >= approved_at:
                            waits[code] = (started - approved_at).total_seconds()
                            per_commune_waits[code].append(waits[code])
                    earliest = min(firsts.values())
                    emergencies.append({
                        "bulletin_id": bulletin_id, "title": title, "approved_at": approved_at,
                        "first_played_at": earliest,
                        "time_to_air_s": round((earliest - approved_at).total_seconds(), 1)
                        if approved_at is not None and earliest >= approved_at else None,
                        "time_to_air_max_s": round(max(waits.values()), 1) if waits else None,
                        "communes": len(firsts)})
                emergencies.sort(key=lambda e: e["first_played_at"])
            for code, waits in per_commune_waits.items():
                rows[code]["emergency_time_to_air_median_s"] = round(statistics.median(waits), 1)
                rows[code]["emergency_time_to_air_max_s"] = round(max(waits), 1)
            # Availability: seconds online over the seconds each active device existed this month.
            devices = select(Device.id, Device.commune, Device.created_at).where(Device.active)
            if commune:
                devices = devices.where(Device.commune == commune)
            expected: dict[str, float] = defaultdict(float)
            device_commune = {}
            for device_id, code, created_at in session.execute(devices):
                if code not in rows:
                    continue
                rows[code]["devices"] += 1
                device_commune[device_id] = code
                span = (min(end, now) - max(start, created_at or start)).total_seconds()
                expected[code] += max(0.0, span)
            online: dict[str, float] = defaultdict(float)
            online_query = select(DeviceDay.device_id, func.sum(DeviceDay.online_s)).where(
                (DeviceDay.day >= first) & (DeviceDay.day <= last)).group_by(DeviceDay.device_id)
            if commune:
                online_query = online_query.where(DeviceDay.commune == commune)
            for device_id, seconds in session.execute(online_query):
                code = device_commune.get(device_id)
                if code is not None:
                    online[code] += seconds or 0.0
            for code, row in rows.items():
                if expected[code] > 0:
                    row["availability_pct"] = round(min(100.0, 100 * online[code] / expected[code]), 1)
                row["airtime_minutes"] = round(row["airtime_minutes"], 1)
        all_waits = [w for waits in per_commune_waits.values() for w in waits]
        total_expected = sum(expected.values())
        totals = {
            "communes": len(rows), "devices": sum(r["devices"] for r in rows.values()),
            "availability_pct": round(min(100.0, 100 * sum(online.values()) / total_expected), 1)
            if total_expected > 0 else None,
            "bulletins": len(aired), "plays": sum(r["plays"] for r in rows.values()),
            "airtime_minutes": round(seconds_total / 60, 1), "emergency_broadcasts": len(emergencies),
            "emergency_time_to_air_median_s": round(statistics.median(all_waits), 1) if all_waits else None,
            "emergency_time_to_air_max_s": round(max(all_waits), 1) if all_waits else None,
            "interrupted": sum(r["interrupted"] for r in rows.values()),
            "failed": sum(r["failed"] for r in rows.values()),
        }
        return {"month": first.strftime("%Y-%m"), "from": first.isoformat(), "to": last.isoformat(),
                "scope": commune or "province", "generated_at": now, "totals": totals,
                "communes": list(rows.values()), "emergencies": emergencies}

    # --- what the monitor page shows --------------------------------------------------------------

    def overview(self, principal: Principal, commune: str | None = None, days: int = 14) -> dict[str, Any]:
        """Devices online now per commune, the ones offline longest first, and the last ``days``
        days of airtime (per commune and day, and per day in total)."""
        principal.require(*WATCHERS)
        if principal.role == "operator" and commune and commune != principal.commune:
            raise NotFound("no such commune")
        with self.reading() as session:
            names = dict(session.execute(select(Commune.code, Commune.name)).all())
        if commune and commune not in names:
            raise NotFound("no such commune")
        devices = self.devices(principal, commune)
        today = local_today()
        rows = self.airtime(principal, (today - timedelta(days=days - 1)).isoformat(), today.isoformat(), commune)
        per_commune: dict[str, dict[str, Any]] = {}
        for code in sorted({r["commune"] for r in rows} | {d["commune"] for d in devices}):
            per_commune[code] = {"commune": code, "name": names.get(code, code), "devices": 0, "online": 0,
                                 "plays": 0, "seconds": 0.0, "emergency_plays": 0, "scheduled": 0,
                                 "interrupted": 0, "failed": 0, "today_seconds": 0.0}
        for device in devices:
            per_commune[device["commune"]]["devices"] += 1
            per_commune[device["commune"]]["online"] += bool(device["online"])
        per_day: dict[str, dict[str, Any]] = {}
        for row in rows:
            one = per_commune[row["commune"]]
            for name in ("plays", "seconds", "emergency_plays", "scheduled", "interrupted", "failed"):
                one[name] += row[name]
            if row["date"] == today.isoformat():
                one["today_seconds"] += row["seconds"]
            day = per_day.setdefault(row["date"], {"date": row["date"], "plays": 0, "seconds": 0.0,
                                                   "emergency_plays": 0, "scheduled": 0, "interrupted": 0,
                                                   "failed": 0})
            for name in ("plays", "seconds", "emergency_plays", "scheduled", "interrupted", "failed"):
                day[name] += row[name]
        never = datetime.min.replace(tzinfo=utc)
        offline = sorted((d for d in devices if not d["online"]), key=lambda d: (d["last_seen"] or never, d["name"]))
        for device in offline:
            device["commune_name"] = names.get(device["commune"], device["commune"])
        return {"commune": commune, "name": names.get(commune) if commune else None, "today": today.isoformat(),
                "devices": len(devices), "online": sum(1 for d in devices if d["online"]),
                "communes": list(per_commune.values()), "days": [per_day[k] for k in sorted(per_day)],
                "rows": rows, "offline": offline, "device_list": devices}

    def bulletin_plays(self, principal: Principal, bulletin_id: str, limit: int = 500) -> dict[str, Any]:
        """Where and when one bulletin played, and where it did not: per targeted commune its
        plays, and the active devices there that never played it."""
        principal.require(*WATCHERS)
        with self.reading() as session:
            found = session.execute(select(Bulletin, Revision).join(Revision, (Revision.bulletin_id == Bulletin.id) & (
                Revision.revision == Bulletin.revision)).where(Bulletin.id == bulletin_id)).first()
            if found is None:
                raise NotFound("no such bulletin")
            bulletin, revision = found
            names = dict(session.execute(select(Commune.code, Commune.name)).all())
            targets = set(session.scalars(select(BulletinTarget.commune).where(
                BulletinTarget.bulletin_id == bulletin_id))) or set(revision.targets or [])
            targeted = set(names) if "*" in targets else {t for t in targets if t in names}
            reports = select(PlayReport, Device.name).join(Device, Device.id == PlayReport.device_id).where(
                PlayReport.bulletin_id == bulletin_id).order_by(PlayReport.started_at.desc())
            devices = select(Device.id, Device.name, Device.commune).where(Device.active)
            if principal.role == "operator":
                reports = reports.where(PlayReport.commune == principal.commune)
                devices = devices.where(Device.commune == principal.commune)
            plays = [{"device_id": r.device_id, "device": name, "commune": r.commune, "started_at": r.started_at,
                      "ended_at": r.ended_at, "seconds": round(_heard(r), 1),
                      "result": r.result} for r, name in session.execute(reports)]
            played_in = {p["commune"] for p in plays}
            if principal.role == "operator":
                if principal.commune not in targeted and principal.commune not in played_in:
                    raise NotFound("no such bulletin")
                targeted &= {principal.commune}
            scope = targeted | played_in
            devices = [d for d in session.execute(devices) if d.commune in scope]
        per: dict[str, dict[str, Any]] = {code: {
            "commune": code, "name": names.get(code, code), "targeted": code in targeted, "plays": 0,
            "seconds": 0.0, "failed": 0, "first": None, "last": None, "devices_played": set(),
            "devices_missing": []} for code in sorted(scope)}
        for play in plays:
            row = per[play["commune"]]
            if play["result"] == "failed":
                row["failed"] += 1
                continue
            row["plays"] += 1
            row["seconds"] += play["seconds"]
            row["devices_played"].add(play["device_id"])
            row["first"] = play["started_at"] if row["first"] is None else min(row["first"], play["started_at"])
            row["last"] = play["started_at"] if row["last"] is None else max(row["last"], play["started_at"])
        for device in devices:
            row = per[device.commune]
            if device.id not in row["devices_played"]:
                row["devices_missing"].append({"id": device.id, "name": device.name})
        communes = []
        for row in per.values():
            row["devices_played"] = len(row["devices_played"])
            row["seconds"] = round(row["seconds"], 1)
            communes.append(row)
        return {"id": bulletin.id, "title": revision.title, "priority": revision.priority,
                "status": bulletin.status, "approved_at": bulletin.approved_at, "communes": communes,
                "not_played": [r["commune"] for r in communes if r["targeted"] and r["plays"] == 0],
                "plays": plays[:limit], "plays_total": len(plays)}


utc = timezone.utc


def _seconds(started: datetime, ended: datetime) -> float:
    return max(0.0, (ended - started).total_seconds())


def _heard(report: PlayReport) -> float:
    """The seconds a play was on the air: for a stream (relay, live) what the device says it really
    heard (``heard_s``: the time spent reconnecting within the slot is not airtime), never more than
    the span it reports; for a file, the span."""
    span = _seconds(report.started_at, report.ended_at)
    return span if report.heard_s is None else min(span, report.heard_s)


def _empty_rows(codes: list[str], start_day: date, end_day: date) -> dict[tuple[str, date], dict[str, Any]]:
    rows: dict[tuple[str, date], dict[str, Any]] = {}
    for code in codes:
        day = start_day
        while day <= end_day:
            rows[(code, day)] = {"commune": code, "date": day.isoformat(), "plays": 0, "seconds": 0.0,
                                 "bulletins": 0, "emergency_plays": 0, "interrupted": 0, "failed": 0,
                                 "scheduled": 0}
            day += timedelta(days=1)
    return rows


def _month(value: str | None) -> tuple[date, date]:
    """The first and last local day of ``YYYY-MM`` (default: this month)."""
    if value is None:
        today = local_today()
        first = today.replace(day=1)
    else:
        try:
            first = datetime.strptime(value, "%Y-%m").date()
        except ValueError:
            raise Invalid(f"month must be YYYY-MM, got {value!r}") from None
        sane_date("month", first)  # 9999-12 has no following month: it overflowed (a 500)
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)


# --- keeping the roll-ups current (called inside the writer's transaction) -------------------------

def _upsert(session: Session, model: Any, keys: dict[str, Any], adds: dict[str, float],
            least: dict[str, Any] | None = None, values: dict[str, Any] | None = None) -> None:
    """Insert a roll-up row, or add ``adds`` to the one there (and keep the least of ``least``)."""
    least = least or {}
    values = values or {}
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        table = model.__table__
        statement = insert(table).values(**keys, **values, **adds, **least)
        change = {name: table.c[name] + statement.excluded[name] for name in adds}
        change.update({name: func.min(table.c[name], statement.excluded[name]) if dialect == "sqlite"
                       else func.least(table.c[name], statement.excluded[name]) for name in least})
        session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=change))
        return
    row = session.get(model, tuple(keys.values()))
    if row is None:
        session.add(model(**keys, **values, **adds, **least))
        session.flush()
        return
    for name, amount in adds.items():
        setattr(row, name, getattr(row, name) + amount)
    for name, moment in least.items():
        setattr(row, name, min(getattr(row, name), moment))


def roll_up_plays(session: Session, reports: list[PlayReport]) -> None:
    """Add newly stored play reports to ``play_days`` and ``play_bulletin_days``."""
    days: dict[tuple[str, date], dict[str, float]] = {}
    bulletins: dict[tuple[str, date, str], dict[str, Any]] = {}
    for report in reports:
        day = report.started_at.astimezone(LOCAL_TZ).date()
        row = days.setdefault((report.commune, day), {"plays": 0, "seconds": 0.0, "emergency_plays": 0,
                                                      "interrupted": 0, "failed": 0})
        if report.result == "failed":
            row["failed"] += 1
            continue
        seconds = _heard(report)
        row["plays"] += 1
        row["seconds"] += seconds
        row["interrupted"] += report.result == "interrupted"
        row["emergency_plays"] += report.priority == "emergency"
        if report.bulletin_id:
            one = bulletins.setdefault((report.commune, day, report.bulletin_id), {
                "plays": 0, "seconds": 0.0, "first": report.started_at, "priority": report.priority})
            one["plays"] += 1
            one["seconds"] += seconds
            one["first"] = min(one["first"], report.started_at)
    for (code, day), adds in days.items():
        _upsert(session, PlayDay, {"commune": code, "day": day}, adds)
    for (code, day, bulletin_id), one in bulletins.items():
        _upsert(session, PlayBulletinDay, {"commune": code, "day": day, "bulletin_id": bulletin_id},
                {"plays": one["plays"], "seconds": one["seconds"]},
                least={"first_started_at": one["first"].astimezone(utc)}, values={"priority": one["priority"]})


def credit_online(session: Session, device: Device, previous: datetime | None, now: datetime,
                  limit_s: float) -> None:
    """Count the time since the device's last heartbeat as online, split over local days, when
    that heartbeat was at most ``limit_s`` ago (else the device was offline in between)."""
    if previous is None or now <= previous or (now - previous).total_seconds() > limit_s:
        return
    start = previous.astimezone(LOCAL_TZ)
    stop = now.astimezone(LOCAL_TZ)
    while start < stop:
        midnight = datetime.combine(start.date() + timedelta(days=1), time(0), LOCAL_TZ)
        piece_end = min(stop, midnight)
        _upsert(session, DeviceDay, {"device_id": device.id, "day": start.date()},
                {"online_s": (piece_end - start).total_seconds()}, values={"commune": device.commune})
        start = piece_end


# --- exports: CSV (UTF-8 with a BOM, so Excel reads the Vietnamese) and XLSX (openpyxl) -------------

AIRTIME_COLUMNS = ("commune", "date", "plays", "seconds", "bulletins", "emergency_plays", "interrupted",
                   "failed", "scheduled")
#: The report's columns, with the headings the department's sheet shows.
REPORT_COLUMNS = (
    ("commune", "Mã xã"), ("name", "Xã/phường"), ("devices", "Số thiết bị"),
    ("availability_pct", "Thiết bị hoạt động (% thời gian)"), ("bulletins", "Số bản tin đã phát"),
    ("plays", "Số lượt phát"), ("airtime_minutes", "Thời lượng phát (phút)"),
    ("emergency_broadcasts", "Số tin khẩn cấp"),
    ("emergency_time_to_air_median_s", "Thời gian lên sóng tin khẩn, trung vị (giây)"),
    ("emergency_time_to_air_max_s", "Thời gian lên sóng tin khẩn, lâu nhất (giây)"),
    ("interrupted", "Lượt bị ngắt"), ("failed", "Lượt phát lỗi"),
)
EMERGENCY_COLUMNS = (
    ("bulletin_id", "Mã bản tin"), ("title", "Tiêu đề"), ("approved_at", "Duyệt lúc"),
    ("first_played_at", "Phát đầu tiên lúc"), ("time_to_air_s", "Thời gian lên sóng (giây)"),
    ("time_to_air_max_s", "Lâu nhất tới một xã (giây)"), ("communes", "Số xã đã phát"),
)
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv; charset=utf-8"


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).isoformat(timespec="seconds")
    return "" if value is None else value


def airtime_csv(rows: list[dict[str, Any]]) -> bytes:
    return _csv(list(AIRTIME_COLUMNS), [[_cell(r[c]) for c in AIRTIME_COLUMNS] for r in rows])


def report_csv(report: dict[str, Any]) -> bytes:
    keys = [k for k, _ in REPORT_COLUMNS]
    lines = [[_cell(r[k]) for k in keys] for r in report["communes"]]
    totals = report["totals"]
    lines.append(["*", "Toàn tỉnh" if report["scope"] == "province" else "Tổng"] + [
        _cell(totals.get(k)) for k in keys[2:]])
    return _csv([h for _, h in REPORT_COLUMNS], lines)


def _sheet(workbook: Any, title: str, header: list[str], rows: list[list[Any]], widths: list[int],
           formats: dict[int, str], first: bool = False) -> Any:
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    sheet = workbook.active if first else workbook.create_sheet()
    sheet.title = title
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        sheet.append(row)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    for index, number_format in formats.items():
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            cell.number_format = number_format
    sheet.freeze_panes = "A2"
    if rows:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{len(rows) + 1}"
    return sheet


def _xlsx_bytes(workbook: Any) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _naive_local(value: Any) -> Any:
    """Excel has no time zones: a moment as the province's wall-clock time."""
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).replace(tzinfo=None)
    return value


def airtime_xlsx(rows: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    data = [[r["commune"], date.fromisoformat(r["date"])] + [r[c] for c in AIRTIME_COLUMNS[2:]] for r in rows]
    _sheet(workbook, "airtime", list(AIRTIME_COLUMNS), data, [14, 12, 9, 11, 10, 16, 12, 9, 11],
           {2: "dd/mm/yyyy", 4: "#,##0.0"}, first=True)
    return _xlsx_bytes(workbook)


def report_xlsx(report: dict[str, Any]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    keys = [k for k, _ in REPORT_COLUMNS]
    data = [[r[k] for k in keys] for r in report["communes"]]
    totals = report["totals"]
    data.append(["*", "Toàn tỉnh" if report["scope"] == "province" else "Tổng"] + [totals.get(k) for k in keys[2:]])
    sheet = _sheet(workbook, f"Báo cáo {report['month']}", [h for _, h in REPORT_COLUMNS], data,
                   [12, 28, 11, 16, 12, 11, 14, 12, 18, 18, 11, 11],
                   {4: "0.0", 7: "#,##0.0", 9: "#,##0.0", 10: "#,##0.0"}, first=True)
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    sheet.row_dimensions[1].height = 45
    emergencies = [[_naive_local(e[k]) for k, _ in EMERGENCY_COLUMNS] for e in report["emergencies"]]
    _sheet(workbook, "Tin khẩn cấp", [h for _, h in EMERGENCY_COLUMNS], emergencies, [34, 40, 17, 17, 14, 14, 12],
           {3: "dd/mm/yyyy hh:mm", 4: "dd/mm/yyyy hh:mm", 5: "#,##0.0", 6: "#,##0.0"})
    return _xlsx_bytes(workbook)
