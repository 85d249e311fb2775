"""The speech plugin's routes: preview, recordings, programme audio uploads; and `hub say`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.cli import main as hub_cli
from hub.plugins import make_plugin_manager
from tests.conftest import People, bulletin_payload


def wav(path: Path, seconds: float = 2.0) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}",
                    "-ac", "1", "-ar", "16000", str(path)], check=True)
    return path


@pytest.fixture
def speech(settings):
    local = settings.model_copy(update={"disabled_plugins": ["slides"], "tts_engines": ["espeak"]})
    with TestClient(create_app(local, pm=make_plugin_manager(local))) as client:
        people = People(client.app.state.hub)
        people.commune("A")
        client.people = people
        client.author = people.user("tacgia", "editor")
        client.approver = people.user("duyet", "editor")
        yield client


def test_preview_gives_the_spoken_text(speech):
    r = speech.post("/api/v1/speech/preview", json={"text": "HĐND xã khóa XVI họp ngày 04/02/2026."},
                    headers=speech.author)
    assert r.status_code == 200
    spoken = r.json()["spoken_text"]
    assert "Hội đồng nhân dân" in spoken and "mười sáu" in spoken and not any(c.isdigit() for c in spoken)
    assert speech.post("/api/v1/speech/preview", json={"text": ""}, headers=speech.author).status_code == 422
    assert speech.post("/api/v1/speech/preview", json={"text": "x"}).status_code == 401


def test_a_recording_makes_a_new_revision_and_airs_instead_of_speech(speech, tmp_path):
    bid = speech.post("/api/v1/bulletins", json=bulletin_payload(targets=["A"], channels=["speaker"]),
                      headers=speech.author).json()["id"]
    speech.post(f"/api/v1/bulletins/{bid}/submit", headers=speech.author)
    with wav(tmp_path / "ban-tin-tay.wav").open("rb") as handle:
        r = speech.post(f"/api/v1/bulletins/{bid}/recording", files={"file": ("ban-tin-tay.wav", handle, "audio/wav")},
                        headers=speech.author)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "draft" and body["revision"] == 2 and body["recording_sha256"]
    speech.post(f"/api/v1/bulletins/{bid}/submit", headers=speech.author)
    assert speech.post(f"/api/v1/bulletins/{bid}/approve", headers=speech.approver).status_code == 200
    hub = speech.app.state.hub
    while hub.pipeline.run_one():
        pass
    artifacts = speech.get(f"/api/v1/bulletins/{bid}/artifacts", headers=speech.author).json()
    audio = [a for a in artifacts if a["kind"] == "audio"]
    assert len(audio) == 1 and audio[0]["engine"] == "recording" and audio[0]["mime"] == "audio/mpeg"
    assert audio[0]["loudness_lufs"] == pytest.approx(-16, abs=1)


def test_a_recording_that_is_not_audio_is_refused_and_changes_nothing(speech, tmp_path):
    bid = speech.post("/api/v1/bulletins", json=bulletin_payload(targets=["A"]), headers=speech.author).json()["id"]
    fake = tmp_path / "not-audio.mp3"
    fake.write_text("đây không phải là âm thanh " * 100)
    with fake.open("rb") as handle:
        r = speech.post(f"/api/v1/bulletins/{bid}/recording", files={"file": ("x.mp3", handle, "audio/mpeg")},
                        headers=speech.author)
    assert r.status_code == 422 and r.json()["detail"]
    assert speech.get(f"/api/v1/bulletins/{bid}", headers=speech.author).json()["revision"] == 1
    other = speech.people.user("op", "operator", "A")
    with wav(tmp_path / "ok.wav").open("rb") as handle:
        r = speech.post(f"/api/v1/bulletins/{bid}/recording", files={"file": ("ok.wav", handle, "audio/wav")},
                        headers=other)
    assert r.status_code == 403


def test_uploaded_programme_audio_goes_into_a_playlist(speech, tmp_path):
    operator = speech.people.user("op", "operator", "A")
    with wav(tmp_path / "nhac-hieu.wav", 3).open("rb") as handle:
        r = speech.post("/api/v1/media", files={"file": ("nhac-hieu.wav", handle, "audio/wav")},
                        data={"title": "Nhạc hiệu"}, headers=operator)
    assert r.status_code == 201, r.text
    media = r.json()
    assert media["commune"] == "A" and media["mime"] == "audio/mpeg" and media["duration_s"] > 2
    playlist = {"name": "Nhạc hiệu", "commune": "A", "items": [{"media": media["sha256"]}],
                "schedule": {"times": ["06:00"], "start_date": "2026-11-01"}}
    assert speech.post("/api/v1/playlists", json=playlist, headers=operator).status_code == 201
    speech.people.commune("B")
    playlist["commune"] = "B"
    assert speech.post("/api/v1/playlists", json=playlist, headers=speech.approver).status_code == 422
    bad = tmp_path / "x.ogg"
    bad.write_bytes(b"OggS" + b"\0" * 100)
    with bad.open("rb") as handle:
        r = speech.post("/api/v1/media", files={"file": ("x.ogg", handle, "audio/ogg")}, headers=operator)
    assert r.status_code == 422


def test_hub_say_writes_an_mp3(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_TTS_ENGINES", "espeak")
    out = tmp_path / "say.mp3"
    assert hub_cli(["say", "Xã có 05 thôn, 1.250 hộ.", "-o", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"] == "espeak" and "một nghìn hai trăm năm mươi" in report["spoken_text"]
    assert out.read_bytes()[:3] in (b"ID3", b"\xff\xfb") and out.stat().st_size > 1000


def test_hear_a_text_as_the_loudspeaker_will_and_again_from_the_cache(speech, tmp_path):
    text = {"text": "Thông báo: xã có 05 thôn, họp lúc 07:30."}
    r = speech.post("/api/v1/speech/preview.mp3", json=text, headers=speech.author)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/mpeg"
    out = tmp_path / "nghe-thu.mp3"
    out.write_bytes(r.content)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(out)],
                           capture_output=True, text=True, check=True)
    assert float(probe.stdout.strip()) > 0
    cache = Path(speech.app.state.hub.settings.cache_dir) / "audio"
    def files():
        return sorted((p, p.stat().st_mtime_ns) for p in cache.rglob("*") if p.is_file())
    before = files()
    again = speech.post("/api/v1/speech/preview.mp3", json=text, headers=speech.author)
    assert again.status_code == 200 and again.content == r.content
    assert before and files() == before  # the mastered cache answered: nothing was written again
    assert speech.post("/api/v1/speech/preview.mp3", json=text).status_code == 401
    device = speech.people.device("loa-1", "A")
    assert speech.post("/api/v1/speech/preview.mp3", json=text, headers=device).status_code == 403
    long = speech.post("/api/v1/speech/preview.mp3", json={"text": "a" * 2001}, headers=speech.author)
    assert long.status_code == 422 and long.json()["detail"]
    assert speech.post("/api/v1/speech/preview.mp3", json={"text": "a\x00b"}, headers=speech.author).status_code == 422
