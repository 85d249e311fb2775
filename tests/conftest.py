"""Shared fixtures: fresh settings on a temporary data folder, a plugin manager, an app client."""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
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


# --- the two stores ---------------------------------------------------------------------------------
#
# Every test that takes `settings` (or `store_kind`) runs once on SQLite and once on PostgreSQL:
# test ids end in [sqlite] or [postgresql]. `--store sqlite|postgresql|both` (default both, or
# $HUB_TEST_STORE) picks the lanes. Tests that drive real agents or a browser end to end stay on
# SQLite (their store code runs on both lanes through the API tests): tests/agent, tests/e2e, the
# live tests' `station` (agents and Icecast), any test that launches Chromium, and tests marked
# `sqlite_only` (they read the SQLite file itself).
# The PostgreSQL server is $HUB_TEST_POSTGRES_URL (./dev test starts one) or, when that is unset,
# a throwaway cluster this session starts and stops itself (hub/pgcluster.py).

STORES = ("sqlite", "postgresql")
ONE_STORE_DIRS = ("agent", "e2e")
#: Fixtures that run real agents (and Icecast) end to end: the tests using them stay on SQLite too.
ONE_STORE_FIXTURES = {"station"}


def pytest_addoption(parser) -> None:
    parser.addoption("--store", choices=(*STORES, "both"), default=os.environ.get("HUB_TEST_STORE", "both"),
                     help="which store the store-touching tests run on (default both; env HUB_TEST_STORE)")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "sqlite_only: runs on the SQLite lane only (reads the SQLite file itself)")
    config.addinivalue_line("markers", "postgres_only: runs on the PostgreSQL lane only (row locks, column types)")


def _sqlite_only(metafunc) -> bool:
    if metafunc.definition.get_closest_marker("sqlite_only"):
        return True
    if ONE_STORE_FIXTURES & set(metafunc.fixturenames):
        return True
    path = Path(str(metafunc.definition.fspath))
    if path.parent.name in ONE_STORE_DIRS and path.parent.parent == ROOT / "tests":
        return True
    module = metafunc.module
    if any(name in vars(module) for name in ("sync_playwright", "console_browser", "launch")):
        return True
    # A test that imports Playwright or the Chromium helper in its own body drives a browser.
    names = getattr(getattr(metafunc.function, "__code__", None), "co_names", ())
    return any("playwright" in name or "console_browser" in name for name in names)


def pytest_generate_tests(metafunc) -> None:
    if "store_kind" in metafunc.fixturenames:
        if metafunc.definition.get_closest_marker("postgres_only"):
            lanes = ["postgresql"]
        else:
            lanes = ["sqlite"] if _sqlite_only(metafunc) else list(STORES)
        metafunc.parametrize("store_kind", lanes, indirect=True)


#: Test folders whose tests must not run at the same time as each other on two xdist workers
#: (two Icecast servers started at once: one exits at start), kept on one worker by ./dev's
#: `--dist loadgroup`.
ONE_WORKER_DIRS = ("live",)


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        folder = Path(str(item.fspath)).parent
        if folder.name in ONE_WORKER_DIRS and folder.parent == ROOT / "tests":
            item.add_marker(pytest.mark.xdist_group(folder.name))
    wanted = config.getoption("--store")
    if wanted == "both":
        return
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("store_kind") if callspec else None
        if kind is None and {"pg_database", "pg_server"} & set(getattr(item, "fixturenames", ())):
            kind = "postgresql"  # a test of PostgreSQL itself, without the settings fixture
        (drop if kind is not None and kind != wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def store_kind(request) -> str:
    return getattr(request, "param", "sqlite")


def _lane_tag() -> str:
    """Database names unique to this pytest process (xdist workers and other runs share a server)."""
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The URL (no database) of a PostgreSQL server for this session."""
    from hub.pgcluster import Cluster, server_url, wait_ready

    given = os.environ.get("HUB_TEST_POSTGRES_URL")
    if given:
        wait_ready(given)
        yield server_url(given)
        return
    # Under /tmp, not pytest's tmp folder: as root the server runs as `postgres`, which must reach it.
    root = Path(tempfile.mkdtemp(prefix="hub-test-pg-", dir="/tmp"))
    cluster = Cluster(root)
    try:
        cluster.start()
        cluster.watch(os.getpid())  # stops it even if this run is killed before the finally below
        yield cluster.url
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> Iterator[str]:
    """A database migrated to head once per session; each test gets a copy (CREATE DATABASE … TEMPLATE)."""
    from hub.pgcluster import admin
    from hub.store import migrate

    name = f"hub_template_{_lane_tag()}"
    admin(pg_server, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    migrate(pg_server + name)
    yield name
    admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_pg_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_dropper(pg_server: str) -> Iterator[Callable[[str], None]]:
    """Drops finished tests' databases on a thread of its own: a DROP DATABASE waits for a
    checkpoint (up to a second on a busy machine), which no test needs to wait for."""
    from hub.pgcluster import admin

    names: queue.Queue[str | None] = queue.Queue()

    def drop() -> None:
        while (name := names.get()) is not None:
            try:
                admin(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception:  # noqa: BLE001 - a database left behind goes with the cluster
                pass

    thread = threading.Thread(target=drop, name="pg-dropper", daemon=True)
    thread.start()
    yield names.put
    names.put(None)
    thread.join()


@pytest.fixture
def pg_database(pg_server: str, pg_template: str, pg_dropper) -> Iterator[str]:
    """A fresh database copied from the migrated template (bench/pg_test_db.py: 30 ms on a quiet
    machine, against 70 ms for TRUNCATE of every table), dropped after the test, with whatever
    connections it left open, by `pg_dropper`."""
    from hub.pgcluster import admin

    name = f"hub_t_{_lane_tag()}_{next(_pg_numbers)}"
    admin(pg_server, f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield pg_server + name
    pg_dropper(name)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory) -> Path:
    """One SQLite database migrated to head per test session; each test starts from a copy of it."""
    from hub.store import migrate

    path = tmp_path_factory.mktemp("template") / "hub.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(request, store_kind: str, tmp_path: Path) -> str | None:
    """None on the SQLite lane (the hub's own hub.db in its data folder), a fresh database's URL on PostgreSQL."""
    if store_kind == "postgresql":
        return request.getfixturevalue("pg_database")
    return None


@pytest.fixture
def settings(request, tmp_path: Path, store_kind: str, database_url: str | None) -> Settings:
    data = tmp_path / "var"
    data.mkdir()
    if database_url is None:
        shutil.copyfile(request.getfixturevalue("migrated_db"), data / "hub.db")
    # What the test runs beside this hub (the CLI, `hub serve` subprocesses) finds the same database,
    # as HUB_DATA_DIR alone finds the same hub.db on the SQLite lane.
    monkeypatch = request.getfixturevalue("monkeypatch")
    if database_url is None:
        monkeypatch.delenv("HUB_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    return Settings(data_dir=data, database_url=database_url, workers=0, tts_engines=["espeak"],
                    job_backoff_s=0.05, job_backoff_max_s=0.2)


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
