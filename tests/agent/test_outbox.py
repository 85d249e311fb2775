"""The outbox: reports survive restarts and are counted once by the hub however often they are sent."""

from __future__ import annotations

import shutil
from contextlib import closing
from datetime import datetime, timedelta, timezone

from hub.agent import Agent, AgentSettings
from hub.agent.client import HubClient
from hub.agent.outbox import Outbox


def _report(n: int) -> dict:
    start = datetime(2026, 12, 1, 6, 0, n, tzinfo=timezone.utc)
    return {"item_id": f"item-{n}", "bulletin_id": None, "started_at": start.isoformat(),
            "ended_at": (start + timedelta(seconds=1)).isoformat(), "result": "played"}


def test_reports_survive_a_restart_and_a_redelivery_is_counted_once(live_hub, tmp_path):
    live_hub.people.device("loa-1", "X1")
    token = live_hub.people.tokens["loa-1"]
    cache = tmp_path / "agent"
    outbox = Outbox(cache / "outbox.sqlite")
    keys = [(f"item-{n}", datetime(2026, 12, 1, 6, 0, n, tzinfo=timezone.utc)) for n in range(3)]
    ids = [outbox.finish(key, "played", _report(n)) for n, key in enumerate(keys)]
    outbox.close()

    # Another process (the restarted agent) finds them, and the plays done.
    settings = AgentSettings(server=live_hub.url, token=token, cache=cache)
    agent = Agent(settings)
    assert agent.outbox.pending_plays() == 3
    assert all(agent.outbox.is_done(key) for key in keys)
    assert [body["report_id"] for _id, body in agent.outbox.plays(10)] == ids
    agent.outbox.close()
    # A crash after the hub stored them but before they left the queue: keep the file as it is now.
    shutil.copy(cache / "outbox.sqlite", tmp_path / "before-delivery.sqlite")

    for attempt in range(2):
        agent = Agent(settings)
        with closing(HubClient(live_hub.url, token)) as client:
            agent.deliver(client)
        assert agent.outbox.pending_plays() == 0
        agent.outbox.close()
        if attempt == 0:
            shutil.copy(tmp_path / "before-delivery.sqlite", cache / "outbox.sqlite")

    reports = live_hub.reports("loa-1")
    assert sorted(r.report_id for r in reports) == sorted(ids)
    assert {r.item_id for r in reports} == {"item-0", "item-1", "item-2"}


def test_only_the_newest_heartbeat_waits(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite")
    for volume in (10, 20, 30):
        outbox.add_heartbeat({"status": "idle", "volume": volume})
    outbox.close()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    assert outbox.heartbeat()[1]["volume"] == 30
    assert outbox.pending_plays() == 0
