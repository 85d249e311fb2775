"""Several processes, one hub (issue 13): a real PostgreSQL, Debian's nginx with TLS, two `hub serve`
(HUB_WORKERS=0), one `hub worker` and three `hub agent`s whose event streams nginx spreads over both
servers. An emergency approved through one server reaches a stream held by the other within 2 s and
plays on every targeted agent; one server killed with SIGKILL, its agents come back through nginx
to the other and keep their schedule; no job runs twice, no play report is lost or counted twice."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from hub.config import Settings
from hub.nginx import NginxProcess
from hub.runtime import Hub
from hub.testing import ServerProcess, wait_until
from tests.agent.conftest import PlayerLog
from tests.e2e.test_fleet import Speaker, kill_stray_players, start_agent, stop_agent

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only,
              pytest.mark.skipif(not Path("/usr/sbin/nginx").exists(), reason="nginx is not installed (./dev setup)")]
AUDIO_S = 2


def streams(server: ServerProcess) -> int:
    text_ = httpx.get(f"{server.url}/metrics", timeout=5).text
    found = re.search(r"^hub_event_streams (\S+)$", text_, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


def test_two_servers_one_worker_three_agents_behind_nginx(tmp_path: Path, new_pg_database, store_kind) -> None:
    data = tmp_path / "var"
    database = new_pg_database()
    env = {"HUB_DATA_DIR": str(data), "HUB_DATABASE_URL": database, "HUB_WORKERS": "0",
           # The worker's own poll is slow on purpose: only a notification makes it take a job at once.
           "HUB_JOB_POLL_S": "30",
           "HUB_DISABLED_PLUGINS": "speech,slides", "HUB_EXTRA_PLUGINS": "tests.e2e.quick_plugin",
           "HUB_TEST_AUDIO_S": str(AUDIO_S)}
    # The records are made in this process (the CLI would start a process per record).
    setup = Hub.open(Settings(data_dir=data, database_url=database, workers=0))
    try:
        directory = setup.services.directory
        directory.add_commune(None, "MPA", "Xã An")
        directory.add_commune(None, "MPB", "Xã Bình")
        tokens = {name: directory.add_user(None, name, "editor")["token"] for name in ("author", "approver")}
        speakers = []
        for name, commune in (("a1", "MPA"), ("a2", "MPA"), ("b1", "MPB")):
            record = directory.register_device(None, f"loa-{name}", commune)
            speakers.append(Speaker(name, commune, record["id"], record["token"], tmp_path / f"cache-{name}",
                                    PlayerLog(tmp_path / f"player-{name}.jsonl")))
        watcher = directory.register_device(None, "loa-test", "MPA")["token"]
    finally:
        setup.close()

    worker = subprocess.Popen([sys.executable, "-m", "hub.cli", "worker"], env={**os.environ, **env},
                              stdout=open(tmp_path / "worker.log", "ab"), stderr=subprocess.STDOUT)
    servers = [ServerProcess(env), ServerProcess(env)]
    nginx = NginxProcess(tmp_path / "nginx", [s.port for s in servers], data / "media")
    try:
        with ThreadPoolExecutor() as pool:  # side by side: each start loads every plugin
            list(pool.map(lambda server: server.start(120), servers))
        nginx.start()
        os.environ["SSL_CERT_FILE"] = str(nginx.cert)  # the agents trust the loopback certificate
        for speaker in speakers:
            start_agent(speaker, nginx.url, tmp_path)
        wait_until(lambda: sum(streams(s) for s in servers) == 3, 60, "three agents' event streams")
        spread = [streams(s) for s in servers]
        api = nginx.client(timeout=15)

        def as_(who: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[who]}"}

        def draft(title: str, targets: list[str]) -> str:
            body = {"title": title, "body": f"{title}. Bà con chú ý.", "priority": "emergency",
                    "channels": ["speaker"], "targets": targets}
            created = api.post("/api/v1/bulletins", json=body, headers=as_("author"))
            assert created.status_code == 201, created.text
            assert api.post(f"/api/v1/bulletins/{created.json()['id']}/submit", headers=as_("author")).status_code == 200
            return created.json()["id"]

        def audio(bulletin: str) -> str:
            wait_until(lambda: api.get(f"/api/v1/bulletins/{bulletin}", headers=as_("author")).json()["render_status"]
                       == "done", 20, f"{bulletin} rendered by the worker")
            return next(a["sha256"] for a in api.get(f"/api/v1/bulletins/{bulletin}/artifacts",
                                                      headers=as_("author")).json() if a["kind"] == "audio")

        # A stream held by server 1, directly; the approval goes to server 0, directly.
        heard: list[float] = []

        def listen() -> None:
            try:
                with httpx.stream("GET", f"{servers[1].url}/api/v1/device/events", timeout=httpx.Timeout(10, read=60),
                                  headers={"Authorization": f"Bearer {watcher}"}) as stream:
                    for line in stream.iter_lines():
                        if line.startswith("data:") and first in line:
                            heard.append(time.monotonic())
                            return
            except httpx.HTTPError:
                pass

        first = draft("Khẩn cấp: lũ quét", ["MPA"])
        sha_first = audio(first)  # rendered at submission, by the worker
        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(1.0)  # the stream's first event (the manifest without the emergency) has gone by
        approved_at = time.monotonic()
        answer = httpx.post(f"{servers[0].url}/api/v1/bulletins/{first}/approve", headers=as_("approver"), timeout=10)
        assert answer.status_code == 200, answer.text
        listener.join(10)
        assert heard and heard[0] - approved_at < 2.0, "the emergency did not reach the other server's stream in 2 s"

        in_a = [s for s in speakers if s.commune == "MPA"]
        wait_until(lambda: all(s.starts(sha_first) for s in in_a), 20, "the emergency playing in commune MPA")
        assert not speakers[2].starts(sha_first)

        # Kill the server holding the most streams; its agents come back through nginx to the other.
        victim = 0 if spread[0] >= spread[1] else 1
        servers[victim].kill()
        survivor = servers[1 - victim]
        wait_until(lambda: streams(survivor) == 3, 30, "every agent's stream on the surviving server")

        second = draft("Khẩn cấp: sạt lở", ["MPA", "MPB"])
        sha_second = audio(second)
        assert api.post(f"/api/v1/bulletins/{second}/approve", headers=as_("approver")).status_code == 200
        wait_until(lambda: all(s.starts(sha_second) for s in speakers), 20, "the second emergency on all three")
        # The schedule they had is still theirs: the first emergency's play stays in their manifests.
        for speaker in in_a:
            manifest = api.get("/api/v1/device/manifest", headers={"Authorization": f"Bearer {speaker.token}"}).json()
            assert {first, second} <= {item["bulletin_id"] for item in manifest["items"]}

        # Every play ended and was reported: none lost in the kill, none counted twice.
        wait_until(lambda: all(s.recorded() >= len(s.starts()) and s.pending_reports() == 0 for s in speakers),
                   30, "every play reported")
        plays = sum(s.recorded() for s in speakers)
        engine = create_engine(Settings(data_dir=data, database_url=database).sqlalchemy_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM play_reports")).scalar() == plays >= 4
            jobs = conn.execute(text("SELECT status, attempts FROM jobs")).all()
            assert jobs and all(status == "done" and attempts == 1 for status, attempts in jobs), jobs
            doubles = conn.execute(text("SELECT count(*) FROM (SELECT job_id, position FROM artifacts "
                                        "GROUP BY job_id, position HAVING count(*) > 1) AS d")).scalar()
            assert doubles == 0
        engine.dispose()
        print(f"streams per server before the kill: {spread}; event after approval: {heard[0] - approved_at:.2f} s")
    finally:
        os.environ.pop("SSL_CERT_FILE", None)
        for speaker in speakers:
            stop_agent(speaker)
            kill_stray_players(speaker)
        nginx.stop()
        worker.terminate()
        worker.wait(20)
        for server in servers:
            server.stop()
