"""The FPT.AI cloud voice against its local fake (tests/plugins/fake_fpt.py): success, a wrong key,
429, 5xx, timeouts, empty audio, the breaker; and through the whole chain, the fallback on record
and a southern commune heard in a southern voice."""

from __future__ import annotations

import io

import pytest
from pydub import AudioSegment

from hub.plugin_types import TTSError
from hub.plugins import make_plugin_manager
from hub_tts_fpt import FPTEngine, FPTSettings, fpt_speed
from tests.plugins.fake_fpt import FakeFPT
from tests.plugins.rendering import rendered_audio


def engine(fpt: FakeFPT, **overrides) -> FPTEngine:
    values = dict(url=fpt.url, api_key=fpt.key, backoff_s=0.001, poll_s=0.01, timeout_s=2, deadline_s=10)
    values.update(overrides)
    return FPTEngine(FPTSettings(**values), sleep=lambda _s: None)


def test_ok_sends_the_documented_request_and_waits_for_the_audio_link():
    with FakeFPT("ok", not_ready=2) as fpt:
        result = engine(fpt).synthesize("Xin chào bà con  thôn Nà Pàn.", voice="vi-VN-x-south", speed=1.2)
        asked = fpt.asked
        fetches = fpt.fetches
    assert [(a.text, a.voice, a.speed, a.format, a.api_key) for a in asked] == [
        ("Xin chào bà con thôn Nà Pàn.", "lannhi", "2", "mp3", "test-key")]
    assert [status for _path, status in fetches] == [404, 404, 200], "the link is fetched until the audio is there"
    assert result.format == "mp3" and result.voice == "lannhi"
    assert AudioSegment.from_file(io.BytesIO(result.audio), format="mp3").duration_seconds > 0.3


@pytest.mark.parametrize(("voice", "fpt_voice"), [
    (None, "banmai"), ("vi", "banmai"), ("vi-VN-x-central", "myan"), ("VI-VN-X-SOUTH", "lannhi"),
    ("giahuy", "giahuy"), ("south", "lannhi")])
def test_hub_voices_map_to_regional_speakers(voice, fpt_voice):
    assert FPTSettings(api_key="k").voice_for(voice) == fpt_voice


def test_each_region_s_speaker_is_a_setting_and_unknown_voices_fail():
    assert FPTSettings(api_key="k", voice_south="linhsan").voice_for("vi-VN-x-south") == "linhsan"
    with pytest.raises(TTSError, match="no voice for 'en-us'"):
        FPTSettings(api_key="k").voice_for("en-us")
    with pytest.raises(ValueError, match="unknown FPT.AI voice"):
        FPTSettings(voice_north="nobody")


@pytest.mark.sqlite_only  # a voice never touches the store: one lane is enough
def test_registered_through_the_entry_point_and_idle_without_a_key(settings, monkeypatch):
    monkeypatch.delenv("HUB_FPT_API_KEY", raising=False)
    from hub.plugins import Registrations

    engines = Registrations(make_plugin_manager(settings), settings).tts_engines()
    assert isinstance(engines["fpt"], FPTEngine) and not engines["fpt"].available()


def test_speed_steps():
    assert [fpt_speed(s) for s in (0.5, 0.8, 0.9, 0.97, 1.0, 1.1, 2.0)] == [-3, -2, -1, 0, 0, 1, 3]


def test_a_wrong_key_fails_at_once_and_counts():
    with FakeFPT("ok", key="right") as fpt:
        e = engine(fpt, api_key="wrong", breaker_failures=1)
        with pytest.raises(TTSError, match="refused the API key"):
            e.synthesize("Xin chào bà con.", voice=None, speed=1.0)
        assert len(fpt.asked) == 1, "a 401 is not retried"
        assert not e.available(), "and opens the breaker like any failed synthesis"


def test_429_then_ok_is_retried():
    with FakeFPT("ok", script=["429", "503"]) as fpt:
        e = engine(fpt)
        assert e.synthesize("Xin chào bà con.", voice=None, speed=1.0).audio
        assert [a.answered for a in fpt.asked] == ["429", "503", "ok"]


def test_persistent_5xx_fails_after_the_retries():
    with FakeFPT("500") as fpt:
        with pytest.raises(TTSError, match="after 3 attempts"):
            engine(fpt, retries=2).synthesize("Xin chào bà con.", voice=None, speed=1.0)
        assert len(fpt.asked) == 3


def test_a_hanging_server_times_out():
    with FakeFPT("hang", hang_s=3) as fpt:
        with pytest.raises(TTSError, match="no answer within"):
            engine(fpt, timeout_s=0.2, retries=1).synthesize("Xin chào bà con.", voice=None, speed=1.0)


@pytest.mark.parametrize(("audio_mode", "message"), [
    ("empty", "0 bytes that are not MP3"), ("html", "not MP3"), ("never", "not ready within")])
def test_no_audio_at_the_link_is_a_failure(audio_mode, message):
    with FakeFPT("ok", audio_mode=audio_mode) as fpt:
        with pytest.raises(TTSError, match=message):
            engine(fpt, deadline_s=0.5).synthesize("Xin chào bà con.", voice=None, speed=1.0)


def test_an_error_answer_is_a_failure():
    with FakeFPT("error") as fpt:
        with pytest.raises(TTSError, match="reported an error: text too short"):
            engine(fpt).synthesize("Xin chào bà con.", voice=None, speed=1.0)


def test_bad_input_fails_without_a_request_or_a_strike():
    with FakeFPT("ok") as fpt:
        e = engine(fpt, breaker_failures=1)
        for text, voice in (("à", None), ("...", None), ("Xin chào.", "en-us"), ("x" * 5001, None)):
            with pytest.raises(TTSError):
                e.synthesize(text, voice=voice, speed=1.0)
        assert fpt.asked == [] and e.available()
    assert not FPTEngine(FPTSettings(api_key=" ")).available(), "no key, no engine"


def test_breaker_opens_then_a_trial_closes_it():
    now = [0.0]
    with FakeFPT("500") as fpt:
        e = FPTEngine(FPTSettings(url=fpt.url, api_key=fpt.key, retries=0, poll_s=0.01, breaker_failures=2,
                                  breaker_cooldown_s=60), clock=lambda: now[0], sleep=lambda _s: None)
        for _ in range(2):
            with pytest.raises(TTSError):
                e.synthesize("Xin chào bà con.", voice=None, speed=1.0)
        assert not e.available()
        with pytest.raises(TTSError, match="circuit breaker open"):
            e.synthesize("Xin chào bà con.", voice=None, speed=1.0)
        assert len(fpt.asked) == 2, "an open breaker sends nothing"
        now[0] = 61
        fpt.mode = "ok"
        assert e.available()
        e.synthesize("Xin chào bà con.", voice=None, speed=1.0)
        assert e.breaker.state == "closed"


def render(settings, monkeypatch, fpt: FakeFPT, *, key: str, commune_voice: str | None = None) -> list[dict]:
    for name, value in {"HUB_FPT_URL": fpt.url, "HUB_FPT_API_KEY": key, "HUB_FPT_RETRIES": "0",
                        "HUB_FPT_POLL_S": "0.01", "HUB_FPT_TIMEOUT_S": "2"}.items():
        monkeypatch.setenv(name, value)
    return rendered_audio(settings, engines=["fpt", "espeak"], body="Ngày 05/12/2026 họp HĐND xã.",
                          commune_voice=commune_voice)


@pytest.mark.sqlite_only  # a voice never touches the store: one lane is enough
def test_a_southern_commune_is_read_by_a_southern_voice_through_the_chain(settings, monkeypatch):
    with FakeFPT("ok") as fpt:
        audio = render(settings, monkeypatch, fpt, key=fpt.key, commune_voice="vi-VN-x-south")
        asked = fpt.asked
    assert audio[0]["engine"] == "fpt" and audio[0]["voice"] == "lannhi" and audio[0]["fallback"] is False
    assert {a.voice for a in asked} == {"lannhi"}
    assert "Hội đồng nhân dân" in " ".join(a.text for a in asked), "FPT.AI gets the normalised text"


@pytest.mark.sqlite_only  # a voice never touches the store: one lane is enough
def test_a_wrong_key_falls_back_to_the_offline_voice_on_record(settings, monkeypatch):
    with FakeFPT("ok", key="right") as fpt:
        audio = render(settings, monkeypatch, fpt, key="wrong")
    assert audio[0]["engine"] == "espeak" and audio[0]["fallback"] is True
    assert audio[0]["fallback_from"][0].startswith("fpt: FPT.AI refused the API key (HTTP 401")
