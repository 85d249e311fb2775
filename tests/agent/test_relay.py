"""A relay (tiếp sóng) end to end: a playlist's relay slot, a real ``hub agent`` process whose player
records the station, a station that drops halfway, and the play report the hub gets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hub.testing import wait_until
from tests.agent.conftest import ROOT_DIR
from tests.agent.relay_stream import Station, recorded_seconds, recorder_command

SLOT_LEFT_S = 20


def utc(value: datetime) -> datetime:
    """The store gives naive UTC on SQLite."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def relay_playlist(live_hub, url: str, left_s: int) -> tuple[str, datetime]:
    """A playlist whose programme began at this local minute, with one relay that ends ``left_s``
    seconds from now; returns its id and the slot's end."""
    now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    minute = now.replace(second=0, microsecond=0)
    duration = int((now - minute).total_seconds()) + left_s
    body = {"name": "Tiếp sóng VOV", "commune": "X1", "items": [{"stream_url": url, "duration_s": duration}],
            "schedule": {"times": [minute.strftime("%H:%M")], "start_date": minute.date().isoformat()}}
    response = live_hub.api("POST", "/api/v1/playlists", "author", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"], minute + timedelta(seconds=duration)


def test_a_real_agent_relays_the_slot_reconnects_after_a_drop_and_reports_what_was_heard(live_hub, tmp_path):
    station = Station(60).start()
    recordings = tmp_path / "heard"
    live_hub.people.device("loa-1", "X1")
    env = {**os.environ, "HUB_AGENT_SERVER": live_hub.url, "HUB_AGENT_TOKEN": live_hub.people.tokens["loa-1"],
           "HUB_AGENT_CACHE": str(tmp_path / "cache"), "HUB_AGENT_PLAYER": recorder_command(recordings),
           "HUB_AGENT_HEARTBEAT_S": "1", "HUB_AGENT_POLL_S": "2", "HUB_AGENT_REPORT_SPREAD_S": "0",
           "HUB_AGENT_STREAM_RETRY_S": "0.5", "HUB_AGENT_STREAM_RETRY_MAX_S": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "hub.agent"], env=env, cwd=ROOT_DIR,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        playlist_id, slot_end = relay_playlist(live_hub, station.url, SLOT_LEFT_S)
        wait_until(lambda: station.connections == 1, timeout=15, what="the agent tuned in to the station")
        time.sleep(7)
        # The station drops its listeners and is off the air for 3 s: the agent must come back.
        station.cut(3)
        wait_until(lambda: station.connections == 2, timeout=10, what="the agent reconnected")
        wait_until(lambda: live_hub.reports("loa-1"), timeout=SLOT_LEFT_S + 10, what="the relay's report")
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        station.stop()
    [report] = live_hub.reports("loa-1")
    assert (report.result, report.bulletin_id) == ("played", None), output
    manifest = live_hub.api("GET", "/api/v1/device/manifest", "loa-1").json()
    assert [i["id"] for i in manifest["items"] if i.get("stream", {}).get("url") == station.url][0] == report.item_id
    assert live_hub.api("GET", f"/api/v1/playlists/{playlist_id}", "author").status_code == 200
    # Stopped at the slot's end, not at the station's whim.
    assert abs((utc(report.ended_at) - slot_end).total_seconds()) < 2, (report.ended_at, slot_end)
    # What was heard: two runs of the player recorded the tone; the off-air seconds are not counted.
    runs = [s for s in recorded_seconds(recordings) if s > 0]
    assert len(runs) == 2, (runs, output)
    slot = (report.ended_at - report.started_at).total_seconds()
    assert report.heard_s is not None and 3 <= slot - report.heard_s <= 8, (slot, report.heard_s, output)
    assert abs(sum(runs) - report.heard_s) < 3, (runs, report.heard_s)
    assert "reconnecting" in output


def test_an_emergency_interrupts_a_relay_and_the_report_says_how_long_was_heard(live_hub, make_agent, tmp_path):
    station = Station(60).start()
    recordings = tmp_path / "heard"
    try:
        live_hub.people.device("loa-1", "X1")
        relay_playlist(live_hub, station.url, 60)
        agent = make_agent(live_hub.url, live_hub.people.tokens["loa-1"], player=recorder_command(recordings),
                           report_spread_s=0)
        wait_until(lambda: station.connections == 1, timeout=15, what="the relay on air")
        time.sleep(2)
        urgent = live_hub.approved("X1", priority="emergency")
        wait_until(lambda: len(live_hub.reports("loa-1")) >= 1, timeout=15, what="the relay's report")
        cut = live_hub.reports("loa-1")[0]
        assert (cut.bulletin_id, cut.result) == (None, "interrupted")
        assert cut.heard_s is not None and 1.5 <= cut.heard_s <= (cut.ended_at - cut.started_at).total_seconds()
        # The emergency's own play follows (the test player records it too: it is the same command).
        wait_until(lambda: any(r.bulletin_id == urgent for r in live_hub.reports("loa-1")), timeout=15,
                   what="the emergency's report")
        agent.stop()
    finally:
        station.stop()


def test_a_station_that_never_answers_is_reported_failed(live_hub, make_agent, tmp_path):
    from hub.testing import free_port

    live_hub.people.device("loa-1", "X1")
    relay_playlist(live_hub, f"http://127.0.0.1:{free_port()}/vov1.mp3", 4)
    make_agent(live_hub.url, live_hub.people.tokens["loa-1"], player=recorder_command(tmp_path / "heard"),
               report_spread_s=0, stream_retry_s=0.5)
    wait_until(lambda: live_hub.reports("loa-1"), timeout=20, what="the relay's report")
    [report] = live_hub.reports("loa-1")
    assert (report.result, report.heard_s) == ("failed", 0.0)
