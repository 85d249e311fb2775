"""Shared fixtures: fresh settings on a temporary data folder, a plugin manager, an app client."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub import accounts
from hub.app import create_app
from hub.config import Settings
from hub.plugins import make_plugin_manager
from hub.runtime import Hub
from hub.testing import LiveServer, ServerProcess, free_port  # noqa: F401  (tests that still import them from here)

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
