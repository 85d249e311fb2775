"""PlayHistory over a real SQLite store, with plays made through the real play-report service."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from hub.auth import Principal
from hub.bulletins import Content
from hub.clock import LOCAL_TZ, local_today
from hub.errors import Forbidden, NotFound
from hub.services.devices import Play
from tests.plugins.console_client import PASSWORD


@pytest.fixture
def world(hub):
    d = hub.services.directory
    d.add_commune(None, "A", "Xã Ái")
    d.add_commune(None, "B", "Xã Bé")
    d.add_commune(None, "C", "Xã Có")  # no devices
    people = {}
    for name, role, commune in (("bientap", "editor", None), ("bientap2", "editor", None), ("giamsat", "monitor", None),
                                ("vanhanh", "operator", "A")):
        d.add_user(None, name, role, commune, password=PASSWORD)
        people[name] = hub.services.sessions.sign_in(name, PASSWORD, ip=None, user_agent=None)[1]
    devices = {}
    for name, commune in (("a1", "A"), ("a2", "A"), ("b1", "B")):
        record = d.register_device(None, f"Loa {name}", commune)
        devices[name] = Principal(record["id"], f"Loa {name}", "device", commune, "speaker")
    return people, devices


def approved(hub, people, title, targets, priority="normal"):
    s = hub.services.bulletins
    view, _ = s.create(people["bientap"], Content(title=title, body=f"Nội dung {title}.", priority=priority,
                                                  channels=["speaker"], targets=targets))
    s.submit(people["bientap"], view["id"])
    return s.approve(people["bientap2"], view["id"])["id"]


def play(hub, device, bulletin_id, started, seconds=30.0, result="played"):
    report = Play(str(uuid.uuid4()), None, bulletin_id, started, started + timedelta(seconds=seconds), result)
    assert hub.services.devices.record_plays(device, [report]) == {"accepted": 1, "duplicates": 0}


def today_at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(local_today(), datetime.min.time(), LOCAL_TZ).replace(hour=hour, minute=minute)


def test_online_counts_per_commune(hub, world):
    people, devices = world
    history = hub.services.history
    hub.services.devices.heartbeat(devices["a1"], "idle", 80, {"agent": "grassroots-hub-agent/1.0"})
    counts = {r["commune"]: r for r in history.online_counts(people["giamsat"])}
    assert counts["A"] == {"commune": "A", "name": "Xã Ái", "devices": 2, "online": 1, "offline": 1}
    assert counts["B"]["online"] == 0 and counts["B"]["offline"] == 1
    assert counts["C"]["devices"] == 0
    assert [r["commune"] for r in history.online_counts(people["vanhanh"])] == ["A"]


def test_offline_longest_first_never_seen_before_all(hub, world):
    people, devices = world
    history = hub.services.history
    hub.services.devices.heartbeat(devices["a2"], "idle", 50, {})
    hub.services.devices.heartbeat(devices["b1"], "idle", 50, {})
    from hub.models import Device
    with hub.store.session() as session:  # a2 silent for an hour, b1 for ten minutes
        session.get(Device, devices["a2"].id).last_seen = datetime.now(timezone.utc) - timedelta(hours=1)
        session.get(Device, devices["b1"].id).last_seen = datetime.now(timezone.utc) - timedelta(minutes=10)
    assert [d["name"] for d in history.offline(people["giamsat"])] == ["Loa a1", "Loa a2", "Loa b1"]
    assert [d["name"] for d in history.offline(people["vanhanh"])] == ["Loa a1", "Loa a2"]
    hub.services.devices.heartbeat(devices["a1"], "idle", 50, {})
    assert [d["name"] for d in history.offline(people["giamsat"])] == ["Loa a2", "Loa b1"]


def test_commune_devices_with_health_and_todays_plays(hub, world):
    people, devices = world
    history = hub.services.history
    # For A and B: a play report of a bulletin a commune was never given is refused (issue 14).
    bid = approved(hub, people, "Lịch tiêm chủng", ["A", "B"])
    hub.services.devices.heartbeat(devices["a1"], "playing", 70,
                                   {"agent": "grassroots-hub-agent/0.9", "player": "mpg123 -q"})
    play(hub, devices["a1"], bid, today_at(6), 42.5)
    play(hub, devices["a1"], bid, today_at(17, 30), 10, result="interrupted")
    play(hub, devices["a1"], bid, today_at(6) - timedelta(days=1))  # yesterday: not today's
    play(hub, devices["b1"], bid, today_at(7))  # another commune
    rows = {r["name"]: r for r in history.commune_devices(people["vanhanh"], "A")}
    a1 = rows["Loa a1"]
    assert a1["online"] and a1["status"] == "playing" and a1["volume"] == 70
    assert a1["firmware"] == "grassroots-hub-agent/0.9" and a1["player"] == "mpg123 -q"
    assert [(p["result"], p["seconds"]) for p in a1["plays"]] == [("played", 42.5), ("interrupted", 10.0)]
    assert a1["plays"][0]["started_at"] == today_at(6)
    assert rows["Loa a2"]["plays"] == [] and not rows["Loa a2"]["online"] and rows["Loa a2"]["last_seen"] is None
    yesterday = local_today() - timedelta(days=1)
    assert len(history.commune_devices(people["giamsat"], "A", yesterday)[0]["plays"]) == 1


def test_commune_devices_refuses_other_communes(hub, world):
    people, _devices = world
    history = hub.services.history
    with pytest.raises(NotFound):
        history.commune_devices(people["vanhanh"], "B")
    with pytest.raises(NotFound):
        history.commune_devices(people["giamsat"], "NOPE")
    device = Principal("x", "x", "device", "A", "speaker")
    with pytest.raises(Forbidden):
        history.commune_devices(device, "A")


def test_bulletin_plays_across_communes(hub, world):
    people, devices = world
    history = hub.services.history
    bid = approved(hub, people, "Bão số 9", ["*"], priority="emergency")
    other = approved(hub, people, "Tin khác", ["*"])
    play(hub, devices["a1"], bid, today_at(8))
    play(hub, devices["b1"], bid, today_at(9), result="failed")
    play(hub, devices["a2"], other, today_at(10))
    plays = history.bulletin_plays(people["giamsat"], bid)
    assert [(p["device_name"], p["commune"], p["result"], p["priority"]) for p in plays] == [
        ("Loa b1", "B", "failed", "emergency"), ("Loa a1", "A", "played", "emergency")]
    assert [p["commune"] for p in history.bulletin_plays(people["vanhanh"], bid)] == ["A"]
    assert history.bulletin_plays(people["giamsat"], "unknown") == []


def test_played_bulletins_most_recent_first(hub, world):
    people, devices = world
    history = hub.services.history
    first = approved(hub, people, "Lịch tiêm chủng", ["*"])
    second = approved(hub, people, "Bão số 9", ["*"], priority="emergency")
    play(hub, devices["a1"], first, today_at(6))
    play(hub, devices["b1"], first, today_at(7), result="failed")
    play(hub, devices["b1"], second, today_at(9))
    play(hub, devices["a2"], second, today_at(6) - timedelta(days=3))  # before the period
    today = local_today()
    rows = history.played_bulletins(people["giamsat"], today, today)
    assert [(r["title"], r["priority"], r["plays"], r["failed"], r["communes"]) for r in rows] == [
        ("Bão số 9", "emergency", 1, 0, 1), ("Lịch tiêm chủng", "normal", 1, 1, 2)]
    assert rows[0]["last_played"] == today_at(9)
    mine = history.played_bulletins(people["vanhanh"], today - timedelta(days=3), today)
    assert [(r["title"], r["plays"], r["failed"]) for r in mine] == [("Lịch tiêm chủng", 1, 0), ("Bão số 9", 1, 0)]
