"""The offline voice, with the real espeak-ng binary."""

from __future__ import annotations

import io
import json
import shutil
import stat
import subprocess
import tempfile
import wave

import pluggy
import pytest

import hub_tts_espeak
from hub import hookspecs
from hub.plugin_types import SynthesisResult, TTSEngine, TTSError
from hub_tts_espeak import EspeakEngine, EspeakSettings

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

TEXT = "Ủy ban nhân dân xã thông báo: sáng mai, bà con đi tiêm phòng."


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    return EspeakEngine(EspeakSettings())


def frames(audio: bytes) -> int:
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return wav.getnframes()


def ffprobe(audio: bytes) -> dict:
    # A file rather than a pipe: ffprobe reports no duration for piped WAV.
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        f.write(audio)
        f.flush()
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate:format=duration",
             "-of", "json", f.name], capture_output=True, check=True, timeout=30,
        ).stdout
    return json.loads(out)


def test_registration_is_cheap_and_goes_through_the_hook(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("registration must not run or look up anything")

    monkeypatch.setattr(subprocess, "run", forbidden)
    monkeypatch.setattr(shutil, "which", forbidden)
    pm = pluggy.PluginManager("hub")
    pm.add_hookspecs(hookspecs)
    pm.register(hub_tts_espeak)
    [[engine]] = pm.hook.hub_register_tts_engines(settings=object())
    assert engine.name == "espeak"
    assert not engine._looked_up and engine._version is None and engine._voices is None


def test_follows_the_protocol_and_reports_its_version(engine):
    assert isinstance(engine, TTSEngine)
    assert engine.available()
    assert engine.version.startswith("espeak-ng 1.")
    assert f"hub_tts_espeak {hub_tts_espeak.PLUGIN_VERSION}" in engine.version


@pytest.mark.parametrize(
    ("voice", "reported"),
    [(None, "vi"), ("vi", "vi"), ("vi-VN-x-central", "vi-VN-x-central"),
     ("vi-VN-x-south", "vi-VN-x-south"), ("VI-vn-X-South", "vi-VN-x-south")],
)
def test_each_vietnamese_variant_makes_a_valid_wav(engine, voice, reported):
    result = engine.synthesize(TEXT, voice=voice, speed=1.0)
    assert isinstance(result, SynthesisResult)
    assert (result.format, result.voice) == ("wav", reported)
    assert frames(result.audio) > 22050  # more than a second of speech
    probe = ffprobe(result.audio)
    assert probe["streams"][0]["codec_name"] == "pcm_s16le"
    assert float(probe["format"]["duration"]) > 1.0


def test_the_three_regions_sound_different(engine):
    audio = {v: engine.synthesize(TEXT, voice=v, speed=1.0).audio
             for v in ("vi", "vi-VN-x-central", "vi-VN-x-south")}
    assert len(set(audio.values())) == 3


def test_unknown_voice_fails_with_tts_error(engine):
    with pytest.raises(TTSError, match="no voice"):
        engine.synthesize(TEXT, voice="vi-VN-x-mekong", speed=1.0)


@pytest.mark.parametrize("text", ["-v en xin chào", "--version", "--help bà con", "-"])
def test_text_that_looks_like_an_option_is_spoken(engine, text):
    result = engine.synthesize(text, voice=None, speed=1.0)
    assert frames(result.audio) > 0
    assert result.audio.startswith(b"RIFF")


def test_speed_changes_the_rate(engine):
    slow = frames(engine.synthesize(TEXT, voice="vi", speed=0.7).audio)
    normal = frames(engine.synthesize(TEXT, voice="vi", speed=1.0).audio)
    fast = frames(engine.synthesize(TEXT, voice="vi", speed=1.5).audio)
    assert slow > normal > fast


def test_default_voice_comes_from_settings(monkeypatch):
    monkeypatch.setenv("HUB_ESPEAK_VOICE", "vi-VN-x-south")
    engine = EspeakEngine(EspeakSettings())
    assert engine.synthesize("Xin chào.", voice=None, speed=1.0).voice == "vi-VN-x-south"


def test_empty_text_fails(engine):
    with pytest.raises(TTSError):
        engine.synthesize("  \n ", voice=None, speed=1.0)


def test_missing_binary_is_unavailable_and_fails():
    engine = EspeakEngine(EspeakSettings(binary="espeak-ng-not-installed"))
    assert not engine.available()
    assert "unknown" in engine.version
    with pytest.raises(TTSError, match="not installed"):
        engine.synthesize("Xin chào.", voice=None, speed=1.0)


def test_a_hung_process_is_killed_after_the_timeout(tmp_path, engine):
    # A real executable that answers --voices like espeak-ng and then hangs while "speaking".
    listing = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True).stdout
    (tmp_path / "voices.txt").write_text(listing)
    fake = tmp_path / "espeak-hang"
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "--voices" ]; then cat {tmp_path}/voices.txt; exit 0; fi\n'
                    "exec sleep 30\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    hung = EspeakEngine(EspeakSettings(binary=str(fake), timeout_s=0.3))
    with pytest.raises(TTSError, match="longer than"):
        hung.synthesize("Xin chào.", voice=None, speed=1.0)
