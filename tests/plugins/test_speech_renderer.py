"""The speech renderer: normaliser chain, engine chain with fallback, cache, voices, recordings."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pluggy
import pytest

import hub.hookspecs
import hub_speech
from hub import hookimpl
from hub.config import Settings
from hub.plugins import Registrations
from hub.plugin_types import (
    BulletinSnapshot, CommuneInfo, RenderContext, SynthesisResult, TextNormalizer, TTSError,
)
from hub_speech import SpeechUnavailable, normalize_text

TITLE = "Thông báo lịch tiêm chủng"
BODY = (
    "UBND xã thông báo lịch tiêm chủng cho trẻ em dưới năm tuổi.\n"
    "Đề nghị các gia đình đưa trẻ đến trạm y tế xã đúng giờ."
)


@dataclass
class Espeak:
    """A test-only engine over the real espeak-ng binary that records every call."""

    name: str = "espeak-test"
    version: str = "test-1"
    calls: list[tuple[str, str | None]] = field(default_factory=list)

    def available(self) -> bool:
        return True

    def synthesize(self, text: str, *, voice: str | None, speed: float) -> SynthesisResult:
        self.calls.append((text, voice))
        out = subprocess.run(["espeak-ng", "-v", voice or "vi", "--stdout", text], capture_output=True, check=True)
        return SynthesisResult(audio=out.stdout, format="wav", voice=voice or "vi")


@dataclass
class Failing:
    name: str = "online"
    version: str = "1"
    calls: int = 0

    def available(self) -> bool:
        return True

    def synthesize(self, text: str, *, voice: str | None, speed: float) -> SynthesisResult:
        self.calls += 1
        raise TTSError("the service did not answer")


@dataclass
class Unavailable:
    name: str = "sleeping"
    version: str = "1"

    def available(self) -> bool:
        return False

    def synthesize(self, text: str, *, voice: str | None, speed: float) -> SynthesisResult:
        raise AssertionError("an unavailable engine must not be asked to speak")


class Media:
    def __init__(self, files: dict[str, Path] | None = None) -> None:
        self.files = files or {}

    def path(self, sha256: str) -> Path | None:
        return self.files.get(sha256)


def make_pm(*engines, normalizers=()) -> pluggy.PluginManager:
    """A fresh plugin manager with the speech plugin and a throwaway plugin for the parts under test."""
    pm = pluggy.PluginManager("hub")
    pm.add_hookspecs(hub.hookspecs)

    class Throwaway:
        @hookimpl
        def hub_register_tts_engines(self):
            return list(engines)

        @hookimpl
        def hub_register_text_normalizers(self):
            return list(normalizers)

    pm.register(Throwaway())
    pm.register(hub_speech)
    return pm


def bulletin(**overrides) -> BulletinSnapshot:
    fields = dict(
        id="b-1", revision=1, content_hash="c" * 64, title=TITLE, body=BODY, priority="normal",
        channels=("speaker",), targets=("*",), approved_at=datetime(2026, 12, 1, 1, 30, tzinfo=timezone.utc),
    )
    return BulletinSnapshot(**{**fields, **overrides})


def context(pm, settings, tmp_path, *, communes=None, media=None, **overrides) -> RenderContext:
    communes = communes or (CommuneInfo("26734", "Xã Hữu Lũng"),)
    return RenderContext(
        bulletin=bulletin(**overrides), communes=tuple(communes), settings=settings, hook=Registrations(pm, settings),
        media=media or Media(), work_dir=tmp_path / "work", province="Tỉnh Lạng Sơn",
    )


def render(pm, ctx):
    (speech,) = [r for result in pm.hook.hub_register_renderers(settings=ctx.settings) for r in result]
    return speech.render(ctx)


def settings_for(tmp_path: Path, *engines: str) -> Settings:
    return Settings(data_dir=tmp_path / "var", tts_engines=list(engines))


def test_the_plugin_registers_a_speaker_renderer_that_also_feeds_the_web():
    (speech,) = make_pm().hook.hub_register_renderers(settings=None)[0]
    assert (speech.name, speech.channel) == ("speech", "speaker")
    assert "web" in speech.channels


def test_render_speaks_title_then_body_through_every_normaliser_in_order(tmp_path):
    seen = []
    steps = [
        # Registered out of order on purpose: the chain sorts by ``order``.
        TextNormalizer("expand", 200, lambda t: seen.append("expand") or t.replace("UBND", "Ủy ban nhân dân")),
        TextNormalizer("nfc", 0, lambda t: seen.append("nfc") or t),
    ]
    engine = Espeak()
    pm = make_pm(engine, normalizers=steps)
    settings = settings_for(tmp_path, "espeak-test")
    (media,) = render(pm, context(pm, settings, tmp_path))

    assert seen[:2] == ["nfc", "expand"]
    spoken = media.meta["spoken_text"]
    assert spoken == (
        "Thông báo lịch tiêm chủng.\n\nỦy ban nhân dân xã thông báo lịch tiêm chủng cho trẻ em dưới năm tuổi."
        "\n\nĐề nghị các gia đình đưa trẻ đến trạm y tế xã đúng giờ."
    )
    # The preview endpoint's function says exactly what the renderer read.
    assert normalize_text(Registrations(pm, settings), settings, f"{TITLE}.\n{BODY}") == spoken
    assert [text for text, _ in engine.calls] == spoken.split("\n\n")
    meta = media.meta
    assert (media.kind, media.mime, meta["engine"], meta["voice"], meta["fallback"]) == (
        "audio", "audio/mpeg", "espeak-test", "vi", False)
    assert "communes" not in meta and media.communes == ()
    assert abs(meta["loudness_lufs"] + 16) <= 0.5 and meta["true_peak_dbtp"] <= -1.5
    assert media.duration_s > 5


def test_identical_text_is_never_synthesised_twice(tmp_path):
    engine = Espeak()
    pm = make_pm(engine)
    settings = settings_for(tmp_path, "espeak-test")
    (first,) = render(pm, context(pm, settings, tmp_path))
    calls = len(engine.calls)
    (again,) = render(pm, context(pm, settings, tmp_path))
    assert len(engine.calls) == calls
    assert again.data == first.data and again.meta == first.meta and again.duration_s == first.duration_s

    # A new revision that keeps a paragraph reuses that paragraph's speech.
    edited = BODY.replace("đúng giờ", "trước tám giờ sáng")
    render(pm, context(pm, settings, tmp_path, body=edited, revision=2))
    assert [text for text, _ in engine.calls[calls:]] == ["Đề nghị các gia đình đưa trẻ đến trạm y tế xã trước tám giờ sáng."]

    cached = list((settings.cache_dir / "tts").rglob("*.wav"))
    assert len(cached) == len(engine.calls)
    assert not list(settings.cache_dir.rglob("*.tmp"))


def test_a_failing_engine_falls_through_to_the_next_and_says_so(tmp_path):
    online, offline = Failing(), Espeak()
    pm = make_pm(online, Unavailable(), offline)
    settings = settings_for(tmp_path, "nonexistent", "sleeping", "online", "espeak-test")
    (media,) = render(pm, context(pm, settings, tmp_path))
    assert online.calls >= 1 and offline.calls
    assert media.meta["engine"] == "espeak-test"
    assert media.meta["fallback"] is True
    assert media.meta["fallback_from"] == [
        "nonexistent: not installed", "sleeping: unavailable", "online: the service did not answer"]


def test_the_preferred_engine_is_tried_again_on_the_next_render(tmp_path):
    online, offline = Failing(), Espeak()
    pm = make_pm(online, offline)
    settings = settings_for(tmp_path, "online", "espeak-test")
    render(pm, context(pm, settings, tmp_path))
    render(pm, context(pm, settings, tmp_path))
    # A fallback result is cached under the fallback engine, never pinned in place of the preferred one.
    assert online.calls == 2


@dataclass
class Garbled:
    """Answers, but with something that is not audio (a captive portal's page, say)."""

    name: str = "garbled"
    version: str = "1"
    calls: int = 0

    def available(self) -> bool:
        return True

    def synthesize(self, text: str, *, voice: str | None, speed: float) -> SynthesisResult:
        self.calls += 1
        return SynthesisResult(audio=b"<html>please sign in</html>", format="mp3", voice="vi")


def test_audio_that_does_not_decode_is_the_engine_failing_and_is_not_cached(tmp_path):
    garbled, offline = Garbled(), Espeak()
    pm = make_pm(garbled, offline)
    settings = settings_for(tmp_path, "garbled", "espeak-test")
    (media,) = render(pm, context(pm, settings, tmp_path))
    assert media.meta["engine"] == "espeak-test"
    assert media.meta["fallback_from"][0].startswith("garbled: crashed")
    render(pm, context(pm, settings, tmp_path))
    assert garbled.calls == 2, "asked again on the next render, not served its garbage from the cache"


def test_a_cached_piece_that_no_longer_decodes_is_spoken_again_on_retry(tmp_path):
    engine = Espeak()
    pm = make_pm(engine)
    settings = settings_for(tmp_path, "espeak-test")
    render(pm, context(pm, settings, tmp_path))
    calls = len(engine.calls)
    (piece, *_) = sorted((settings.cache_dir / "tts").rglob("*.wav"))
    piece.write_bytes(b"not a wav any more")
    for mastered in (settings.cache_dir / "audio").glob("??/*"):
        mastered.unlink()
    with pytest.raises(RuntimeError, match="did not decode and was removed"):
        render(pm, context(pm, settings, tmp_path))
    (media,) = render(pm, context(pm, settings, tmp_path))
    assert len(engine.calls) == calls + 1 and abs(media.meta["loudness_lufs"] + 16) <= 0.5


def test_when_every_engine_fails_the_error_names_each(tmp_path):
    pm = make_pm(Failing(), Unavailable())
    settings = settings_for(tmp_path, "sleeping", "online")
    with pytest.raises(SpeechUnavailable) as caught:
        render(pm, context(pm, settings, tmp_path))
    message = str(caught.value)
    assert "sleeping: unavailable" in message and "online: the service did not answer" in message


def test_communes_with_different_voices_get_one_audio_each(tmp_path):
    engine = Espeak()
    pm = make_pm(engine)
    settings = settings_for(tmp_path, "espeak-test")
    communes = (
        CommuneInfo("26734", "Xã Hữu Lũng", voice="vi"),
        CommuneInfo("26737", "Xã Yên Bình", voice="vi-vn-x-south"),
        CommuneInfo("26740", "Xã Hòa Lạc", voice="vi"),
    )
    out = render(pm, context(pm, settings, tmp_path, communes=communes))
    assert sorted((m.meta["voice"], m.communes) for m in out) == [
        ("vi", ("26734", "26740")), ("vi-vn-x-south", ("26737",))]
    assert out[0].data != out[1].data
    assert {voice for _, voice in engine.calls} == {"vi", "vi-vn-x-south"}

    # The bulletin's own voice overrides the communes': one audio for everyone.
    (single,) = render(pm, context(pm, settings, tmp_path, communes=communes, voice="vi-vn-x-south"))
    assert single.meta["voice"] == "vi-vn-x-south" and single.communes == ()


def test_an_uploaded_recording_is_aired_instead_of_speech(tmp_path):
    engine = Espeak()
    pm = make_pm(engine)
    settings = settings_for(tmp_path, "espeak-test")
    recording = tmp_path / "upload.wav"
    subprocess.run(["espeak-ng", "-v", "vi", "-w", str(recording), "Loa phát thanh xin thông báo."], check=True)
    sha = "a" * 64
    (media,) = render(pm, context(pm, settings, tmp_path, media=Media({sha: recording}), recording_sha256=sha))
    assert engine.calls == []
    assert media.meta["engine"] == "recording" and media.meta["spoken_text"] is None
    assert abs(media.meta["loudness_lufs"] + 16) <= 1

    with pytest.raises(FileNotFoundError, match="b" * 64):
        render(pm, context(pm, settings, tmp_path, recording_sha256="b" * 64))


def test_nothing_to_say_is_a_clear_error(tmp_path):
    pm = make_pm(Espeak())
    with pytest.raises(ValueError, match="nothing to speak"):
        render(pm, context(pm, settings_for(tmp_path, "espeak-test"), tmp_path, title=" ", body="\n \n"))


def test_long_paragraphs_are_cut_at_sentences(tmp_path):
    engine = Espeak()
    pm = make_pm(engine)
    settings = settings_for(tmp_path, "espeak-test")
    sentence = "Bà con chú ý phòng chống dịch bệnh cho đàn gia súc trong mùa đông."
    body = " ".join([sentence] * 12)  # ~ 800 characters in one paragraph
    render(pm, context(pm, settings, tmp_path, title="", body=body))
    assert all(len(text) <= 600 for text, _ in engine.calls)
    assert all(re.fullmatch(r"(.+?\.)( .+?\.)*", text) for text, _ in engine.calls)


def test_the_real_espeak_plugin_speaks_through_the_plugin_manager(tmp_path):
    hub_tts_espeak = pytest.importorskip("hub_tts_espeak")
    pm = pluggy.PluginManager("hub")
    pm.add_hookspecs(hub.hookspecs)
    pm.register(hub_tts_espeak)
    pm.register(hub_speech)
    try:
        import hub_normalize_vi
    except ImportError:  # the normaliser is optional for this test
        hub_normalize_vi = None
    if hub_normalize_vi is not None and hasattr(hub_normalize_vi, "hub_register_text_normalizers"):
        pm.register(hub_normalize_vi)
    settings = settings_for(tmp_path, "gtts", "espeak")  # gtts is not registered here: offline chain
    (media,) = render(pm, context(pm, settings, tmp_path, body="Ngày 15/12/2026, UBND xã họp lúc 8h."))
    assert media.meta["engine"] == "espeak"
    assert media.meta["fallback"] is True and media.meta["fallback_from"] == ["gtts: not installed"]
    assert abs(media.meta["loudness_lufs"] + 16) <= 1 and media.meta["true_peak_dbtp"] <= -1.5
    if hub_normalize_vi is not None:
        assert "15/12" not in media.meta["spoken_text"]


def test_a_short_emergency_masters_the_same_way_every_time(tmp_path):
    # The single-pass mastering decides from measurements alone, so the mastered cache's key holds.
    engine = Espeak()
    pm = make_pm(engine)
    emergency = dict(title="Cảnh báo lũ quét", body="Nước sông lên nhanh. Bà con sơ tán lên nhà văn hóa ngay.",
                     priority="emergency")
    out = []
    for n in range(2):
        settings = settings_for(tmp_path / f"hub-{n}", "espeak-test")
        (media,) = render(pm, context(pm, settings, tmp_path / f"hub-{n}", **emergency))
        out.append(media)
    assert out[0].data == out[1].data and out[0].meta == out[1].meta
    assert abs(out[0].meta["loudness_lufs"] + 16) <= 0.5 and out[0].meta["true_peak_dbtp"] <= -1.5
