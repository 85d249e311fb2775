"""The agent against a real hub: emergencies on air in seconds, interruption, offline play, failures."""

from __future__ import annotations

import time
from contextlib import closing

from hub.agent.client import HubClient
from hub.agent.clock import Clock
from hub.models import Device
from hub.testing import wait_until
from tests.agent.conftest import silent_mp3, utc


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_emergency_plays_at_once_in_hub_time_on_a_wrong_device_clock(live_hub, make_agent, player_log):
    live_hub.people.device("loa-1", "X1")
    # The device's clock is an hour slow; the hub's server_time must set it right.
    clock = Clock(local=lambda: time.time() - 3600)
    agent = make_agent(live_hub.url, live_hub.people.tokens["loa-1"], clock=clock, poll_s=600)
    wait_until(lambda: agent.etag is not None, timeout=15, what="the first manifest")
    assert abs(clock.offset_s - 3600) < 5
    bid = live_hub.approved("X1", priority="emergency")
    # poll_s=600: only the event stream can have told the agent in time.
    wait_until(lambda: player_log.events("end"), timeout=10, what="the emergency played")
    wait_until(lambda: live_hub.reports("loa-1"), timeout=15, what="the play report at the hub")
    [report] = live_hub.reports("loa-1")
    assert (report.bulletin_id, report.result, report.priority) == (bid, "played", "emergency")
    # Reported in hub time, not in the device's slow time.
    assert abs((report.started_at.replace(tzinfo=None) - utc().replace(tzinfo=None)).total_seconds()) < 60
    assert player_log.events("start")[0]["media"] == _sha(silent_mp3(1.0))


def test_emergency_interrupts_a_running_play_then_the_schedule_resumes(live_hub, make_agent, player_log):
    live_hub.people.device("loa-1", "X1")
    long_sha = live_hub.uploaded_audio("X1", 90)
    live_hub.playlist_now("X1", long_sha)
    # The programme began at the top of this minute; let it count as on time whenever the test runs.
    agent = make_agent(live_hub.url, live_hub.people.tokens["loa-1"], late_tolerance_s=120)
    wait_until(lambda: player_log.events("start"), timeout=15, what="the programme playing")
    assert player_log.events("start")[0]["media"] == long_sha

    urgent = live_hub.approved("X1", priority="emergency")
    wait_until(lambda: player_log.events("terminated"), timeout=10, what="the play stopped")
    wait_until(lambda: len(player_log.events("start")) >= 3, timeout=10, what="the emergency and the programme again")
    first, emergency, again = player_log.events("start")[:3]
    assert player_log.events("terminated")[0]["pid"] == first["pid"]
    assert emergency["media"] == _sha(silent_mp3(1.0))
    # The hub moved the programme's item after the emergency; the agent follows the hub.
    assert again["media"] == long_sha
    assert [e["pid"] for e in player_log.events("end")][:1] == [emergency["pid"]]

    wait_until(lambda: len(live_hub.reports("loa-1")) >= 2, timeout=15, what="both reports at the hub")
    results = [(r.bulletin_id, r.result) for r in live_hub.reports("loa-1")]
    assert results[:2] == [(None, "interrupted"), (urgent, "played")]

    # Shutting down (SIGTERM in ``hub agent``) stops the player and sends what is queued.
    agent.stop()
    assert [e["pid"] for e in player_log.events("terminated")] == [first["pid"], again["pid"]]
    assert [(r.bulletin_id, r.result) for r in live_hub.reports("loa-1")][2:] == [(None, "interrupted")]


def test_keeps_playing_from_the_saved_manifest_with_the_hub_down(live_hub, make_agent, player_log, tmp_path):
    live_hub.people.device("loa-1", "X1")
    token = live_hub.people.tokens["loa-1"]
    start = utc(4)
    bid = live_hub.approved("X1", priority="emergency", valid_from=start.isoformat())
    # One fetch round, without playing: the manifest and its media go to the cache folder.
    first = make_agent(live_hub.url, token, cache=tmp_path / "cache", start=False)
    with closing(HubClient(live_hub.url, token)) as client:
        assert first.refresh(client)
        assert first.download_media(client) == 0
    first.stop()
    live_hub.stop()

    # A restart of the agent while the hub is down: everything comes from the cache folder.
    second = make_agent(live_hub.url, token, cache=tmp_path / "cache")
    assert second.manifest is not None and second.manifest.items[0].bulletin_id == bid
    wait_until(lambda: player_log.events("end"), timeout=40, what="the cached emergency played")
    assert player_log.events("start")[0]["t"] >= start.timestamp() - 1
    wait_until(lambda: second.outbox.pending_plays() == 1, timeout=15, what="the report queued")

    live_hub.start()
    wait_until(lambda: second.outbox.pending_plays() == 0, timeout=15, what="the queue delivered")
    [report] = live_hub.reports("loa-1")
    assert (report.bulletin_id, report.result) == (bid, "played")


def test_a_missing_player_is_reported_as_failed_and_the_agent_goes_on(live_hub, make_agent, tmp_path):
    live_hub.people.device("loa-1", "X1")
    agent = make_agent(live_hub.url, live_hub.people.tokens["loa-1"], player=str(tmp_path / "no-such-player"))
    bid = live_hub.approved("X1", priority="emergency")
    wait_until(lambda: live_hub.reports("loa-1"), timeout=15, what="the failure report at the hub")
    [report] = live_hub.reports("loa-1")
    assert (report.bulletin_id, report.result) == (bid, "failed")

    def status() -> str | None:
        with live_hub.hub.store.reader() as session:
            return session.get(Device, live_hub.people.ids["loa-1"]).status

    wait_until(lambda: status() == "error", timeout=15, what="heartbeat status error")
    assert all(thread.is_alive() for thread in agent._threads)
    assert "no-such-player" in agent.heartbeat_payload()["error"]


def test_a_304_still_measures_the_clock(live_hub, make_agent):
    live_hub.people.device("loa-1", "X1")
    clock = Clock(local=lambda: time.time() - 120)
    agent = make_agent(live_hub.url, live_hub.people.tokens["loa-1"], clock=clock, poll_s=600)
    wait_until(lambda: agent.etag is not None, timeout=15, what="the first manifest")
    samples = len(clock._samples)
    with closing(HubClient(live_hub.url, live_hub.people.tokens["loa-1"])) as client:
        assert agent.refresh(client) is False  # nothing changed: a 304
    assert len(clock._samples) == samples + 1
    assert abs(clock.offset_s - 120) < 5
