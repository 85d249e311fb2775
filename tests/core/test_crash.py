"""kill -9 the server in the middle of rendering: after a restart every bulletin is rendered once."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from hub.cli import main as hub_cli
from hub.testing import ServerProcess, wait_until

pytestmark = pytest.mark.slow


def _cli_json(capsys, *args: str) -> dict:
    assert hub_cli(list(args)) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _running_job(db: Path, pid: int) -> tuple[int, str] | None:
    """(job id, bulletin id) of a job running under a lease held by process ``pid``, if there is one."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        rows = conn.execute("SELECT id, bulletin_id, lease_owner FROM jobs WHERE status = 'running'").fetchall()
    for job, bid, owner in rows:
        # A lease owner reads host:pid:nonce (hub/pipeline.py).
        if owner and owner.rsplit(":", 2)[-2] == str(pid):
            return job, bid
    return None


def test_kill_9_mid_render_loses_nothing(tmp_path: Path, monkeypatch, capsys):
    data = tmp_path / "var"
    env = {
        "HUB_DATA_DIR": str(data),
        "HUB_EXTRA_PLUGINS": "tests.slow_plugin",
        # Only the slow test renderer: the real ones are tested on their own.
        "HUB_DISABLED_PLUGINS": "speech,slides",
        "HUB_WORKERS": "1",
        "HUB_JOB_LEASE_S": "3",
        "HUB_JOB_POLL_S": "0.1",
        "HUB_TEST_RENDER_S": "1.5",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _cli_json(capsys, "communes", "add", "X1", "Xã Một")
    author = _cli_json(capsys, "users", "add", "tacgia", "--role", "editor")["token"]
    approver = _cli_json(capsys, "users", "add", "duyet", "--role", "editor")["token"]

    server = ServerProcess(env).start()
    try:
        ids = []
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for n in range(4):
                r = http.post("/api/v1/bulletins", headers={"Authorization": f"Bearer {author}"},
                              json={"title": f"Bản tin {n}", "body": "Nội dung", "targets": ["X1"]})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
                assert http.post(f"/api/v1/bulletins/{ids[-1]}/submit",
                                 headers={"Authorization": f"Bearer {author}"}).status_code == 200
            for bid in ids:
                r = http.post(f"/api/v1/bulletins/{bid}/approve", headers={"Authorization": f"Bearer {approver}"})
                assert r.status_code == 200, r.text
        # Wait until the server holds a job's lease and the slow renderer has begun that job, then kill
        # the server without any chance to clean up.
        killed_pid = server.proc.pid
        runs = data / "slow-runs.log"

        def rendering() -> tuple[int, str] | None:
            job = _running_job(data / "hub.db", killed_pid)
            return job if job and f"start {job[1]} {killed_pid}\n" in runs.read_text() else None

        cut_job, cut_bulletin = wait_until(rendering, timeout=20, what="a render running in the server")
        server.kill()
        assert f"end {cut_bulletin} {killed_pid}\n" not in runs.read_text(), "the kill did not land mid-render"

        server = ServerProcess(env, port=server.port).start()
        with httpx.Client(base_url=server.url, timeout=10) as http:

            def all_done() -> bool:
                statuses = {bid: http.get(f"/api/v1/bulletins/{bid}",
                                          headers={"Authorization": f"Bearer {author}"}).json()["render_status"]
                            for bid in ids}
                assert set(statuses.values()) == {"done"}, statuses
                return True

            wait_until(all_done, timeout=60, what="every bulletin rendered after the restart", interval=0.2)
            for bid in ids:
                artifacts = http.get(f"/api/v1/bulletins/{bid}/artifacts",
                                     headers={"Authorization": f"Bearer {author}"}).json()
                assert len(artifacts) == 1, artifacts
                assert http.get(artifacts[0]["url"], headers={"Authorization": f"Bearer {author}"}).status_code == 200
    finally:
        server.stop()

    with closing(sqlite3.connect(data / "hub.db")) as db:
        per_job = db.execute("SELECT job_id, COUNT(*) FROM artifacts GROUP BY job_id").fetchall()
        assert len(per_job) == 4 and all(count == 1 for _, count in per_job)
        assert db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'done'").fetchone()[0] == 4
        # The job the kill cut short was claimed again, and the restarted server finished it.
        assert db.execute("SELECT attempts FROM jobs WHERE id = ?", (cut_job,)).fetchone()[0] >= 2
    assert f"end {cut_bulletin} {server.proc.pid}\n" in runs.read_text()
    # Every file under a final name holds exactly the bytes its name promises (temporary files aside).
    # So does every link nginx may send public media from (public/<sha256>.<ext>, hub/public_media.py).
    for path in (data / "media").rglob("*"):
        if path.is_file() and not path.name.startswith((".tmp-", ".lock")):
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name.partition(".")[0]


def test_separate_worker_process_renders_what_serve_enqueues(tmp_path: Path, monkeypatch, capsys):
    import subprocess
    import sys

    data = tmp_path / "var"
    env = {"HUB_DATA_DIR": str(data), "HUB_EXTRA_PLUGINS": "tests.slow_plugin",
           "HUB_DISABLED_PLUGINS": "speech,slides", "HUB_WORKERS": "0", "HUB_JOB_POLL_S": "0.1",
           "HUB_TEST_RENDER_S": "0.1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _cli_json(capsys, "communes", "add", "X1", "Xã Một")
    author = {"Authorization": f"Bearer {_cli_json(capsys, 'users', 'add', 'a', '--role', 'editor')['token']}"}
    approver = {"Authorization": f"Bearer {_cli_json(capsys, 'users', 'add', 'b', '--role', 'editor')['token']}"}
    server = ServerProcess(env).start()
    worker = None
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            bid = http.post("/api/v1/bulletins", headers=author,
                            json={"title": "t", "body": "b", "targets": ["X1"]}).json()["id"]
            http.post(f"/api/v1/bulletins/{bid}/submit", headers=author)
            http.post(f"/api/v1/bulletins/{bid}/approve", headers=approver)
            assert http.get(f"/api/v1/bulletins/{bid}", headers=author).json()["render_status"] == "queued"
            worker = subprocess.Popen([sys.executable, "-m", "hub.cli", "worker"], env={**os.environ, **env},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_until(lambda: http.get(f"/api/v1/bulletins/{bid}", headers=author).json()["render_status"] == "done",
                       timeout=30, what="the worker process to render the bulletin")
        # Every render ran in the worker, none in serve (the slow renderer logs its process id).
        runs = (data / "slow-runs.log").read_text().splitlines()
        assert runs and {line.split()[2] for line in runs} == {str(worker.pid)}, runs
    finally:
        server.stop()
        if worker is not None:
            worker.terminate()
            assert worker.wait(15) == 0, "the worker stops cleanly on SIGTERM"
