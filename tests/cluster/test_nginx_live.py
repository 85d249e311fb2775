"""The live ingest through deploy/nginx/ for real: Debian's nginx (TLS) before two `hub serve`
processes and a real Icecast. The console page's WebSocket is upgraded through nginx, and every
connection of one broadcast reaches the same server — the one running its encoder — so a page that
drops and reconnects four times goes on where it was: the broadcast stays on air on one encoder,
and its archive holds all of what was sent."""

from __future__ import annotations

import re
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from hub.config import Settings
from hub.nginx import NginxProcess
from hub.runtime import Hub
from hub.testing import ServerProcess, wait_until
from tests.cluster.test_nginx import skip_without_nginx
from tests.live.conftest import beep_onsets, beeps_wav
from tests.live.icecast import Icecast

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]
SECONDS = 12


def people(data: Path) -> tuple[str, str]:
    hub = Hub.open(Settings(data_dir=data, workers=0))
    try:
        directory = hub.services.directory
        directory.add_commune(None, "LV", "Xã Trực Tiếp")
        return directory.add_user(None, "bientap", "editor")["token"], directory.register_device(None, "loa", "LV")["token"]
    finally:
        hub.close()


def live_webm(folder: Path) -> bytes:
    """Beeps a second apart as MediaRecorder sends them: webm/opus in 250 ms clusters."""
    wav = beeps_wav(folder / "beeps.wav", count=SECONDS)
    out = folder / "beeps.webm"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "libopus", "-b:a", "48k", "-f", "webm",
                    "-live", "1", "-cluster_time_limit", "250", str(out)], check=True)
    return out.read_bytes()


def open_socket(url: str, tls: ssl.SSLContext, tries: int = 20):
    """As the page does: a connection refused while the hub still sees the old one is tried again."""
    for attempt in range(tries):
        try:
            return connect(url, ssl=tls, max_size=None, open_timeout=5)
        except InvalidStatus:
            time.sleep(0.25)
    raise AssertionError(f"the ingest refused {tries} reconnections")


@skip_without_nginx
def test_a_broadcast_s_reconnections_through_nginx_reach_its_encoder(tmp_path: Path) -> None:
    data = tmp_path / "var"
    editor, device = people(data)
    icecast = Icecast(tmp_path / "icecast", "http://127.0.0.1:9")  # devices are not let in here
    (tmp_path / "icecast").mkdir()
    icecast.start()
    env = {"HUB_DATA_DIR": str(data), "HUB_WORKERS": "0", "HUB_DISABLED_PLUGINS": "speech,slides",
           "HUB_ICECAST_URL": icecast.url, "HUB_ICECAST_SOURCE_PASSWORD": icecast.source_password,
           "HUB_ICECAST_AUTH_KEY": icecast.auth_key, "HUB_LIVE_IDLE_S": "5"}
    servers = [ServerProcess(env), ServerProcess(env)]
    nginx = NginxProcess(tmp_path / "nginx", [s.port for s in servers], data / "media")
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    stream = live_webm(tmp_path)
    try:
        with ThreadPoolExecutor() as pool:
            list(pool.map(lambda server: server.start(120), servers))
        nginx.start()
        with nginx.client(timeout=10) as api:
            auth = {"Authorization": f"Bearer {editor}"}
            opened = api.post("/api/v1/live", json={"title": "Trực tiếp qua nginx", "targets": ["LV"]}, headers=auth)
            assert opened.status_code == 201, opened.text
            broadcast = opened.json()
            # The hub behind nginx names the address the browser used: TLS, so wss://.
            assert broadcast["ingest_url"].startswith(f"wss://127.0.0.1:{nginx.https_port}/api/v1/live/")

            # The stream in real time, the socket dropped and opened again four times on the way.
            pieces = [stream[i:i + 1500] for i in range(0, len(stream), 1500)]
            pace = SECONDS / len(pieces)
            drops = {len(pieces) * k // 5 for k in range(1, 5)}
            segments = [range(a, b) for a, b in zip([0, *sorted(drops)], [*sorted(drops), len(pieces)])]
            began = time.monotonic()
            for segment in segments:
                with open_socket(broadcast["ingest_url"], tls) as socket:
                    for n in segment:
                        socket.send(pieces[n])
                        time.sleep(max(0.0, began + (n + 1) * pace - time.monotonic()))
                    if segment[-1] == len(pieces) - 1:
                        time.sleep(1.0)  # the encoder's last packets reach Icecast
                state = api.get(f"/api/v1/live/{broadcast['id']}", headers=auth).json()
                assert state["status"] == "on_air", state  # not ended by a second encoder elsewhere
            stopped = api.post(f"/api/v1/live/{broadcast['id']}/stop", headers=auth)
            assert stopped.status_code == 200 and stopped.json()["end_reason"] == "stopped", stopped.text

            # Every connection of the broadcast went to one server (nginx's log names it).
            wait_until(lambda: len(ingests(nginx, broadcast["id"])) == 5, 10, "nginx logging the five connections")
            assert len(set(ingests(nginx, broadcast["id"]))) == 1, ingests(nginx, broadcast["id"])

            # One encoder from start to end: the archive holds all twelve beeps, a second apart.
            done = wait_until(lambda: (b := api.get(f"/api/v1/live/{broadcast['id']}", headers=auth).json())["archive"]
                              and b, 60, "the archive")
            assert done["archive"]["duration_s"] == pytest.approx(SECONDS, abs=1.5), done["archive"]
            stored = data / "media" / done["archive"]["sha256"][:2] / done["archive"]["sha256"]
            onsets = beep_onsets(stored)
            assert len(onsets) == SECONDS, onsets
            gaps = [b - a for a, b in zip(onsets, onsets[1:])]
            assert all(abs(gap - 1.0) < 0.15 for gap in gaps), gaps
    finally:
        nginx.stop()
        for server in servers:
            server.stop()
        icecast.stop()


def ingests(nginx: NginxProcess, broadcast_id: str) -> list[str]:
    """The upstream of each ingest connection nginx logged (a WebSocket is logged when it closes)."""
    log = (nginx.folder / "access.log").read_text()
    return re.findall(rf"^GET /api/v1/live/{broadcast_id}/ingest 101 (\S+)", log, re.MULTILINE)

