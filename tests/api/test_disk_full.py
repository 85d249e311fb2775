"""A full disk (issue 14): 507 with a clear detail, nothing saved, /healthz says so, and the hub
recovers by itself when space returns. The database is really filled: SQLite's max_page_count
caps the file, which makes SQLite answer exactly as on a full disk ("database or disk is full")."""

from __future__ import annotations

import errno

import pytest
from sqlalchemy import event, func, select

from hub.models import Bulletin
from tests.conftest import bulletin_payload


def count(hub) -> int:
    with hub.store.reader() as session:
        return session.scalar(select(func.count()).select_from(Bulletin))


# SQLite's page cap; on PostgreSQL the same is tested with a tablespace on a tiny tmpfs
# (tests/core/test_postgres.py).
@pytest.mark.sqlite_only
def test_a_full_database_answers_507_saves_nothing_and_recovers(client, hub, people):
    people.commune("C1", "Xã Một")
    author = people.user("author", "editor")
    assert client.post("/api/v1/bulletins", json=bulletin_payload(targets=["C1"]), headers=author).status_code == 201
    before = count(hub)

    def cap(dbapi_connection, _record) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    engine = hub.store.engine
    event.listen(engine, "connect", cap)
    engine.dispose()
    try:
        big = bulletin_payload(targets=["C1"], body="Nội dung rất dài. " * 400)
        answers = [client.post("/api/v1/bulletins", json=big, headers=author) for _ in range(20)]
        full = [a for a in answers if a.status_code == 507]
        assert full, [a.status_code for a in answers]
        assert "disk is full" in full[0].json()["detail"] and "/" not in full[0].json()["detail"]
        assert all(a.status_code in (201, 507) for a in answers)
        assert count(hub) == before + sum(a.status_code == 201 for a in answers)
    finally:
        event.remove(engine, "connect", cap)
        engine.dispose()
    # Space is back: the next write works, without a restart.
    assert client.post("/api/v1/bulletins", json=bulletin_payload(targets=["C1"]), headers=author).status_code == 201


def test_a_full_media_disk_answers_507(client, hub, people, monkeypatch):
    from hub.api.errors import disk_full

    assert disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert disk_full(RuntimeError("wrapped")) is False
    wrapped = RuntimeError("render failed")
    wrapped.__cause__ = OSError(errno.EDQUOT, "Disk quota exceeded")
    assert disk_full(wrapped)


def test_healthz_reports_a_nearly_full_disk(client, hub, monkeypatch):
    import shutil
    from collections import namedtuple

    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["disk_free_bytes"] > 0
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(10**12, 10**12 - 5_000_000, 5_000_000))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded" and "5 MB free" in response.json()["problems"][0]
    assert "hub_disk_free_bytes 5e+06" in client.get("/metrics").text
