"""`hub demo` fills an empty data folder, renders offline, and leaves a hub that serves it."""

from __future__ import annotations

import json

import httpx
import pytest

from hub.cli import main as hub_cli
from tests.conftest import ROOT, ServerProcess

pytestmark = pytest.mark.slow


def test_demo_then_serve(tmp_path, monkeypatch, capsys):
    data = tmp_path / "var"
    monkeypatch.setenv("HUB_DATA_DIR", str(data))
    monkeypatch.chdir(ROOT)  # the demo syncs the example files in playlists/
    assert hub_cli(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Demo data added" in out and "2 created; 0 with errors" in out
    tokens = json.loads((data / "demo-tokens.json").read_text())
    # A second run adds nothing and says so.
    assert hub_cli(["demo"]) == 0
    assert "has data already" in capsys.readouterr().out

    server = ServerProcess({"HUB_DATA_DIR": str(data), "HUB_TTS_ENGINES": "espeak"}).start()
    try:
        editor = {"Authorization": f"Bearer {tokens['users']['editor']['token']}"}
        with httpx.Client(base_url=server.url, timeout=10) as http:
            listed = http.get("/api/v1/bulletins", headers=editor).json()
            assert len(listed) == 3 and {b["status"] for b in listed} == {"approved"}
            assert {b["render_status"] for b in listed} == {"done"}
            for bulletin in listed:
                artifacts = http.get(f"/api/v1/bulletins/{bulletin['id']}/artifacts", headers=editor).json()
                audio = [a for a in artifacts if a["kind"] == "audio"]
                assert audio and audio[0]["engine"] == "espeak" and abs(audio[0]["loudness_lufs"] + 16) <= 1
                assert any(a["kind"] == "slide" for a in artifacts)
            speaker = {"Authorization": f"Bearer {tokens['devices']['speaker']['token']}"}
            manifest = http.get("/api/v1/device/manifest", headers=speaker).json()
            assert manifest["items"], "the example playlist puts the demo bulletins on the air"
            assert http.get("/feeds/all.rss").status_code == 200
            display = tokens["devices"]["display"]["token"]
            assert http.get(f"/display?token={display}").status_code == 200
    finally:
        server.stop()


def test_a_demo_that_fails_half_way_leaves_the_folder_empty(tmp_path, monkeypatch, capsys):
    """One transaction: a failure after the people were added (here, the second approval) leaves
    no half-filled data folder behind, so the next `hub demo` starts again instead of saying
    there is data already."""
    from hub.services.bulletins import BulletinService

    data = tmp_path / "var"
    monkeypatch.setenv("HUB_DATA_DIR", str(data))
    monkeypatch.chdir(ROOT)
    approve, calls = BulletinService.approve, []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the disk filled up")
        return approve(self, *args, **kwargs)

    monkeypatch.setattr(BulletinService, "approve", failing)
    with pytest.raises(RuntimeError):
        hub_cli(["demo"])
    monkeypatch.setattr(BulletinService, "approve", approve)
    capsys.readouterr()
    assert hub_cli(["demo"]) == 0
    assert "Demo data added" in capsys.readouterr().out


def test_demo_prints_the_address_it_will_be_served_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("HUB_PUBLIC_URL", raising=False)
    monkeypatch.chdir(ROOT)
    assert hub_cli(["demo", "--host", "0.0.0.0", "--port", "8123"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123/console" in out and ":8000" not in out
    assert hub_cli(["demo", "--port", "8124"]) == 0
    again = capsys.readouterr().out
    assert "has data already" in again and "http://127.0.0.1:8124/console" in again
    assert "password" in again, "the saved passwords are shown again"
