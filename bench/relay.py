"""Benchmark (issue 15): how a real ``hub agent`` keeps a relay's slot.

One hub (uvicorn in this process, SQLite), one test station (tests/agent/relay_stream.py: an
ffmpeg-made MP3 served over HTTP on 127.0.0.1 at its real pace), one ``hub agent`` process whose
player is ffmpeg recording the stream. The commune's programme starts this minute with a jingle
sized so that its relay slot of --slot-s seconds starts a few seconds from now. --slot-s / 2
seconds into the slot the station drops every listener (it answers again at once).

Whole-process timings on the wall clock of this one machine (hub, agent and station share it):

  join_s       the slot's start → the station lets the agent in
  reconnect_s  the drop → the station lets the agent in again (HUB_AGENT_STREAM_RETRY_S is 1 s)
  stop_s       the report's ended_at − the slot's end (the agent stops the player at the slot's end)
  heard_s      what the agent reported hearing, against the slot's length and the recordings

    .venv/bin/python -m bench.relay            # prints figures; the last line is one JSON object
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.config import Settings
from hub.store import migrate
from hub.testing import wait_until
from tests.agent.conftest import ROOT_DIR, LiveHub, silent_mp3
from tests.agent.relay_stream import Station, recorded_seconds, recorder_command

LEAD_S = 6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slot-s", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    data = folder / "var"
    data.mkdir()
    migrate(f"sqlite:///{data / 'hub.db'}")
    settings = Settings(data_dir=data, workers=1, job_poll_s=0.05, tts_engines=["espeak"],
                        disabled_plugins=["speech", "slides"])
    hub = LiveHub(settings).start()
    station = Station(120).start()
    proc = None
    try:
        hub.people.commune("X1")
        hub.people.user("author", "editor")
        hub.people.device("loa-1", "X1")
        now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
        minute = now.replace(second=0, microsecond=0)
        jingle_s = int((now - minute).total_seconds()) + LEAD_S
        jingle = hub.stored(silent_mp3(jingle_s), "X1", duration_s=jingle_s)
        slot_start = minute + timedelta(seconds=jingle_s)
        slot_end = slot_start + timedelta(seconds=args.slot_s)
        body = {"name": "Tiếp sóng", "commune": "X1",
                "items": [{"media": jingle}, {"stream_url": station.url, "duration_s": args.slot_s}],
                "schedule": {"times": [minute.strftime("%H:%M")], "start_date": minute.date().isoformat()}}
        answer = hub.api("POST", "/api/v1/playlists", "author", json=body)
        assert answer.status_code == 201, answer.text
        env = {**os.environ, "HUB_AGENT_SERVER": hub.url, "HUB_AGENT_TOKEN": hub.people.tokens["loa-1"],
               "HUB_AGENT_CACHE": str(folder / "cache"), "HUB_AGENT_PLAYER": recorder_command(folder / "heard"),
               "HUB_AGENT_REPORT_SPREAD_S": "0", "HUB_AGENT_LATE_TOLERANCE_S": "90"}
        proc = subprocess.Popen([sys.executable, "-m", "hub.agent"], env=env, cwd=ROOT_DIR,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: station.connections >= 1, timeout=LEAD_S + 60, what="the agent tuned in")
        join = station.connected_at[0] - slot_start.timestamp()
        time.sleep(max(0.0, slot_start.timestamp() + args.slot_s / 2 - time.time()))
        cut_at = time.time()
        station.cut(0)
        wait_until(lambda: station.connections >= 2, timeout=30, what="the agent reconnected")
        reconnect = station.connected_at[1] - cut_at
        wait_until(lambda: hub.reports("loa-1") and any(r.heard_s is not None for r in hub.reports("loa-1")),
                   timeout=args.slot_s + 30, what="the relay's report")
        [report] = [r for r in hub.reports("loa-1") if r.heard_s is not None]
        ended = report.ended_at if report.ended_at.tzinfo else report.ended_at.replace(tzinfo=timezone.utc)
        stop = (ended - slot_end).total_seconds()
        # The first recording is the jingle (a file, copied at once); the others are the relay's runs.
        recorded = sum(recorded_seconds(folder / "heard")[1:])
        figures = {"slot_s": args.slot_s, "result": report.result, "join_s": round(join, 3),
                   "reconnect_s": round(reconnect, 3), "stop_s": round(stop, 3), "heard_s": report.heard_s,
                   "recorded_s": round(recorded, 2), "connections": station.connections}
        print(f"relay of {args.slot_s} s: {report.result}; joined {join:.2f} s after the slot's start, "
              f"reconnected {reconnect:.2f} s after the drop, stopped {stop:+.2f} s from the slot's end, "
              f"heard {report.heard_s} s (ffmpeg recorded {recorded:.1f} s of the stream)")
        print(json.dumps(figures))
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        station.stop()
        hub.stop()


if __name__ == "__main__":
    raise SystemExit(main())
