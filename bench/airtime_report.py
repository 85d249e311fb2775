"""Benchmark (issue 12): the monthly report and the airtime exports over a month of play reports.

Builds a store (SQLite, migrated to head) with --communes (200) communes and --devices (2,000)
loudspeakers, and last month's play reports: --plays-per-day (4) plays per device and local day
over 12 bulletins, about 1 in 40 interrupted and 1 in 100 failed, each device's month sent as one
batch through DeviceService.record_plays (the play-report path, roll-ups included; no HTTP).
Then, --repeat (7) times each, it times through the services (what the API routes call):

  report            MonitoringService.report for the month, the province and one commune
  report.xlsx/.csv  the same, and the file made from it
  airtime(.csv/.xlsx)  MonitoringService.airtime over the month (from the roll-ups), and its files
  airtime_raw       the same answer counted from every play report (the reference; 3 calls)

and the write paths with and without the roll-up write (its function replaced by a no-op):
heartbeat (DeviceService.heartbeat, one device after another, each a few seconds after its previous one,
so the online time is credited) and a play-report batch of 8 plays.

    .venv/bin/python -m bench.airtime_report     # prints figures; the last line is one JSON object
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any, Callable

from hub import accounts
from hub.auth import Principal
from hub.bulletins import Content
from hub.clock import LOCAL_TZ, local_today
from hub.config import Settings
from hub.runtime import Hub
from hub.services import devices as devices_module
from hub.services import monitoring as m
from hub.services.devices import Play


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered) + 0.5) - 1))]
    return {"median_ms": round(statistics.median(ordered) * 1000, 2), "p95_ms": round(p95 * 1000, 2),
            "n": len(ordered)}


def _time(call: Callable[[], Any], repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return _stats(samples)


def _last_month() -> tuple[date, date]:
    first_this = local_today().replace(day=1)
    last = first_this - timedelta(days=1)
    return last.replace(day=1), last


def _approved_bulletins(hub: Hub, count: int) -> list[str]:
    """Approved bulletins for every commune: the hub refuses plays of a bulletin a device was never
    given (issue 14), so the reports name real ones. Made once, then found again."""
    with hub.store.reader() as session:
        from sqlalchemy import select

        from hub.models import Bulletin
        found = list(session.scalars(select(Bulletin.id).where(Bulletin.approved_at.is_not(None))
                                     .order_by(Bulletin.created_at, Bulletin.id).limit(count)))
    if len(found) >= count:
        return found
    with hub.store.session() as session:
        author = accounts.add_user(session, "bench-author", "editor", None)
        approver = accounts.add_user(session, "bench-approver", "editor", None)
    who = [hub.services.directory.authenticate(r["token"]) for r in (author, approver)]
    s = hub.services.bulletins
    for n in range(count):
        view, _ = s.create(who[0], Content(title=f"Bản tin {n:02d}", body=f"Nội dung {n:02d}.", priority="normal",
                                           channels=["speaker"], targets=["*"]))
        s.submit(who[0], view["id"])
        found.append(s.approve(who[1], view["id"])["id"])
    return found


def build(hub: Hub, communes: int, devices: int, per_day: int) -> tuple[list[Principal], float, int]:
    codes = [f"X{n:03d}" for n in range(communes)]
    principals: list[Principal] = []
    with hub.store.session() as session:
        for code in codes:
            accounts.add_commune(session, code, f"Xã {code}")
    with hub.store.session() as session:
        for n in range(devices):
            code = codes[n % communes]
            record = accounts.add_device(session, f"loa-{n:04d}", code, "speaker")
            principals.append(Principal(id=record["id"], name=f"loa-{n:04d}", role="device", commune=code))
    first, last = _last_month()
    bulletins = _approved_bulletins(hub, 12)
    slots = [dtime(6 + (13 * k) // per_day, (7 * k) % 60) for k in range(per_day)]
    started = time.perf_counter()
    rows = 0
    for index, device in enumerate(principals):
        plays = []
        day = first
        while day <= last:
            for k, slot in enumerate(slots):
                start = datetime.combine(day, slot, LOCAL_TZ) + timedelta(seconds=index % 50)
                serial = index * 1000 + day.day * 31 + k
                result = "failed" if serial % 100 == 7 else "interrupted" if serial % 40 == 3 else "played"
                length = 0.0 if result == "failed" else 60.0 + (serial % 240)
                plays.append(Play(uuid.uuid4().hex, f"i{k}", bulletins[(day.day + k) % len(bulletins)], start,
                                  start + timedelta(seconds=length), result))
            day += timedelta(days=1)
        hub.services.devices.record_plays(device, plays)
        rows += len(plays)
    return principals, time.perf_counter() - started, rows


def write_paths(hub: Hub, principals: list[Principal], repeat: int) -> dict[str, Any]:
    """Heartbeats and play-report batches with the roll-up write, and with it replaced by a no-op."""
    out: dict[str, Any] = {}
    real_credit, real_roll = devices_module.credit_online, devices_module.roll_up_plays
    sample = principals[:repeat * 10]
    for name in ("with", "without"):
        if name == "without":
            devices_module.credit_online = lambda *a, **k: None
            devices_module.roll_up_plays = lambda *a, **k: None
        try:
            for device in sample:  # a heartbeat just before, so the timed one credits online time
                hub.services.devices.heartbeat(device, "idle", 80, {"status": "idle"})
            beats = []
            for device in sample:
                t0 = time.perf_counter()
                hub.services.devices.heartbeat(device, "idle", 80, {"status": "idle"})
                beats.append(time.perf_counter() - t0)
            batches = []
            for device in sample:
                now = datetime.now(LOCAL_TZ)
                plays = [Play(uuid.uuid4().hex, "i", _approved_bulletins(hub, 1)[0], now - timedelta(minutes=k + 2),
                              now - timedelta(minutes=k + 1), "played") for k in range(8)]
                t0 = time.perf_counter()
                hub.services.devices.record_plays(device, plays)
                batches.append(time.perf_counter() - t0)
        finally:
            devices_module.credit_online, devices_module.roll_up_plays = real_credit, real_roll
        out[f"heartbeat_{name}_rollup"] = _stats(beats)
        out[f"play_report_8_{name}_rollup"] = _stats(batches)
    for path in ("heartbeat", "play_report_8"):
        out[f"{path}_ratio_with_over_without"] = round(
            out[f"{path}_with_rollup"]["median_ms"] / out[f"{path}_without_rollup"]["median_ms"], 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communes", type=int, default=200)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--plays-per-day", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="airtime-bench-") as folder:
        settings = Settings(data_dir=Path(folder) / "var", workers=0, tts_engines=["espeak"])
        hub = Hub.open(settings)
        try:
            principals, load_s, rows = build(hub, args.communes, args.devices, args.plays_per_day)
            first, last = _last_month()
            month = first.strftime("%Y-%m")
            print(f"{rows:,} play reports for {args.devices:,} devices in {args.communes} communes "
                  f"({month}) sent in {load_s:.1f} s ({rows / load_s:,.0f}/s)", flush=True)
            monitor = Principal(id="m", name="gs", role="monitor", commune=None)
            service = hub.services.monitoring
            one = principals[0].commune
            span = (first.isoformat(), last.isoformat())
            figures: dict[str, Any] = {}
            for scope, commune in (("province", None), ("commune", one)):
                figures[f"report_{scope}"] = _time(lambda: service.report(monitor, month, commune), args.repeat)
                figures[f"report.csv_{scope}"] = _time(
                    lambda: m.report_csv(service.report(monitor, month, commune)), args.repeat)
                figures[f"report.xlsx_{scope}"] = _time(
                    lambda: m.report_xlsx(service.report(monitor, month, commune)), args.repeat)
                figures[f"airtime_{scope}"] = _time(lambda: service.airtime(monitor, *span, commune), args.repeat)
                figures[f"airtime.csv_{scope}"] = _time(
                    lambda: m.airtime_csv(service.airtime(monitor, *span, commune)), args.repeat)
                figures[f"airtime.xlsx_{scope}"] = _time(
                    lambda: m.airtime_xlsx(service.airtime(monitor, *span, commune)), args.repeat)
                figures[f"airtime_raw_{scope}"] = _time(
                    lambda: service.airtime_raw(monitor, *span, commune), 3)
            report = service.report(monitor, month)
            assert report["totals"]["plays"] + report["totals"]["failed"] == rows, report["totals"]
            for name, value in figures.items():
                print(f"{name:26s} median {value['median_ms']:9.1f} ms   p95 {value['p95_ms']:9.1f} ms"
                      f"   (n={value['n']})", flush=True)
            writes = write_paths(hub, principals, args.repeat)
            for name, value in writes.items():
                if isinstance(value, dict):
                    print(f"{name:32s} median {value['median_ms']:7.2f} ms   p95 {value['p95_ms']:7.2f} ms"
                          f"   (n={value['n']})")
                else:
                    print(f"{name:32s} {value}")
            print(json.dumps({"rows": rows, "load_s": round(load_s, 1), "month": month, **figures, **writes}))
        finally:
            hub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
