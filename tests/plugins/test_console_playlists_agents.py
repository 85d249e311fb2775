"""End to end (issue 12's test): an operator builds a playlist in the console, in Chromium,
against a real ``hub serve``; a real ``hub agent`` process with the recording test player plays
it at its time and reports the plays; the operator's timeline then shows each item as played by
that loudspeaker. The programme is set for the next whole minute (times are HH:MM), so the test
waits up to about a minute and a half: marked slow."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hub.clock import LOCAL_TZ
from tests.plugins.console_client import PASSWORD
from tests.plugins.test_console_monitor import AGENT_ENV, WAIT_S, hub_cli

#: The agent needs this long before the programme's minute to fetch the manifest and the audio.
LEAD_S = 20


@pytest.mark.slow
def test_agents_play_a_playlist_made_in_the_console(tmp_path, monkeypatch):
    import httpx
    from playwright import sync_api

    from hub.testing import ServerProcess, wait_until
    from tests.agent.conftest import PlayerLog, player_command
    from tests.plugins.console_browser import SIZES, launch, look, sign_in

    if not os.environ.get("HUB_TEST_SCREENSHOTS"):
        monkeypatch.setenv("HUB_TEST_SCREENSHOTS", str(Path(tempfile.gettempdir()) / "shots" / "playlists"))
    data = tmp_path / "var"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
           "HUB_DATA_DIR": str(data), "HUB_WORKERS": "1", "HUB_JOB_POLL_S": "0.1",
           "HUB_DISABLED_PLUGINS": "speech,slides", "HUB_EXTRA_PLUGINS": "tests.e2e.quick_plugin",
           "HUB_TEST_AUDIO_S": "3"}
    hub_cli(env, "communes", "add", "E2EA", "Xã An Bình")
    tokens = {name: hub_cli(env, "users", "add", name, "--role", "editor", "--password-stdin", stdin=PASSWORD)["token"]
              for name in ("bientap", "pheduyet")}
    hub_cli(env, "users", "add", "vanhanh", "--role", "operator", "--commune", "E2EA", "--password-stdin",
            stdin=PASSWORD)
    speaker = hub_cli(env, "devices", "add", "Loa thôn Nà Cạn", "--commune", "E2EA")
    log = PlayerLog(tmp_path / "player.jsonl")
    server = ServerProcess(env, cwd=Path.cwd())
    agent = None

    def call(method, path, who="bientap", **kwargs):
        return httpx.request(method, server.url + path, headers={"Authorization": f"Bearer {tokens[who]}"},
                             timeout=10, **kwargs)

    try:
        server.start()
        titles = ("Lịch tiêm chủng tháng 12", "Thu gom rác thải cuối tuần")
        for title in titles:
            r = call("POST", "/api/v1/bulletins", json={"title": title, "body": f"Nội dung: {title}.",
                                                        "priority": "normal", "channels": ["speaker"],
                                                        "targets": ["E2EA"]})
            assert r.status_code == 201, r.text
            assert call("POST", f"/api/v1/bulletins/{r.json()['id']}/submit").status_code == 200
            assert call("POST", f"/api/v1/bulletins/{r.json()['id']}/approve", "pheduyet").status_code == 200
        agent_env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        agent_env.update(AGENT_ENV, HUB_AGENT_TOKEN=speaker["token"])
        with open(tmp_path / "agent.log", "ab") as out:
            agent = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "agent", "--server", server.url, "--cache", str(tmp_path / "cache"),
                 "--player", player_command(log)],
                env=agent_env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp_path)
        wait_until(lambda: all(b["render_status"] == "done" for b in call("GET", "/api/v1/bulletins").json()),
                   timeout=WAIT_S, what="both bulletins rendered")

        with sync_api.sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                page = browser.new_context(viewport=SIZES["phone"]).new_page()
                sign_in(page, server.url, "vanhanh", PASSWORD)
                page.goto(server.url + "/console/playlists/new")
                page.fill("#name", "Bản tin trưa")
                for title in titles:
                    page.click(f"button[aria-label='Thêm \"{title}\"']")
                    page.wait_for_load_state()
                assert page.locator("ol.picked li.record").count() == 2
                # The next whole minute the agent can still prepare for.
                now = datetime.now(LOCAL_TZ)
                at = (now + timedelta(seconds=LEAD_S + 60)).replace(second=0, microsecond=0)
                if at.date() != now.date():
                    pytest.skip("too close to midnight for a programme later today")
                page.fill("#times", at.strftime("%H:%M"))
                page.click("button[value=save]")
                page.wait_for_url("**/console/playlists?*done=saved*")
                programme = page.locator("#timeline li.record:has-text('Bản tin trưa')").first
                assert "Đã phát" not in programme.inner_text()

                # The agent plays both at their time and reports them.
                def reported() -> int:
                    rows = call("GET", "/api/v1/monitor/airtime", "pheduyet", params={"commune": "E2EA"}).json()
                    return sum(r["plays"] for r in rows)

                wait_until(lambda: reported() >= 2, timeout=(at - datetime.now(LOCAL_TZ)).total_seconds() + WAIT_S,
                           what="the agent played the playlist and reported both plays")
                assert len(log.events("start")) >= 2
                assert min(e["t"] for e in log.events("start")) >= at.timestamp() - 2, "not before its time"
                page.reload()
                programme = page.locator("#timeline li.record:has-text('Bản tin trưa')").first
                plays = programme.locator("ol.plays > li")
                assert plays.count() == 2
                for i in range(2):
                    text = plays.nth(i).inner_text()
                    assert "Đã phát" in text and "Loa thôn Nà Cạn" in text and "trọn vẹn" in text, text
                look(page, "playlists-timeline-played")
                page.set_viewport_size(SIZES["desktop"])
                look(page, "playlists-timeline-played")
            finally:
                browser.close()
    finally:
        if agent is not None and agent.poll() is None:
            agent.terminate()
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait(10)
        server.stop()
        from tests.plugins.test_console_emergency import stray_players
        stray_players(log)
