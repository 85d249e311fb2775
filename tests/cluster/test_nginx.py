"""deploy/nginx/ for real: Debian's nginx with TLS on loopback before two `hub serve` processes
sharing one data folder; public media sent by nginx alone, others once the hub said yes; event
streams unbuffered."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
import time
from pathlib import Path

import httpx
import pytest

from hub.config import Settings
from hub.nginx import NginxProcess
from hub.runtime import Hub
from hub.testing import ServerProcess, wait_until

# Two servers sharing one SQLite data folder: the PostgreSQL set is tests/cluster/test_multiprocess.py.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]
skip_without_nginx = pytest.mark.skipif(not Path("/usr/sbin/nginx").exists(), reason="nginx is not installed (./dev setup)")


def people(data: Path) -> tuple[str, str, str]:
    """A commune, an author, an approver and a loudspeaker (tokens), made in this process."""
    hub = Hub.open(Settings(data_dir=data, workers=0))
    try:
        directory = hub.services.directory
        directory.add_commune(None, "NGX", "Xã Nginx")
        tokens = [directory.add_user(None, name, "editor")["token"] for name in ("tacgia", "duyet")]
        return tokens[0], tokens[1], directory.register_device(None, "loa-1", "NGX")["token"]
    finally:
        hub.close()


def publish(api: httpx.Client, author: str, approver: str, channels: list[str], priority: str = "normal") -> str:
    body = {"title": f"Tin {channels} {priority}", "body": "Nội dung thử.", "priority": priority,
            "channels": channels, "targets": ["NGX"]}
    created = api.post("/api/v1/bulletins", json=body, headers={"Authorization": f"Bearer {author}"})
    assert created.status_code == 201, created.text
    bulletin = created.json()["id"]
    assert api.post(f"/api/v1/bulletins/{bulletin}/submit", headers={"Authorization": f"Bearer {author}"}).status_code == 200
    assert api.post(f"/api/v1/bulletins/{bulletin}/approve",
                    headers={"Authorization": f"Bearer {approver}"}).status_code == 200
    return bulletin


def audio(api: httpx.Client, bulletin: str, token: str) -> dict:
    def done():
        found = api.get(f"/api/v1/bulletins/{bulletin}/artifacts", headers={"Authorization": f"Bearer {token}"}).json()
        return next((a for a in found if a["kind"] == "audio" and a.get("published", True)), None)
    return wait_until(done, 60, f"the audio of {bulletin}")


@skip_without_nginx
def test_nginx_in_front_of_two_servers(tmp_path: Path, store_kind) -> None:
    data = tmp_path / "var"
    env = {"HUB_DATA_DIR": str(data), "HUB_WORKERS": "1", "HUB_JOB_POLL_S": "0.1",
           "HUB_DISABLED_PLUGINS": "speech,slides", "HUB_EXTRA_PLUGINS": "tests.e2e.quick_plugin",
           "HUB_TEST_AUDIO_S": "1"}
    author, approver, device = people(data)
    servers = [ServerProcess(env), ServerProcess(env)]
    nginx = NginxProcess(tmp_path / "nginx", [s.port for s in servers], data / "media")
    try:
        with ThreadPoolExecutor() as pool:  # side by side: each start loads every plugin
            list(pool.map(lambda server: server.start(120), servers))
        nginx.start()
        with nginx.client(timeout=10) as api:
            # Plain HTTP is sent to HTTPS.
            plain = httpx.get(f"http://127.0.0.1:{nginx.http_port}/healthz")
            assert plain.status_code == 308 and plain.headers["location"].startswith("https://")
            for _ in range(6):
                assert api.get("/healthz").status_code == 200

            # A device's event stream through nginx: the first event arrives at once (no buffering),
            # then an emergency approved later arrives while the stream stays open.
            events: list[tuple[float, str]] = []
            stop = threading.Event()

            def listen() -> None:
                try:
                    read(api)
                except httpx.HTTPError:
                    pass  # the stream ends with its server, killed below

            def read(api: httpx.Client) -> None:
                with api.stream("GET", "/api/v1/device/events", timeout=httpx.Timeout(10, read=60),
                                headers={"Authorization": f"Bearer {device}", "Accept": "text/event-stream"}) as s:
                    for line in s.iter_lines():
                        if line.startswith("data:"):
                            events.append((time.monotonic(), line))
                        if stop.is_set():
                            return

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            wait_until(lambda: events, 10, "the first event through nginx")

            public = publish(api, author, approver, ["speaker", "web"])
            public_audio = audio(api, public, author)
            other_public = publish(api, author, approver, ["web"])
            other_public_audio = audio(api, other_public, author)
            speaker_only = publish(api, author, approver, ["speaker"], priority="emergency")
            device_audio = audio(api, speaker_only, author)
            wait_until(lambda: any(speaker_only in line for _, line in events), 10,
                       "the emergency on the stream held through nginx")
            stop.set()

            # Public media nginx sends from the hub's links without asking; a device's after the hub's yes.
            for artifact, sender, cache in ((public_audio, "nginx-public", "public"), (device_audio, "nginx", "private")):
                stored = (data / "media" / artifact["sha256"][:2] / artifact["sha256"]).read_bytes()
                headers = {"Authorization": f"Bearer {device}"}
                whole = api.get(artifact["url"], headers=headers)
                assert whole.status_code == 200 and whole.content == stored
                assert whole.headers["x-hub-media"] == sender
                assert whole.headers["etag"] == f'"{artifact["sha256"]}"'
                assert whole.headers["content-type"] == "audio/mpeg"
                assert whole.headers["cache-control"] == f"{cache}, max-age=31536000, immutable"
                assert whole.headers["accept-ranges"] == "bytes"
                part = api.get(artifact["url"], headers={**headers, "Range": "bytes=10-19"})
                assert part.status_code == 206 and part.content == stored[10:20]
                assert api.get(artifact["url"], headers={**headers, "If-None-Match": whole.headers["etag"]}
                               ).status_code == 304

            # Public media need no token; a device-only file answers the hub's own JSON refusal,
            # and so does anything but a read of a public one.
            assert api.get(public_audio["url"]).status_code == 200
            posted = api.post(public_audio["url"], content=b"x")
            assert posted.status_code == 405 and "detail" in posted.json(), posted.text
            refused = api.get(device_audio["url"])
            assert refused.status_code in (401, 404) and "detail" in refused.json()
            assert "x-hub-media" not in refused.headers

            # Both servers answered (round robin), and with one killed nginx goes on with the other.
            log = (tmp_path / "nginx" / "access.log").read_text()
            assert all(f":{s.port}" in log for s in servers), log[-2000:]
            servers[0].kill()
            for _ in range(6):
                assert api.get("/healthz").status_code == 200
                assert api.get(public_audio["url"]).status_code == 200

            # A withdrawal: nginx stops sending the file before the hub's answer comes back.
            withdrawn = api.post(f"/api/v1/bulletins/{public}/withdraw", headers={"Authorization": f"Bearer {approver}"})
            assert withdrawn.status_code == 200, withdrawn.text
            gone = api.get(public_audio["url"])
            assert gone.status_code in (401, 404) and "x-hub-media" not in gone.headers, gone.headers
            # With no hub server left, nginx still sends public media (it never asked), and nothing else.
            servers[1].kill()
            alone = api.get(other_public_audio["url"])
            assert alone.status_code == 200 and alone.headers["x-hub-media"] == "nginx-public"
            assert api.get(device_audio["url"], headers={"Authorization": f"Bearer {device}"}).status_code == 502
            assert api.get(public_audio["url"]).status_code == 502
    finally:
        nginx.stop()
        for server in servers:
            server.stop()
