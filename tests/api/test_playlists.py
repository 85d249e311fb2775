"""/api/v1/playlists and `hub playlists sync`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.cli import main as hub_cli
from hub.models import Playlist


def playlist(bid: str, commune: str = "A", **overrides):
    body = {"name": "Bản tin sáng", "commune": commune, "items": [{"bulletin_id": bid}],
            "schedule": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "times": ["06:00", "17:30"],
                         "start_date": "2026-11-01", "end_date": None},
            "enabled": True}
    body.update(overrides)
    return body


def count(desk) -> int:
    with desk.hub.store.reader() as session:
        return session.scalar(select(func.count()).select_from(Playlist))


def test_operator_crud_on_own_commune(desk):
    client = desk.client
    bid = desk.approved(targets=["A"])
    operator = desk.people.user("op-a", "operator", "A")
    r = client.post("/api/v1/playlists", json=playlist(bid), headers=operator)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.json()["warnings"] == []
    assert client.get(f"/api/v1/playlists/{pid}", headers=operator).json()["items"] == [{"bulletin_id": bid}]
    r = client.put(f"/api/v1/playlists/{pid}", json=playlist(bid, name="Bản tin chiều"), headers=operator)
    assert r.status_code == 200 and r.json()["name"] == "Bản tin chiều"
    assert [p["id"] for p in client.get("/api/v1/playlists?commune=A", headers=operator).json()] == [pid]
    assert client.delete(f"/api/v1/playlists/{pid}", headers=operator).status_code == 204
    assert client.get(f"/api/v1/playlists/{pid}", headers=operator).status_code == 404


def test_operator_cannot_touch_another_commune(desk):
    client = desk.client
    bid = desk.approved(targets=["*"])
    op_a = desk.people.user("op-a", "operator", "A")
    op_b = desk.people.user("op-b", "operator", "B")
    assert client.post("/api/v1/playlists", json=playlist(bid, commune="B"), headers=op_a).status_code == 404
    pid = client.post("/api/v1/playlists", json=playlist(bid, commune="B"), headers=op_b).json()["id"]
    before = count(desk)
    assert client.get(f"/api/v1/playlists/{pid}", headers=op_a).status_code == 404
    assert client.put(f"/api/v1/playlists/{pid}", json=playlist(bid, commune="A"), headers=op_a).status_code == 404
    assert client.delete(f"/api/v1/playlists/{pid}", headers=op_a).status_code == 404
    assert client.get("/api/v1/playlists", headers=op_a).json() == []
    assert count(desk) == before
    monitor = desk.people.user("m", "monitor")
    assert len(client.get("/api/v1/playlists", headers=monitor).json()) == 1
    assert client.post("/api/v1/playlists", json=playlist(bid, commune="B"), headers=monitor).status_code == 403


@pytest.mark.parametrize("case", ["draft", "other-commune", "withdrawn", "unknown"])
def test_items_must_be_approved_bulletins_for_the_commune(desk, case):
    client = desk.client
    if case == "draft":
        bid = client.post("/api/v1/bulletins", json={"title": "t", "body": "b", "targets": ["A"]},
                          headers=desk.author).json()["id"]
    elif case == "other-commune":
        bid = desk.approved(targets=["B"], render=False)
    elif case == "withdrawn":
        bid = desk.approved(targets=["A"], render=False)
        client.post(f"/api/v1/bulletins/{bid}/withdraw", headers=desk.approver)
    else:
        bid = "0" * 32
    good = desk.approved(targets=["A"], render=False)
    body = playlist(good)
    body["items"].append({"bulletin_id": bid})
    r = client.post("/api/v1/playlists", json=body, headers=desk.approver)
    assert r.status_code == 422
    assert "items[1]" in r.json()["detail"] and bid in r.json()["detail"]
    assert count(desk) == 0


@pytest.mark.parametrize("schedule", [
    {"days": ["mon"], "times": ["25:00"], "start_date": "2026-12-01"},
    {"days": ["monday"], "times": ["06:00"], "start_date": "2026-12-01"},
    {"days": ["mon"], "times": [], "start_date": "2026-12-01"},
    {"days": ["mon"], "times": ["06:00", "06:00"], "start_date": "2026-12-01"},
    {"days": ["mon"], "times": ["06:00"], "start_date": "2026-12-01", "end_date": "2026-11-01"},
    {"days": ["mon"], "times": ["06:00"]},
    {"days": ["mon"], "times": ["6h"], "start_date": "2026-12-01"},
])
def test_bad_schedules_are_422(desk, schedule):
    bid = desk.approved(targets=["A"], render=False)
    r = desk.client.post("/api/v1/playlists", json=playlist(bid, schedule=schedule), headers=desk.approver)
    assert r.status_code == 422 and r.json()["detail"]
    assert count(desk) == 0


def test_overlapping_programmes_are_warned_about(desk):
    bid = desk.approved(targets=["A"])
    first = desk.client.post("/api/v1/playlists", json=playlist(bid, name="Một"), headers=desk.approver)
    assert first.json()["warnings"] == []
    second = desk.client.post("/api/v1/playlists", json=playlist(bid, name="Hai"), headers=desk.approver)
    assert second.status_code == 201
    assert second.json()["warnings"], "two programmes at the same times must be reported"


def test_sync_files_is_idempotent_and_reports_lines(desk, tmp_path, monkeypatch, capsys):
    bid = desk.approved(targets=["A"], render=False)
    folder = tmp_path / "playlists"
    folder.mkdir()
    (folder / "good.yaml").write_text(
        f"name: Sáng\ncommune: A\nitems:\n  - bulletin_id: {bid}\n"
        "schedule:\n  days: [mon, tue]\n  times: ['06:00']\n  start_date: 2026-11-01\n")
    (folder / "bad.yaml").write_text(
        "name: Lỗi\ncommune: A\nitems:\n  - bulletin_id: x\nschedule:\n  days: [mon]\n"
        "  times: ['31:00']\n  start_date: 2026-11-01\n")
    monkeypatch.setenv("HUB_DATA_DIR", str(desk.hub.settings.data_dir))
    # An API playlist is never touched by sync.
    desk.client.post("/api/v1/playlists", json=playlist(bid), headers=desk.approver)

    assert hub_cli(["playlists", "sync", str(folder)]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["created"] == ["good.yaml"]
    assert f"{folder / 'bad.yaml'}:7:" in err and "times" in err
    assert count(desk) == 2

    assert hub_cli(["playlists", "sync", str(folder)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["created"] == [] and report["unchanged"] == ["good.yaml"]
    assert count(desk) == 2

    (folder / "bad.yaml").unlink()
    (folder / "good.yaml").write_text((folder / "good.yaml").read_text().replace("Sáng", "Sáng sớm"))
    assert hub_cli(["playlists", "sync", str(folder)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["updated"] == ["good.yaml"]
    with desk.hub.store.reader() as session:
        names = sorted(session.scalars(select(Playlist.name)))
    assert names == ["Bản tin sáng", "Sáng sớm"]
    file_playlist = next(p for p in desk.client.get("/api/v1/playlists", headers=desk.approver).json()
                         if p["origin"] == "file")
    r = desk.client.put(f"/api/v1/playlists/{file_playlist['id']}", json=playlist(bid), headers=desk.approver)
    assert r.status_code == 409

    (folder / "good.yaml").unlink()
    assert hub_cli(["playlists", "sync", str(folder)]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == ["good.yaml"]
    assert count(desk) == 1


def test_shipped_example_files_are_valid():
    from hub.playlists import load_file

    root = Path(__file__).resolve().parents[2] / "playlists"
    files = sorted(root.glob("*.yaml"))
    assert files
    for path in files:
        load_file(path)


def test_a_playlist_file_that_is_not_utf8_is_reported_not_a_crash(desk, tmp_path):
    from hub.auth import Principal
    from hub.playlists import sync

    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "latin1.yaml").write_bytes("name: Bản tin\n".encode("utf-16"))
    with desk.hub.store.session() as session:
        report = sync(session, Principal("system", "test", "admin"), folder)
    assert report.created == [] and "not UTF-8" in report.errors[0]


@pytest.mark.parametrize("field", ["name", "commune"])
def test_nul_in_playlist_fields_is_422(desk, field):
    bid = desk.approved(targets=["A"], render=False)
    body = playlist(bid)
    body[field] = "A\x00B"
    r = desk.client.post("/api/v1/playlists", json=body, headers=desk.approver)
    assert r.status_code == 422 and count(desk) == 0
    assert desk.client.get("/api/v1/playlists/a%00b", headers=desk.approver).status_code == 404
