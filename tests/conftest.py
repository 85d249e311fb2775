"""Shared fixtures: fresh settings on a temporary data folder, a plugin manager, an app client."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from hub import accounts
from hub.app import create_app
from hub.config import Settings
from hub.plugins import make_plugin_manager
from hub.runtime import Hub

ROOT = Path(__file__).resolve().parent.parent

# Tests never reach the internet: any engine that would call Google must be pointed at a local fake.
os.environ.setdefault("HUB_GTTS_URL", "http://127.0.0.1:9/unreachable")
os.environ.setdefault("HUB_GTTS_RETRIES", "0")


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory) -> Path:
    """One database migrated to head per test session; each test starts from a copy of it."""
    from hub.store import migrate

    path = tmp_path_factory.mktemp("template") / "hub.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_db: Path) -> Settings:
    data = tmp_path / "var"
    data.mkdir()
    shutil.copyfile(migrated_db, data / "hub.db")
    return Settings(data_dir=data, workers=0, tts_engines=["espeak"], job_backoff_s=0.05,
                    job_backoff_max_s=0.2)


@pytest.fixture
def pm(settings: Settings):
    return make_plugin_manager(settings)


@pytest.fixture
def app(settings: Settings, pm):
    return create_app(settings, pm=pm)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def hub(client) -> Hub:
    return client.app.state.hub


class People:
    """Communes, users and devices made directly in the store, with their tokens."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    def commune(self, code: str, name: str | None = None) -> str:
        with self.hub.store.session() as session:
            accounts.add_commune(session, code, name or f"Xã {code}")
        return code

    def user(self, name: str, role: str, commune: str | None = None) -> dict[str, str]:
        with self.hub.store.session() as session:
            record = accounts.add_user(session, name, role, commune)
        self.tokens[name] = record["token"]
        self.ids[name] = record["id"]
        return {"Authorization": f"Bearer {record['token']}"}

    def device(self, name: str, commune: str, kind: str = "speaker") -> dict[str, str]:
        with self.hub.store.session() as session:
            record = accounts.add_device(session, name, commune, kind)
        self.tokens[name] = record["token"]
        self.ids[name] = record["id"]
        return {"Authorization": f"Bearer {record['token']}"}


@pytest.fixture
def people(hub: Hub) -> People:
    return People(hub)


def bulletin_payload(**overrides: Any) -> dict[str, Any]:
    payload = {"title": "Thông báo lịch tiêm chủng", "body": "Ngày 05/12/2026 tiêm chủng tại trạm y tế.",
               "priority": "normal", "channels": ["speaker", "display", "web"], "targets": ["*"]}
    payload.update(overrides)
    return payload


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A real ``hub serve`` subprocess on 127.0.0.1."""

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        log = open(Path(self.env["HUB_DATA_DIR"]) / f"server-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(self.port), "--log-level", "warning"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub serve exited with {self.proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("hub serve did not come up")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class LiveServer:
    """A real uvicorn server for an app, on 127.0.0.1, in a thread of the test process."""

    def __init__(self, app, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)
