"""Issue 14: an upload is as long as its decoder says, never what its header claims; every ffmpeg
run has a timeout; audio work and programme storage are bounded per commune; errors name no paths."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.media import AudioWork, Busy
from hub.models import MediaObject
from hub.plugin_types import RenderedMedia
from hub.plugins import make_plugin_manager
from hub_speech.audio import FFmpegError, run_ffmpeg
from tests.conftest import People, bulletin_payload

pytestmark = pytest.mark.sqlite_only  # ffmpeg's work, not the store's: one lane is enough

LIMIT_S = 60


def _mp3(path: Path, source: str, rate: int, bitrate: str) -> bytes:
    # No Xing/Info header and no ID3 tag, so the parts can be joined byte for byte.
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-ac", "1", "-ar", str(rate),
                    "-c:a", "libmp3lame", "-b:a", bitrate, "-write_xing", "0", "-id3v2_version", "0", str(path)],
                   check=True)
    return path.read_bytes()


@pytest.fixture(scope="module")
def lying_mp3(tmp_path_factory) -> Path:
    """2 s at 160 kbps, then 5 minutes at 8 kbps: ffprobe estimates the length from the first
    frame's bitrate (about 17 s), the decoder hears 302 s (the issue's file: 2 h, said 1,624 s)."""
    folder = tmp_path_factory.mktemp("lying")
    head = _mp3(folder / "head.mp3", "sine=frequency=440:duration=2", 44100, "160k")
    tail = _mp3(folder / "tail.mp3", "anoisesrc=duration=300:amplitude=0.2:sample_rate=8000", 8000, "8k")
    path = folder / "lying.mp3"
    path.write_bytes(head + tail)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(path)], capture_output=True, text=True, check=True)
    assert float(probe.stdout) < LIMIT_S, "the file must lie: its header says it is short"
    return path


@pytest.fixture
def hub_client(settings, monkeypatch):
    monkeypatch.setenv("HUB_SPEECH_MAX_RECORDING_S", str(LIMIT_S))
    local = settings.model_copy(update={"disabled_plugins": ["slides"], "tts_engines": ["espeak"],
                                        "media_commune_quota_bytes": 100_000})
    with TestClient(create_app(local, pm=make_plugin_manager(local))) as client:
        people = People(client.app.state.hub)
        people.commune("A")
        people.commune("B")
        client.people = people
        client.editor = people.user("tacgia", "editor")
        client.op_a = people.user("op-a", "operator", "A")
        yield client


def _stored(hub) -> int:
    with hub.store.reader() as session:
        return session.query(MediaObject).count()


def test_an_mp3_that_lies_about_its_length_is_refused_by_its_decoded_length(hub_client, lying_mp3):
    hub = hub_client.app.state.hub
    with lying_mp3.open("rb") as handle:
        r = hub_client.post("/api/v1/media", files={"file": ("jingle.mp3", handle, "audio/mpeg")},
                            headers=hub_client.op_a)
    assert r.status_code == 422, r.text
    assert f"more than the {LIMIT_S} s allowed" in r.json()["detail"]
    bid = hub_client.post("/api/v1/bulletins", json=bulletin_payload(targets=["A"], channels=["speaker"]),
                          headers=hub_client.editor).json()["id"]
    with lying_mp3.open("rb") as handle:
        r = hub_client.post(f"/api/v1/bulletins/{bid}/recording", files={"file": ("tin.mp3", handle, "audio/mpeg")},
                            headers=hub_client.editor)
    assert r.status_code == 422 and f"more than the {LIMIT_S} s allowed" in r.json()["detail"]
    assert _stored(hub) == 0
    assert hub_client.get(f"/api/v1/bulletins/{bid}", headers=hub_client.editor).json()["revision"] == 1


def test_upload_errors_name_no_server_paths(hub_client, tmp_path):
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(bytes(range(256)) * 12)
    with junk.open("rb") as handle:
        r = hub_client.post("/api/v1/media", files={"file": ("junk.mp3", handle, "audio/mpeg")},
                            headers=hub_client.op_a)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "/tmp" not in detail and "hub-media-" not in detail and "/" not in detail.replace("MP3, WAV", ""), detail


def test_audio_work_is_bounded_per_commune(hub_client, tmp_path):
    hub = hub_client.app.state.hub
    clip = tmp_path / "clip.mp3"
    _mp3(clip, "sine=frequency=330:duration=1", 22050, "64k")
    with hub.media.work.slot("A"), hub.media.work.slot("A"):
        with clip.open("rb") as handle:
            r = hub_client.post("/api/v1/media", files={"file": ("clip.mp3", handle, "audio/mpeg")},
                                headers=hub_client.op_a)
        assert r.status_code == 429 and r.headers["retry-after"] == "10" and "try again" in r.json()["detail"]
    assert _stored(hub) == 0

    work = AudioWork(per_commune=1, total=2)
    with work.slot("A"):
        with pytest.raises(Busy):
            with work.slot("A"):
                pass
        with work.slot("B"):
            with pytest.raises(Busy):  # the hub's total
                with work.slot("C"):
                    pass
    with work.slot("A"):  # released again
        pass


def test_programme_audio_is_bounded_per_commune(hub_client, tmp_path):
    hub = hub_client.app.state.hub
    operator = hub.services.directory.authenticate(hub_client.op_a["Authorization"].removeprefix("Bearer "))
    big = RenderedMedia(kind="audio", mime="audio/mpeg", data=b"\xff" * 100_000, duration_s=5.0, meta={})
    hub.services.media.record_upload(operator, hub.media.put(big.data), big, "A", "Nhạc hiệu")
    more = RenderedMedia(kind="audio", mime="audio/mpeg", data=b"\xfe" * 20_000, duration_s=1.0, meta={})
    from hub.errors import TooLarge
    with pytest.raises(TooLarge, match="commune A"):
        hub.services.media.record_upload(operator, hub.media.put(more.data), more, "A", "Thêm")
    # B's quota is B's own.
    editor = hub.services.directory.authenticate(hub_client.editor["Authorization"].removeprefix("Bearer "))
    hub.services.media.record_upload(editor, hub.media.put(more.data), more, "B", "Cho B")
    # At its quota, A is told before any mastering starts (a slot held: mastering would be a 429).
    clip = tmp_path / "clip.mp3"
    _mp3(clip, "sine=frequency=330:duration=1", 22050, "64k")
    with hub.media.work.slot("A"), hub.media.work.slot("A"), clip.open("rb") as handle:
        r = hub_client.post("/api/v1/media", files={"file": ("clip.mp3", handle, "audio/mpeg")},
                            data={"commune": "A"}, headers=hub_client.op_a)
    assert r.status_code == 413 and "quota" in r.json()["detail"]


def test_every_ffmpeg_run_has_a_timeout():
    started = time.monotonic()
    with pytest.raises(FFmpegError, match="longer than 1 s"):
        # -re reads at the input's own rate: an hour of input takes an hour, unless stopped.
        run_ffmpeg(["-re", "-f", "lavfi", "-i", "sine=duration=3600", "-f", "null", "-"], what="a test", timeout=1)
    assert time.monotonic() - started < 30
