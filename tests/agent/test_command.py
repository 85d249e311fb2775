"""``python -m hub.agent`` (what ``hub agent`` runs): settings from the environment, clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from hub.models import Device
from hub.testing import wait_until
from tests.agent.conftest import ROOT_DIR, player_command


def test_runs_from_environment_settings_and_stops_cleanly_on_sigterm(live_hub, player_log, tmp_path):
    live_hub.people.device("loa-1", "X1")
    env = {**os.environ, "HUB_AGENT_SERVER": live_hub.url, "HUB_AGENT_TOKEN": live_hub.people.tokens["loa-1"],
           "HUB_AGENT_CACHE": str(tmp_path / "cache"), "HUB_AGENT_PLAYER": player_command(player_log),
           "HUB_AGENT_HEARTBEAT_S": "0.5", "HUB_AGENT_VOLUME": "35"}
    proc = subprocess.Popen([sys.executable, "-m", "hub.agent"], env=env, cwd=ROOT_DIR,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def seen() -> Device:
            with live_hub.hub.store.reader() as session:
                return session.get(Device, live_hub.people.ids["loa-1"])

        wait_until(lambda: seen().last_seen is not None, timeout=20, what="a heartbeat from the agent")
        assert (seen().status, seen().volume) == ("idle", 35)
        wait_until(lambda: (tmp_path / "cache" / "manifest.json").exists(), timeout=15, what="the manifest saved")
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert "agent stopped" in output
    assert live_hub.people.tokens["loa-1"] not in output


def test_refuses_to_start_without_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_AGENT_")}
    done = subprocess.run([sys.executable, "-m", "hub.agent", "--cache", str(tmp_path)], env=env, cwd=ROOT_DIR,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "HUB_AGENT_TOKEN" in done.stderr
