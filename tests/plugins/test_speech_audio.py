"""Mastering and uploads, checked the way a broadcaster's QC would: real espeak-ng, real ffmpeg."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pluggy
import pytest

import hub.hookspecs
import hub_speech
from hub import hookimpl
from hub.config import Settings
from hub.plugins import Registrations
from hub.plugin_types import SynthesisResult
from hub_speech import SpeechSettings, process_upload, synthesize_to_mp3
from hub_speech.chime import bookends

# EBU R128 allows ±1 LU where a programme cannot be normalised exactly; ebur128 prints true peak
# to 0.1 dB, so allow that rounding over the ceiling (the mastering aims 1 dB under it).
TARGET, LU_TOLERANCE, PEAK_CEILING = -16.0, 1.0, -1.5 + 0.1

SENTENCES = (
    "Ủy ban nhân dân xã thông báo lịch tiêm chủng mở rộng cho trẻ em dưới năm tuổi. "
    "Thời gian từ ngày mười lăm đến ngày hai mươi tháng mười hai, tại trạm y tế xã. "
    "Đề nghị các gia đình đưa trẻ đến đúng giờ và mang theo sổ tiêm chủng."
)


@dataclass
class Espeak:
    """A test-only engine over the real espeak-ng binary."""

    name: str = "espeak-test"
    version: str = "test-1"
    calls: list[str] = field(default_factory=list)

    def available(self) -> bool:
        return True

    def synthesize(self, text: str, *, voice: str | None, speed: float) -> SynthesisResult:
        self.calls.append(text)
        out = subprocess.run(["espeak-ng", "-v", voice or "vi", "--stdout", text], capture_output=True, check=True)
        return SynthesisResult(audio=out.stdout, format="wav", voice=voice or "vi")


def measure(data: bytes, tmp_path: Path) -> tuple[float, float]:
    """Integrated loudness and true peak of an MP3, by ffmpeg's ebur128 filter."""
    path = tmp_path / "qc.mp3"
    path.write_bytes(data)
    log = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true:framelog=verbose",
         "-f", "null", "-"], capture_output=True, text=True, check=True,
    ).stderr
    summary = log[log.rindex("Summary:"):]
    return (float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary)[1]),
            float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary)[1]))


def probe(data: bytes, tmp_path: Path) -> dict:
    path = tmp_path / "probe.mp3"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_entries",
         "stream=codec_name,sample_rate,channels:format=format_name,duration:format_tags", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out)


def assert_broadcast_ready(data: bytes, tmp_path: Path, *, tolerance: float = LU_TOLERANCE) -> None:
    lufs, peak = measure(data, tmp_path)
    assert abs(lufs - TARGET) <= tolerance, f"integrated loudness {lufs} LUFS"
    assert peak <= PEAK_CEILING, f"true peak {peak} dBTP"
    info = probe(data, tmp_path)
    (stream,) = info["streams"]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == ("mp3", "22050", 1)


@pytest.fixture
def engine() -> Espeak:
    return Espeak()


@pytest.fixture
def speech_pm(engine: Espeak):
    pm = pluggy.PluginManager("hub")
    pm.add_hookspecs(hub.hookspecs)

    class TestVoice:
        @hookimpl
        def hub_register_tts_engines(self):
            return [engine]

    pm.register(TestVoice())
    pm.register(hub_speech)
    return pm


@pytest.fixture
def speech_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", tts_engines=["espeak-test"])


def test_spoken_text_meets_r128_and_the_delivery_format(speech_pm, speech_settings, tmp_path):
    media = synthesize_to_mp3(Registrations(speech_pm, speech_settings), speech_settings, SENTENCES, title="Lịch tiêm chủng")
    assert (media.kind, media.mime) == ("audio", "audio/mpeg")
    # The mastering reports what QC measures on the same file.
    lufs, peak = measure(media.data, tmp_path)
    assert media.meta["loudness_lufs"] == pytest.approx(lufs, abs=0.15)
    assert media.meta["true_peak_dbtp"] == pytest.approx(peak, abs=0.15)
    assert_broadcast_ready(media.data, tmp_path, tolerance=0.5)
    tags = probe(media.data, tmp_path)["format"]["tags"]
    assert tags["title"] == "Lịch tiêm chủng"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", tags["date"])
    assert tags["album"] == speech_settings.province
    assert media.duration_s == pytest.approx(float(probe(media.data, tmp_path)["format"]["duration"]), abs=0.05)


@pytest.mark.parametrize("chime", [True, False])
def test_a_very_short_text_is_still_within_tolerance(speech_pm, speech_settings, tmp_path, chime):
    # One word: well under the 3 s where integrated loudness stops behaving like a long programme.
    audio = SpeechSettings(chime=chime)
    media = synthesize_to_mp3(Registrations(speech_pm, speech_settings), speech_settings, "Xin chào.", audio=audio)
    assert media.duration_s < (8 if chime else 4)
    assert_broadcast_ready(media.data, tmp_path)


def test_horn_eq_and_other_formats_are_settings(speech_pm, speech_settings, tmp_path):
    audio = SpeechSettings(eq=True, sample_rate=44100, bitrate="96k", chime=False, pad_ms=0)
    media = synthesize_to_mp3(Registrations(speech_pm, speech_settings), speech_settings, SENTENCES, audio=audio)
    (stream,) = probe(media.data, tmp_path)["streams"]
    assert stream["sample_rate"] == "44100"
    lufs, peak = measure(media.data, tmp_path)
    assert abs(lufs - TARGET) <= LU_TOLERANCE and peak <= PEAK_CEILING


def test_settings_read_from_hub_speech_environment(monkeypatch):
    monkeypatch.setenv("HUB_SPEECH_TARGET_LUFS", "-18")
    monkeypatch.setenv("HUB_SPEECH_CHIME", "false")
    monkeypatch.setenv("HUB_SPEECH_BITRATE", "48k")
    audio = SpeechSettings()
    assert (audio.target_lufs, audio.chime, audio.bitrate, audio.sample_rate) == (-18, False, "48k", 22050)
    monkeypatch.setenv("HUB_SPEECH_BITRATE", "loud")
    with pytest.raises(ValueError):
        SpeechSettings()


def test_the_former_hub_audio_names_still_work_with_a_warning(monkeypatch, caplog):
    monkeypatch.setenv("HUB_AUDIO_TARGET_LUFS", "-18")
    monkeypatch.setenv("HUB_AUDIO_PAD_MS", "250")
    monkeypatch.setenv("HUB_SPEECH_PAD_MS", "300")
    with caplog.at_level("WARNING", logger="hub_speech.audio"):
        audio = SpeechSettings()
    # The new name wins when both are set.
    assert (audio.target_lufs, audio.pad_ms) == (-18, 300)
    assert "HUB_AUDIO_TARGET_LUFS" in caplog.text and "HUB_SPEECH_TARGET_LUFS" in caplog.text
    assert SpeechSettings(target_lufs=-20).target_lufs == -20


def test_the_chime_is_made_here_and_reused(tmp_path):
    audio = SpeechSettings()
    first = bookends(audio, tmp_path)
    assert first is not None
    intro, outro = first
    stamp = intro.stat().st_mtime_ns
    assert bookends(audio, tmp_path) == first and intro.stat().st_mtime_ns == stamp
    seconds = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                    str(intro)], capture_output=True, text=True, check=True).stdout)
    # Padding + three overlapping bell notes + the gap before the voice.
    assert 1.5 < seconds < 3.0
    assert bookends(SpeechSettings(chime=False, pad_ms=0), tmp_path) is None


# --- Uploaded recordings --------------------------------------------------------------------------


def _voice_recording(tmp_path: Path, name: str, *codec: str) -> Path:
    """A real voice, quiet and stereo at 44.1 kHz as a phone might record it, in the given container."""
    wav = tmp_path / "voice-src.wav"
    subprocess.run(["espeak-ng", "-v", "vi", "-w", str(wav), SENTENCES], check=True)
    out = tmp_path / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-af", "volume=-14dB", "-ac", "2", "-ar", "44100",
                    *codec, str(out)], check=True)
    return out


@pytest.mark.parametrize(("name", "codec", "kind"), [
    ("recording.wav", ("-c:a", "pcm_s16le"), "WAV"),
    ("recording.ogg", ("-c:a", "libvorbis", "-q:a", "4"), "OGG"),
])
def test_recordings_are_accepted_and_mastered_like_speech(speech_settings, tmp_path, name, codec, kind):
    path = _voice_recording(tmp_path, name, *codec)
    media = process_upload(path, speech_settings, title="Thông báo của trưởng thôn")
    assert media.meta["engine"] == "recording" and media.meta["source_format"] == kind
    assert media.meta["fallback"] is False
    assert_broadcast_ready(media.data, tmp_path, tolerance=0.5)


def test_an_upload_is_judged_by_its_content_not_its_name(speech_settings, tmp_path):
    fake = tmp_path / "ban-tin.mp3"
    fake.write_text("Đây là một tệp văn bản, không phải âm thanh.\n" * 20, encoding="utf-8")
    with pytest.raises(ValueError, match="could not be decoded"):
        process_upload(fake, speech_settings)
    # And a real MP3 under a misleading name is fine.
    disguised = _voice_recording(tmp_path, "ghi-am.txt", "-f", "mp3", "-c:a", "libmp3lame")
    assert process_upload(disguised, speech_settings).meta["source_format"] == "MP3"


def test_empty_silent_and_overlong_recordings_are_refused(speech_settings, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        process_upload(empty, speech_settings)

    silent = tmp_path / "silent.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono", "-t", "3", str(silent)],
                   check=True)
    with pytest.raises(ValueError, match="silent"):
        process_upload(silent, speech_settings)

    long = _voice_recording(tmp_path, "long.m4a", "-c:a", "aac")
    with pytest.raises(ValueError, match="longer than the 2 s allowed"):
        process_upload(long, speech_settings, audio=SpeechSettings(max_recording_s=2))
