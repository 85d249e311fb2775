"""Airtime's scheduled counts are remembered per schedule generation (MonitoringService
._scheduled_counts), so the console's monitoring pages, polled every 5 s, do not run the
scheduler over every commune and day again: the answer stays the one a fresh resolution gives,
a schedule change is seen at once, and new plays come from the roll-ups on the very next poll."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from hub import manifests
from hub.clock import LOCAL_TZ, local_today
from hub.playlists import PlaylistIn
from tests.plugins.test_console_monitor import approved, play
from tests.plugins.test_console_monitor import world  # noqa: F401 (the fixture)


@pytest.fixture
def resolutions(monkeypatch):
    """How many times the scheduler was run for airtime."""
    calls = []
    real = manifests.scheduled_counts

    def counting(*args, **kwargs):
        calls.append(args[1:])
        return real(*args, **kwargs)

    monkeypatch.setattr("hub.services.monitoring.scheduled_counts", counting)
    return calls


def scheduled(rows, day):
    return {r["commune"]: r["scheduled"] for r in rows if r["date"] == day.isoformat()}


def test_a_poll_reuses_the_schedule_until_it_changes(app, hub, world, resolutions):  # noqa: F811
    people, devices = world
    today = local_today()
    monitor, monitoring = people["giamsat"], hub.services.monitoring
    bid = approved(hub, people, "Lịch tiêm chủng", ["A"])
    while hub.pipeline.run_one():
        pass
    tomorrow = today + timedelta(days=1)
    data = PlaylistIn.model_validate({"name": "Bản tin sáng", "commune": "A", "items": [{"bulletin_id": bid}],
                                      "schedule": {"times": ["06:00", "17:00"], "start_date": tomorrow.isoformat()}})
    hub.services.playlists.create(people["vanhanh"], data)
    first = monitoring.airtime(monitor, today.isoformat(), (today + timedelta(days=2)).isoformat())
    assert scheduled(first, tomorrow) == {"A": 2, "B": 0} and len(resolutions) == 1
    with hub.store.reader() as session:  # the same as resolving afresh
        fresh = manifests.scheduled_counts(session, ["A", "B"], today, today + timedelta(days=2))
    assert {(r["commune"], r["date"]): r["scheduled"] for r in first if r["scheduled"]} == {
        (c, d.isoformat()): n for (c, d), n in fresh.items()}

    # Polls: the scheduler is not run again; a play report shows at once (the roll-ups).
    again = monitoring.airtime(monitor, today.isoformat(), (today + timedelta(days=2)).isoformat())
    assert again == first and len(resolutions) == 1
    started = datetime.combine(today, time(0, 30), LOCAL_TZ)
    play(hub, devices["Loa thôn Một"], bid, started, seconds=42)
    after_play = monitoring.airtime(monitor, today.isoformat(), (today + timedelta(days=2)).isoformat())
    assert len(resolutions) == 1
    [row] = [r for r in after_play if r["commune"] == "A" and r["date"] == today.isoformat()]
    assert row["plays"] == 1 and row["seconds"] == 42.0

    # A schedule change (another time) is seen on the next poll.
    playlist = hub.services.playlists.listing(people["vanhanh"], "A")[0]
    changed = data.model_copy(update={"schedule": data.schedule.model_copy(update={"times": ["06:00", "12:00",
                                                                                                "17:00"]})})
    hub.services.playlists.replace(people["vanhanh"], playlist["id"], changed)
    later = monitoring.airtime(monitor, today.isoformat(), (today + timedelta(days=2)).isoformat())
    assert scheduled(later, tomorrow) == {"A": 3, "B": 0} and len(resolutions) == 2
    # Another period or scope is its own entry; an operator's is only their commune.
    mine = monitoring.airtime(people["vanhanh-b"], today.isoformat(), (today + timedelta(days=2)).isoformat())
    assert {r["commune"] for r in mine} == {"B"} and len(resolutions) == 3


    # The console's overview and its 5 s fragment: the first page resolves once, the polls never.
    from tests.plugins.console_client import signed_in

    with signed_in(app, "giamsat") as c:
        assert c.get("/console/monitor").status_code == 200
        runs = len(resolutions)
        polls = [c.get("/console/monitor/live").text for _ in range(3)]
        assert len(resolutions) == runs and polls[0] == polls[1] == polls[2]
        # A drawn fragment is kept by what it shows: a new play draws it again, at once.
        play(hub, devices["Loa thôn Hai"], bid, started + timedelta(minutes=5), seconds=30)
        after = c.get("/console/monitor/live").text
        assert after != polls[0] and 'data-key="plays">2<' in after and 'data-key="plays">1<' in polls[0]
