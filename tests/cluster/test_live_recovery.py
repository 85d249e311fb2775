"""A hub process killed (``kill -9``, with its ffmpeg) in the middle of a live broadcast: nothing
said into the microphone is lost from the broadcast log. The next ``hub serve`` on the machine finds
the recordings left in HUB_DATA_DIR/live, ends the broadcast as failed where it was last alive (the
devices go back to their schedule) and makes its archive from them. Real parts: two `hub serve`
processes one after the other on one data folder, a real Icecast, ffmpeg.

In tests/cluster, not tests/live: its Icecast retries on another port if another test's took its
port, so it need not wait for the live tests' one worker."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from hub.config import Settings
from hub.runtime import Hub
from hub.testing import ServerProcess, wait_until
from tests.cluster.test_nginx_live import live_webm
from tests.live.icecast import Icecast

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_a_killed_hub_s_broadcast_is_archived_by_the_next_one(tmp_path: Path) -> None:
    data = tmp_path / "var"
    hub = Hub.open(Settings(data_dir=data, workers=0))
    try:
        hub.services.directory.add_commune(None, "LV", "Xã Trực Tiếp")
        editor = hub.services.directory.add_user(None, "bientap", "editor")["token"]
    finally:
        hub.close()
    (tmp_path / "icecast").mkdir()
    icecast = Icecast(tmp_path / "icecast", "http://127.0.0.1:9").start()
    env = {"HUB_DATA_DIR": str(data), "HUB_WORKERS": "0", "HUB_DISABLED_PLUGINS": "speech,slides",
           "HUB_ICECAST_URL": icecast.url, "HUB_ICECAST_SOURCE_PASSWORD": icecast.source_password,
           "HUB_ICECAST_AUTH_KEY": icecast.auth_key, "HUB_LIVE_RECOVERY_S": "1"}
    stream = live_webm(tmp_path)
    first = ServerProcess(env)
    second: ServerProcess | None = None
    auth = {"Authorization": f"Bearer {editor}"}
    try:
        first.start(120)
        opened = httpx.post(first.url + "/api/v1/live", json={"title": "Trực tiếp bị ngắt", "targets": ["LV"]},
                            headers=auth)
        assert opened.status_code == 201, opened.text
        broadcast = opened.json()
        with connect(broadcast["ingest_url"], max_size=None) as socket:
            pieces = [stream[i:i + 1500] for i in range(0, len(stream), 1500)]
            pace = 12 / len(pieces)
            sent = pieces[: len(pieces) // 2]  # six seconds, in real time
            began = time.monotonic()
            for n, piece in enumerate(sent):
                socket.send(piece)
                time.sleep(max(0.0, began + (n + 1) * pace - time.monotonic()))
            view = httpx.get(first.url + f"/api/v1/live/{broadcast['id']}", headers=auth).json()
            assert view["status"] == "on_air", view

            # kill -9: the server and its encoder at once (nothing closes the recording properly).
            encoders = children(first.proc.pid)
            assert encoders, "the server's ffmpeg"
            for pid in [first.proc.pid, *encoders]:
                os.kill(pid, signal.SIGKILL)
            first.proc.wait(10)
        [left] = list((data / "live").glob(f"live-{broadcast['id']}-*"))
        assert (left / "part-000.flac").stat().st_size > 0

        second = ServerProcess(env).start(120)
        done = wait_until(lambda: (v := httpx.get(second.url + f"/api/v1/live/{broadcast['id']}",
                                                  headers=auth).json())["archive"] and v,
                          40, "the archive made from the recordings the killed hub left")
        assert (done["status"], done["end_reason"]) == ("ended", "failed"), done
        assert done["archive"]["duration_s"] == pytest.approx(len(sent) * pace, abs=1.5), done
        assert not left.exists()
        # The department hears it back.
        kept = httpx.get(second.url + done["archive"]["url"], headers=auth)
        assert kept.status_code == 200 and kept.headers["content-type"] == "audio/mpeg"
    finally:
        for server in (first, second):
            if server is not None:
                server.stop()
        icecast.stop()
