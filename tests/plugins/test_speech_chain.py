"""The whole speech chain with the real plugins: gTTS when Google (here a local fake) answers,
the offline voice when it does not, with the fallback on record."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.plugins import make_plugin_manager
from tests.conftest import People, bulletin_payload
from tests.plugins.fake_gtts import FakeGoogleTTS, make_mp3


def approve_and_render(settings, monkeypatch, url: str) -> list[dict]:
    monkeypatch.setenv("HUB_GTTS_URL", url)
    monkeypatch.setenv("HUB_GTTS_RETRIES", "1")
    monkeypatch.setenv("HUB_GTTS_BACKOFF_S", "0.01")
    monkeypatch.setenv("HUB_GTTS_TIMEOUT_S", "2")
    local = settings.model_copy(update={"tts_engines": ["gtts", "espeak"], "disabled_plugins": ["slides"]})
    with TestClient(create_app(local, pm=make_plugin_manager(local))) as client:
        people = People(client.app.state.hub)
        people.commune("A")
        author, approver = people.user("a", "editor"), people.user("b", "editor")
        payload = bulletin_payload(targets=["A"], title="Thông báo", body="Ngày 05/12/2026 họp HĐND xã.")
        bid = client.post("/api/v1/bulletins", json=payload, headers=author).json()["id"]
        client.post(f"/api/v1/bulletins/{bid}/submit", headers=author)
        client.post(f"/api/v1/bulletins/{bid}/approve", headers=approver)
        while client.app.state.hub.pipeline.run_one():
            pass
        view = client.get(f"/api/v1/bulletins/{bid}", headers=author).json()
        assert view["render_status"] == "done", view["error"]
        return [a for a in view["artifacts"] if a["kind"] == "audio"]


def test_gtts_speaks_when_google_answers(settings, monkeypatch):
    with FakeGoogleTTS("ok", audio=make_mp3(1.5)) as google:
        audio = approve_and_render(settings, monkeypatch, google.url)
        asked = " ".join(r.text for r in google.requests)
    assert len(audio) == 1
    assert audio[0]["engine"] == "gtts" and audio[0]["fallback"] is False
    assert "Hội đồng nhân dân" in asked and "05/12" not in asked, "Google gets the normalised text"
    assert audio[0]["loudness_lufs"] == pytest.approx(-16, abs=1)


@pytest.mark.parametrize("mode", ["500", "429", "empty", "hang"])
def test_offline_voice_takes_over_when_google_fails(settings, monkeypatch, mode):
    with FakeGoogleTTS(mode, hang_s=5) as google:
        audio = approve_and_render(settings, monkeypatch, google.url)
    assert audio[0]["engine"] == "espeak" and audio[0]["fallback"] is True
    assert audio[0]["spoken_text"].startswith("Thông báo")
    assert audio[0]["loudness_lufs"] == pytest.approx(-16, abs=1)


def test_no_network_at_all_falls_back(settings, monkeypatch):
    audio = approve_and_render(settings, monkeypatch, "http://127.0.0.1:9/unreachable")
    assert audio[0]["engine"] == "espeak" and audio[0]["fallback"] is True
