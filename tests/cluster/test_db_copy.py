"""`hub db copy` from a running demo hub on SQLite to PostgreSQL: the same rows, the same manifests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hub.backup import compare_databases
from hub.config import Settings
from hub.testing import ServerProcess


def hub_command(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "hub.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done.stdout


def manifests(server: ServerProcess, tokens: dict) -> dict[str, dict]:
    found = {}
    for name, device in tokens["devices"].items():
        answer = httpx.get(f"{server.url}/api/v1/device/manifest", timeout=10,
                           headers={"Authorization": f"Bearer {device['token']}"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found[name] = {"device": body["device"], "items": body["items"], "slides": body.get("slides"),
                       "key": answer.headers["X-Hub-Signature"].split(",")[0]}
    return found


@pytest.mark.postgres_only
def test_db_copy_moves_a_running_demo_hub_to_postgresql(tmp_path: Path, new_pg_database, store_kind) -> None:
    data = tmp_path / "var"
    base = {"HUB_DATA_DIR": str(data), "HUB_TTS_ENGINES": "espeak", "HUB_WORKERS": "0"}
    hub_command("demo", env=base)
    tokens = json.loads((data / "demo-tokens.json").read_text())
    target = new_pg_database()

    sqlite_server = ServerProcess(base).start()
    try:
        before = manifests(sqlite_server, tokens)
        # Copied while the SQLite hub serves.
        report = json.loads(hub_command("db", "copy", "--to", target, env=base))
        assert report["rows"]["bulletins"] == 3 and report["rows"]["artifacts"] > 0
    finally:
        sqlite_server.stop()
    assert all(entry["items"] for name, entry in before.items() if name.startswith("speaker"))

    sqlite_url = Settings(data_dir=data).sqlalchemy_url
    pg_url = Settings(data_dir=data, database_url=target).sqlalchemy_url
    assert compare_databases(sqlite_url, pg_url) == {}

    pg_server = ServerProcess({**base, "HUB_DATABASE_URL": target}).start()
    try:
        assert manifests(pg_server, tokens) == before
        hub_command("audit", "verify", env={**base, "HUB_DATABASE_URL": target})
    finally:
        pg_server.stop()

    # A second copy into the now-full database is refused and changes nothing.
    done = subprocess.run([sys.executable, "-m", "hub.cli", "db", "copy", "--to", target],
                          env={**os.environ, **base}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not empty" in done.stderr
    assert compare_databases(sqlite_url, pg_url) == {}

    # The PostgreSQL hub's backup (pg_dump) restored into another empty database and data folder.
    pg_env = {**base, "HUB_DATABASE_URL": target}
    hub_command("backup", str(tmp_path / "pg.tar"), env=pg_env)
    elsewhere = new_pg_database()
    hub_command("restore", str(tmp_path / "pg.tar"), env={**base, "HUB_DATA_DIR": str(tmp_path / "restored"),
                                                           "HUB_DATABASE_URL": elsewhere})
    assert compare_databases(pg_url, Settings(data_dir=data, database_url=elsewhere).sqlalchemy_url) == {}
    assert sorted(p.name for p in (tmp_path / "restored" / "media").glob("??/*")) == \
        sorted(p.name for p in (data / "media").glob("??/*"))
