"""Relay items (tiếp sóng) through the API and playlist files, and in the signed device manifest."""

from __future__ import annotations

import json

import pytest

from hub.cli import main as hub_cli
from tests.api.test_playlists import count, playlist

VOV = "https://stream.vov.example/vov1.mp3"


def test_a_relay_item_is_stored_and_reaches_the_manifest_as_a_stream(desk):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    soon = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) + timedelta(hours=1)
    body = playlist("unused", items=[{"stream_url": VOV, "duration_s": 900}],
                    schedule={"times": [soon.strftime("%H:%M")], "start_date": soon.date().isoformat()})
    r = desk.client.post("/api/v1/playlists", json=body, headers=desk.approver)
    assert r.status_code == 201, r.text
    assert r.json()["items"] == [{"stream_url": VOV, "duration_s": 900}]
    device = desk.people.device("loa-1", "A")
    answer = desk.client.get("/api/v1/device/manifest", headers=device)
    assert answer.status_code == 200 and answer.headers["X-Hub-Signature"].startswith("keyid=")
    [item] = [i for i in answer.json()["items"] if "stream" in i][:1]
    assert item["stream"] == {"url": VOV, "duration_s": 900.0}
    assert "media" not in item and item["bulletin_id"] is None and item["interrupt"] is False
    assert item["playlist_id"] == r.json()["id"]


BAD = [
    ({"stream_url": "ftp://radio.example/vov.mp3", "duration_s": 60}, "http:// or https://"),
    ({"stream_url": "javascript:alert(1)", "duration_s": 60}, "http:// or https://"),
    ({"stream_url": "file:///etc/passwd", "duration_s": 60}, "http:// or https://"),
    ({"stream_url": "http:///vov.mp3", "duration_s": 60}, "no host"),
    ({"stream_url": "http://user:pw@radio.example/vov.mp3", "duration_s": 60}, "user name or password"),
    ({"stream_url": "http://radio.example/a b.mp3", "duration_s": 60}, "spaces"),
    ({"stream_url": "http://radio.example:99999/vov.mp3", "duration_s": 60}, "not a valid URL"),
    ({"stream_url": VOV}, "needs duration_s"),
    ({"stream_url": VOV, "duration_s": 0}, "duration_s"),
    ({"stream_url": VOV, "duration_s": 6 * 3600 + 1}, "duration_s"),
    ({"stream_url": VOV, "duration_s": 60, "media": "a" * 64}, "exactly one of"),
    ({"bulletin_id": "x", "duration_s": 60}, "relay item (stream_url) only"),
]


def test_bad_relay_items_are_422_and_change_nothing(desk):
    before = count(desk)
    for item, words in BAD:
        r = desk.client.post("/api/v1/playlists", json=playlist("unused", items=[item]), headers=desk.approver)
        assert r.status_code == 422, (item, r.text)
        assert words in json.dumps(r.json()["detail"]), (item, r.json())
    assert count(desk) == before


def test_a_relay_in_a_playlist_file(desk, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "playlists"
    folder.mkdir()
    (folder / "vov.yaml").write_text(
        "name: Tiếp sóng VOV\ncommune: A\nitems:\n"
        f"  - stream_url: {VOV}\n    duration_s: 1800\n"
        "schedule:\n  times: ['06:00', '18:00']\n  start_date: 2026-11-01\n")
    (folder / "bad.yaml").write_text(
        "name: Lỗi\ncommune: A\nitems:\n  - stream_url: rtsp://radio.example/x\n    duration_s: 60\n"
        "schedule:\n  times: ['06:00']\n  start_date: 2026-11-01\n")
    monkeypatch.setenv("HUB_DATA_DIR", str(desk.hub.settings.data_dir))
    if desk.hub.settings.database_url:
        monkeypatch.setenv("HUB_DATABASE_URL", desk.hub.settings.database_url)
    assert hub_cli(["playlists", "sync", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["created"] == ["vov.yaml"]
    assert f"{folder / 'bad.yaml'}:4:" in err and "http:// or https://" in err
    [made] = desk.client.get("/api/v1/playlists", headers=desk.approver).json()
    assert made["items"] == [{"stream_url": VOV, "duration_s": 1800}]
