"""Device availability in the monthly report (docs/monitoring.md: seconds online over the seconds
each active device existed in the month), against figures known by construction: heartbeats
made at chosen moments through the real heartbeat path (DeviceService.heartbeat, whose clock is
the only thing set here), with a gap longer than HUB_OFFLINE_AFTER_S and one crossing into the
next month."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hub.auth import Principal
from hub.clock import LOCAL_TZ, local_today
from hub.models import Device


def last_month() -> tuple[str, date]:
    first_of_this = local_today().replace(day=1)
    last_day = first_of_this - timedelta(days=1)
    return last_day.strftime("%Y-%m"), last_day


def beats(hub, monkeypatch, device: Principal, start: datetime, every_s: float, until: datetime) -> None:
    """Heartbeats from ``start`` every ``every_s`` seconds while before or at ``until``."""
    moment = start
    while moment <= until:
        monkeypatch.setattr("hub.services.devices.utcnow", lambda at=moment: at)
        hub.services.devices.heartbeat(device, "idle", 60, {})
        moment += timedelta(seconds=every_s)


def test_availability_is_the_share_of_the_month_online(hub, client, monkeypatch):
    month, last_day = last_month()
    evening = datetime.combine(last_day, time(18), LOCAL_TZ)
    d = hub.services.directory
    d.add_commune(None, "A", "Xã Ái")
    d.add_commune(None, "B", "Xã Bé")
    made = {name: d.register_device(None, name, commune) for name, commune in (
        ("loa-x", "A"), ("loa-y", "A"), ("loa-z", "B"))}
    # Each device came into being at 18:00 on the month's last day: 6 h = 21,600 s to be online.
    with hub.store.session() as session:
        for record in made.values():
            session.get(Device, record["id"]).created_at = evening
    device = {name: Principal(r["id"], name, "device", "A" if name != "loa-z" else "B", "speaker")
              for name, r in made.items()}
    limit = hub.settings.offline_after_s
    assert limit >= 180
    # loa-x: 2 h of heartbeats every 150 s, a 10-minute silence (longer than the limit: offline),
    # then 1 h more: 7,200 + 3,600 = 10,800 s online.
    beats(hub, monkeypatch, device["loa-x"], evening, 150, evening + timedelta(hours=2))
    beats(hub, monkeypatch, device["loa-x"], evening + timedelta(hours=2, minutes=10), 150,
          evening + timedelta(hours=3, minutes=10))
    # loa-y: one heartbeat, nothing before it to credit: 0 s.
    beats(hub, monkeypatch, device["loa-y"], evening, 150, evening)
    # loa-z: every 180 s (the limit itself still counts) from 18:00 to 00:30 the next day: the
    # month gets 6 h = 21,600 s, the next month's half hour is not this month's.
    beats(hub, monkeypatch, device["loa-z"], evening, 180, evening + timedelta(hours=6, minutes=30))
    monkeypatch.undo()

    watcher = Principal("monitor-1", "giamsat", "monitor", None, None)
    report = hub.services.monitoring.report(watcher, month)
    rows = {r["commune"]: r for r in report["communes"]}
    assert rows["A"]["devices"] == 2 and rows["B"]["devices"] == 1
    assert rows["A"]["availability_pct"] == 25.0          # 10,800 / (2 × 21,600)
    assert rows["B"]["availability_pct"] == 100.0         # 21,600 / 21,600
    assert report["totals"]["availability_pct"] == 50.0   # 32,400 / (3 × 21,600)
    assert hub.services.monitoring.report(watcher, month, "A")["totals"]["availability_pct"] == 25.0
    # The files say the same, as numbers.
    from hub.services.monitoring import report_csv

    text = report_csv(report).decode("utf-8-sig").splitlines()
    assert text[0].split(",")[3] == "Thiết bị hoạt động (% thời gian)"
    assert [line.split(",")[3] for line in text[1:]] == ["25.0", "100.0", "50.0"]

