"""Issue 14: play reports are checked against what the device was given, and absurd times and
dates are 422s, never 500s (year 1 and 9999 overflowed)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from hub.clock import utcnow


def _play(bid=None, start=None, seconds=30.0, **overrides):
    start = start or utcnow() - timedelta(minutes=10)
    play = {"report_id": str(uuid.uuid4()), "item_id": "i1", "bulletin_id": bid, "started_at": start.isoformat(),
            "ended_at": (start + timedelta(seconds=seconds)).isoformat(), "result": "played"}
    play.update(overrides)
    return play


def _seconds(desk, commune):
    monitor = desk.people.user(f"gs-{uuid.uuid4().hex[:6]}", "monitor")
    rows = desk.client.get("/api/v1/monitor/airtime", params={"from": "2000-01-01", "to": "2000-12-31"},
                           headers=monitor)
    assert rows.status_code == 200
    start = (utcnow() - timedelta(days=300)).date().isoformat()
    rows = desk.client.get("/api/v1/monitor/airtime", params={"from": start, "commune": commune},
                           headers=monitor).json()
    return sum(r["seconds"] for r in rows), sum(r["plays"] for r in rows)


#: Times that overflowed (year 1 moved to UTC, year 9999 moved a day on): each a 422 of its own.
ABSURD_TIMES = [
    {"started_at": "0001-01-01T00:00:00+07:00", "ended_at": "0001-01-01T00:01:00+07:00"},
    {"ended_at": "9999-12-31T23:59:59-07:00"},
    {"started_at": "9999-12-31T23:00:00+00:00", "ended_at": "9999-12-31T23:59:59+00:00"},
]
#: Airtime ranges far outside any broadcast.
ABSURD_RANGES = [{"from": "9999-01-01", "to": "9999-12-31"}, {"from": "0001-01-01", "to": "0001-01-02"},
                 {"to": "9999-12-31"}]


def test_plays_in_year_1_or_9999_are_422_and_store_nothing(desk):
    speaker = desk.people.device("loa-a", "A")
    for times in ABSURD_TIMES:
        r = desk.client.post("/api/v1/device/plays", json={"plays": [_play(), _play(**times)]}, headers=speaker)
        assert r.status_code == 422 and "out of range" in str(r.json()["detail"]), times
    assert _seconds(desk, "A") == (0, 0)


def test_airtime_far_outside_any_broadcast_is_422(desk):
    monitor = desk.people.user("gs", "monitor")
    for params in ABSURD_RANGES:
        for path in ("/api/v1/monitor/airtime", "/api/v1/monitor/airtime.csv"):
            r = desk.client.get(path, params=params, headers=monitor)
            assert r.status_code == 422 and "between 2000-01-01 and 2199-12-31" in r.json()["detail"], (path, params)
    r = desk.client.get("/api/v1/monitor/report", params={"month": "9999-12"}, headers=monitor)
    assert r.status_code == 422 and "month" in r.json()["detail"]


def test_a_play_is_counted_only_as_far_as_the_device_was_given_it(desk):
    speaker = desk.people.device("loa-a", "A")
    mine = desk.approved(targets=["A"])  # QuickMedia: 2 s of audio
    theirs = desk.approved(targets=["B"])
    now = utcnow()
    plays = [
        _play(mine, seconds=2.1),                                   # as given: counted as it is
        _play(mine, seconds=86_400 * 3),                            # three days of a 2 s bulletin: clipped
        _play(theirs),                                              # never given to A: refused
        _play("no-such-bulletin"),                                  # refused
        _play(mine, start=now + timedelta(days=2)),                 # starts the day after tomorrow: refused
        _play(mine, start=now - timedelta(days=500)),               # older than any device keeps: refused
        _play(None, start=now - timedelta(hours=30), seconds=86_400),  # a relay of a day: clipped to 12 h
    ]
    r = desk.client.post("/api/v1/device/plays", json={"plays": plays}, headers=speaker)
    assert r.status_code == 200
    assert r.json() == {"accepted": 3, "duplicates": 0, "refused": 4, "clipped": 2}
    metrics = desk.client.get("/metrics").text
    assert "hub_play_reports_refused_total 4.0" in metrics and "hub_play_reports_clipped_total 2.0" in metrics
    seconds, count = _seconds(desk, "A")
    assert count == 3
    assert seconds == pytest.approx(2.1 + (2.0 + 180) + 12 * 3600, abs=0.5)
    # The same batch again: the accepted ones are duplicates, the refused ones refused again.
    again = desk.client.post("/api/v1/device/plays", json={"plays": plays}, headers=speaker).json()
    assert again == {"accepted": 0, "duplicates": 3, "refused": 4}
    # Another commune's device may report the other bulletin.
    other = desk.people.device("loa-b", "B")
    assert desk.client.post("/api/v1/device/plays", json={"plays": [_play(theirs, seconds=2)]},
                            headers=other).json() == {"accepted": 1, "duplicates": 0}
