"""The audit log is tamper-evident (issue 14): change, delete or insert a row with SQL and
``hub audit verify`` names it."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

from hub.cli import main as hub_cli
from tests.conftest import bulletin_payload


def _point_the_cli_at(settings, monkeypatch) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("HUB_DATABASE_URL", settings.database_url)


@contextmanager
def sql(url: str):
    """A connection of its own to the hub's database (SQLite or PostgreSQL), committed at the end:
    what an attacker with SQL would use."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


@pytest.fixture
def logged(client, hub, people, monkeypatch, settings):
    """A hub whose audit log holds a bulletin's whole life and some directory changes; its database URL."""
    _point_the_cli_at(settings, monkeypatch)
    people.commune("C1", "Xã Một")
    author, approver = people.user("author", "editor"), people.user("approver", "editor")
    for n in range(3):
        bid = client.post("/api/v1/bulletins", json=bulletin_payload(title=f"Tin {n}", targets=["C1"]),
                          headers=author).json()["id"]
        assert client.post(f"/api/v1/bulletins/{bid}/submit", headers=author).status_code == 200
        assert client.post(f"/api/v1/bulletins/{bid}/approve", headers=approver).status_code == 200
    return settings.sqlalchemy_url


def verify(capsys) -> tuple[int, dict]:
    code = hub_cli(["audit", "verify"])
    out = capsys.readouterr()
    return code, json.loads(out.out.strip().splitlines()[-1]) | {"stderr": out.err}


def rows(url) -> list[tuple]:
    with sql(url) as conn:
        return [tuple(r) for r in conn.execute(text("SELECT id, action, prev_hash, hash FROM audit_events ORDER BY id"))]


def test_an_intact_log_verifies_and_every_entry_links_to_the_one_before(logged, capsys):
    code, body = verify(capsys)
    assert code == 0 and body["intact"] and body["entries"] >= 9
    chain = rows(logged)
    assert chain[0][2] is None
    assert all(later[2] == earlier[3] for earlier, later in zip(chain, chain[1:]))
    assert body["head"] == chain[-1][3]


def test_a_changed_entry_is_named(logged, capsys):
    victim = rows(logged)[4][0]
    with sql(logged) as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'someone-else' WHERE id = :id"), {"id": victim})
    code, body = verify(capsys)
    assert code == 1 and body["entry"] == victim and "changed" in body["problem"]
    assert f"#{victim}" in body["stderr"]


def test_a_removed_entry_is_named(logged, capsys):
    chain = rows(logged)
    with sql(logged) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": chain[3][0]})
    code, body = verify(capsys)
    assert code == 1 and body["entry"] == chain[4][0] and "removed" in body["problem"]
    assert f"#{chain[2][0]}" in body["problem"]


def test_an_inserted_entry_is_named_even_with_a_well_formed_hash(logged, capsys):
    from hub.audit_chain import link

    chain = rows(logged)
    with sql(logged) as conn:
        at = conn.execute(text("SELECT at FROM audit_events WHERE id = :id"), {"id": chain[2][0]}).scalar_one()
        forged = {"at": at, "actor": None, "action": "approve", "object_type": "bulletin", "object_id": "x" * 32,
                  "from_status": "pending", "to_status": "approved", "revision": 1, "content_hash": None,
                  "detail": None}
        from datetime import datetime
        # SQLite gives the stored text, PostgreSQL a timestamptz.
        digest = link(chain[2][3], {**forged, "at": datetime.fromisoformat(at) if isinstance(at, str) else at})
        # Given an id between two real ones, as an attacker with SQL could.
        conn.execute(text("UPDATE audit_events SET id = id + 1000 WHERE id > :id"), {"id": chain[2][0]})
        conn.execute(text("INSERT INTO audit_events (id, at, actor, action, object_type, object_id, from_status, "
                          "to_status, revision, content_hash, detail, prev_hash, hash) VALUES (:id, :at, NULL, "
                          "'approve', 'bulletin', :object, 'pending', 'approved', 1, NULL, NULL, :prev, :hash)"),
                     {"id": chain[2][0] + 1, "at": at, "object": "x" * 32, "prev": chain[2][3], "hash": digest})
    code, body = verify(capsys)
    assert code == 1 and body["entry"] == chain[2][0] + 1 and "inserted" in body["problem"], body


def test_entries_written_together_by_two_sessions_stay_one_chain(hub, people, capsys, monkeypatch, settings):
    import threading

    _point_the_cli_at(settings, monkeypatch)
    errors = []

    def add(n: int) -> None:
        try:
            for k in range(10):
                hub.services.directory.add_commune(None, f"T{n}-{k}", f"Xã {n}-{k}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    code, body = verify(capsys)
    assert code == 0 and body["entries"] >= 40, body
