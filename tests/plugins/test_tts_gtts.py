"""Google's voice, against a local fake of its endpoint only (tests never reach the internet)."""

from __future__ import annotations

import json
import re
import subprocess
import threading

import pluggy
import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

import hub_tts_gtts
from hub import hookspecs
from hub.plugin_types import TTSEngine, TTSError
from hub_tts_gtts import CircuitBreaker, GTTSEngine, GTTSSettings, split_text
from hub_tts_gtts.chunking import normalize_space
from tests.plugins.fake_gtts import FakeGoogleTTS, batchexecute_answer, make_mp3

LONG_TEXT = (
    "UBND xã Lộc Bình thông báo: Từ ngày 12 tháng 5, toàn bộ các hộ gia đình trên địa bàn xã cần "
    "chủ động phòng chống dịch bệnh, vệ sinh chuồng trại, tiêm phòng đầy đủ cho gia súc; đồng thời "
    "báo cáo ngay cho chính quyền khi phát hiện dấu hiệu bất thường. Xin cảm ơn bà con! Đây là một "
    "câu rất dài không có dấu phẩy nào cả mà cứ kéo dài mãi mãi như thế cho đến khi nó vượt quá giới "
    "hạn một trăm ký tự của Google."
)


class Clock:
    """A hand-moved monotonic clock for the breaker."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_engine(fake: FakeGoogleTTS | None = None, clock: Clock | None = None, **overrides) -> GTTSEngine:
    values = dict(url=fake.url if fake else None, timeout_s=2.0, retries=2, backoff_s=0.001,
                  backoff_max_s=0.01, breaker_failures=3, breaker_cooldown_s=60.0)
    values.update(overrides)
    return GTTSEngine(GTTSSettings(**values), clock=clock or Clock())


def ffprobe(audio: bytes) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels",
         "-of", "json", "pipe:0"], input=audio, capture_output=True, check=True, timeout=30,
    ).stdout
    return json.loads(out)


def decode_errors(audio: bytes) -> str:
    return subprocess.run(["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "null", "-"], input=audio,
                          capture_output=True, timeout=30).stderr.decode()


@pytest.fixture
def fake():
    with FakeGoogleTTS() as server:
        yield server


# --- registration and settings -------------------------------------------------------------------


def test_registration_is_cheap_and_goes_through_the_hook(monkeypatch):
    import requests

    def forbidden(*args, **kwargs):
        raise AssertionError("registration must not talk to the network")

    monkeypatch.setattr(requests.Session, "request", forbidden)
    pm = pluggy.PluginManager("hub")
    pm.add_hookspecs(hookspecs)
    pm.register(hub_tts_gtts)
    [[engine]] = pm.hook.hub_register_tts_engines(settings=object())
    assert isinstance(engine, TTSEngine)
    assert engine.name == "gtts" and engine.available()
    assert re.fullmatch(r"gTTS 2\.\d+\.\d+ \(hub_tts_gtts \d+\)", engine.version)


def test_endpoint_comes_from_tld_or_url(monkeypatch, fake):
    # The tests name no outside host: the endpoint's host follows HUB_GTTS_TLD (only its last
    # part is compared here), and HUB_GTTS_URL, the local fake in every other test, wins.
    from hub_tts_gtts.engine import BATCHEXECUTE_PATH

    monkeypatch.delenv("HUB_GTTS_URL", raising=False)
    default = GTTSSettings().endpoint
    monkeypatch.setenv("HUB_GTTS_TLD", "com.vn")
    regional = GTTSSettings().endpoint
    assert default.endswith(".com/" + BATCHEXECUTE_PATH) and regional.endswith(".com.vn/" + BATCHEXECUTE_PATH)
    monkeypatch.setenv("HUB_GTTS_URL", fake.url)
    assert GTTSSettings().endpoint == fake.url
    monkeypatch.setenv("HUB_GTTS_RETRIES", "0")
    assert GTTSSettings().retries == 0


# --- chunking ------------------------------------------------------------------------------------


def test_chunks_fall_at_clause_ends():
    chunks = split_text(LONG_TEXT)
    assert chunks == [
        "UBND xã Lộc Bình thông báo:",
        "Từ ngày 12 tháng 5, toàn bộ các hộ gia đình trên địa bàn xã cần chủ động phòng chống dịch bệnh,",
        "vệ sinh chuồng trại, tiêm phòng đầy đủ cho gia súc;",
        "đồng thời báo cáo ngay cho chính quyền khi phát hiện dấu hiệu bất thường.",
        "Xin cảm ơn bà con!",
        "Đây là một câu rất dài không có dấu phẩy nào cả mà cứ kéo dài mãi mãi như thế cho đến khi nó vượt",
        "quá giới hạn một trăm ký tự của Google.",
    ]


def test_short_sentences_share_a_request_and_short_text_is_one():
    assert split_text("Xin chào.  Hôm nay,\ntrời đẹp. ") == ["Xin chào. Hôm nay, trời đẹp."]
    assert split_text(" \n\t") == []


def test_a_word_longer_than_the_limit_is_cut_inside_as_a_last_resort():
    url = "https://" + "a" * 150
    chunks = split_text(f"Xem tại {url} nhé.")
    assert all(len(c) <= 100 for c in chunks)
    assert "".join(chunks).replace(" ", "") == f"Xem tại {url} nhé.".replace(" ", "")


LETTERS = ("aăâbcdđeêghiklmnoôơpqrstuưvxy" "àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọ"
           "ồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵĐ0123456789")
word = st.text(alphabet=LETTERS, min_size=1, max_size=15)
punct = st.sampled_from(["", "", "", "", ",", ",", ".", ";", ":", "!", "?", "…", '."', ".)", ",”"])
gap = st.sampled_from([" ", " ", " ", "  ", "\n", "\t", " - ", " – ", "\u00a0", " \n\n "])
token = st.tuples(word, punct, gap).map("".join)
vietnamese_ish = st.lists(token, max_size=90).map("".join)


def strength(w: str) -> int:
    """An independent statement of which pause follows a word (4 strongest)."""
    if w in ("-", "–", "—"):
        return 2
    for level, marks in ((4, ".!?…"), (3, ";:"), (2, ",")):
        if re.search(f"[{re.escape(marks)}][\"'”’»)\\]}}]*$", w):
            return level
    return 1


@hyp_settings(max_examples=300, deadline=None)
@given(text=vietnamese_ish, limit=st.sampled_from([100, 100, 60, 20]))
def test_chunking_properties(text, limit):
    chunks = split_text(text, limit)
    words = text.split()
    # Every chunk fits, and none is blank or padded.
    assert all(0 < len(c) <= limit and c == c.strip() and "  " not in c for c in chunks)
    # Nothing lost, reordered or added, and no word cut in two.
    assert [w for c in chunks for w in c.split()] == words
    assert " ".join(chunks) == normalize_space(text)
    # A cut below sentence level happens only where the enclosing stronger unit could not fit.
    cut_after, position = [], -1
    for c in chunks[:-1]:
        position += len(c.split())
        cut_after.append(position)
    levels = [strength(w) for w in words]
    for b in cut_after:
        s = levels[b]
        if s == 4:
            continue
        left = max((i for i in range(b) if levels[i] > s), default=-1)
        right = min((i for i in range(b + 1, len(words)) if levels[i] > s), default=len(words) - 1)
        assert len(" ".join(words[left + 1:right + 1])) > limit, (b, s, chunks)


# --- the fake speaks the shape gTTS expects ------------------------------------------------------


def test_fake_answer_parses_with_gtts_own_reader(fake):
    """gTTS.stream() itself, aimed at the fake, gets the fake's MP3: the recorded shape is right."""
    from gtts import gTTS

    class LocalGTTS(gTTS):
        def _prepare_requests(self):
            prepared = super()._prepare_requests()
            for request in prepared:
                request.prepare_url(fake.url, None)
            return prepared

    audio = b"".join(LocalGTTS("Xin chào bà con", lang="vi", lang_check=False).stream())
    assert audio == fake.audio
    assert fake.requests[0].text == "Xin chào bà con" and fake.requests[0].lang == "vi"
    assert "jQ1olc" in batchexecute_answer(b"x")


# --- speaking ------------------------------------------------------------------------------------


def test_ok_returns_decodable_mp3_sent_in_clause_chunks(fake):
    engine = make_engine(fake)
    result = engine.synthesize(LONG_TEXT, voice=None, speed=1.0)
    assert (result.format, result.voice) == ("mp3", "vi")
    assert result.audio == fake.audio * len(split_text(LONG_TEXT))
    assert result.audio[0] == 0xFF and result.audio[1] & 0xE0 == 0xE0  # an MPEG frame sync
    [stream] = ffprobe(result.audio)["streams"]
    assert stream["codec_name"] == "mp3" and stream["sample_rate"] == "24000"
    assert decode_errors(result.audio) == ""
    # Sent exactly as cut: gTTS neither rewrote nor re-split a chunk.
    assert fake.texts == split_text(LONG_TEXT)
    assert {r.lang for r in fake.requests} == {"vi"} and not any(r.slow for r in fake.requests)
    assert all(r.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
               for r in fake.requests)


def test_real_speech_mp3_round_trips(fake):
    wav = subprocess.run(["espeak-ng", "-v", "vi", "--stdout"], input="Xin chào bà con".encode(),
                         capture_output=True, check=True, timeout=30).stdout
    speech = subprocess.run(["ffmpeg", "-v", "error", "-i", "pipe:0", "-ar", "24000", "-ac", "1",
                             "-b:a", "32k", "-write_xing", "0", "-id3v2_version", "0", "-f", "mp3", "-"],
                            input=wav, capture_output=True, check=True, timeout=30).stdout
    fake._audio = speech
    result = make_engine(fake).synthesize("Xin chào. " * 15, voice="vi-VN-x-south", speed=1.0)
    assert result.audio == speech * 2 and result.voice == "vi"
    assert decode_errors(result.audio) == ""


def test_slow_speed_asks_for_slow_reading(fake):
    make_engine(fake).synthesize("Xin chào bà con.", voice="vi", speed=0.6)
    assert fake.requests[-1].slow is True


def test_429_then_ok_is_retried_and_succeeds(fake):
    fake.queue("429", "503")
    result = make_engine(fake).synthesize("Xin chào bà con.", voice=None, speed=1.0)
    assert result.audio == fake.audio
    assert [r.answered for r in fake.requests] == ["429", "503", "ok"]


def test_persistent_5xx_fails_after_the_retries():
    with FakeGoogleTTS("500") as fake:
        with pytest.raises(TTSError, match="3 attempts"):
            make_engine(fake, retries=2).synthesize("Xin chào.", voice=None, speed=1.0)
        assert len(fake.requests) == 3


def test_other_4xx_is_not_retried():
    with FakeGoogleTTS("403") as fake:
        with pytest.raises(TTSError, match="403"):
            make_engine(fake).synthesize("Xin chào.", voice=None, speed=1.0)
        assert len(fake.requests) == 1


def test_a_hanging_server_times_out():
    with FakeGoogleTTS("hang") as fake:
        with pytest.raises(TTSError, match="no answer"):
            make_engine(fake, timeout_s=0.2, retries=1).synthesize("Xin chào.", voice=None, speed=1.0)
        assert len(fake.requests) == 2


def test_the_deadline_bounds_a_whole_synthesis():
    with FakeGoogleTTS("hang") as fake:
        with pytest.raises(TTSError, match="gave up"):
            make_engine(fake, timeout_s=5, deadline_s=0.3, retries=5).synthesize(
                "Xin chào.", voice=None, speed=1.0)
        assert len(fake.requests) == 1


@pytest.mark.parametrize("mode", ["empty", "no-audio", "html"])
def test_a_200_without_audio_is_a_failure(mode):
    with FakeGoogleTTS(mode) as fake:
        with pytest.raises(TTSError, match="200"):
            make_engine(fake).synthesize("Xin chào.", voice=None, speed=1.0)
        assert len(fake.requests) == 1


def test_no_partial_audio_when_a_later_chunk_fails():
    with FakeGoogleTTS("500", script=["ok", "ok"]) as fake:
        engine = make_engine(fake, retries=1)
        with pytest.raises(TTSError):
            engine.synthesize(LONG_TEXT, voice=None, speed=1.0)
        assert [r.answered for r in fake.requests] == ["ok", "ok", "500", "500"]


def test_unreachable_host_fails_cleanly():
    with FakeGoogleTTS() as fake:
        url = fake.url  # the port is closed once the fake stops
    with pytest.raises(TTSError, match="cannot connect"):
        make_engine(url=url, retries=1).synthesize("Xin chào.", voice=None, speed=1.0)


def test_bad_input_fails_without_a_request_or_a_strike(fake):
    engine = make_engine(fake, breaker_failures=1)
    for text, voice in [("Xin chào.", "en"), ("Xin chào.", "fr-FR"), (" ... ! ", None), ("", None)]:
        with pytest.raises(TTSError):
            engine.synthesize(text, voice=voice, speed=1.0)
    assert fake.requests == [] and engine.available()


# --- the circuit breaker -------------------------------------------------------------------------


def test_breaker_opens_after_repeated_failures_and_closes_after_cool_down():
    clock = Clock()
    with FakeGoogleTTS("500") as fake:
        engine = make_engine(fake, clock, retries=0, breaker_failures=2, breaker_cooldown_s=60)
        for _ in range(2):
            assert engine.available()
            with pytest.raises(TTSError, match="HTTP 500"):
                engine.synthesize("Xin chào.", voice=None, speed=1.0)
        assert not engine.available()
        with pytest.raises(TTSError, match="breaker"):
            engine.synthesize("Xin chào.", voice=None, speed=1.0)
        assert len(fake.requests) == 2  # open: Google is not even asked

        clock.now += 59
        assert not engine.available()
        clock.now += 2
        assert engine.available()  # half-open: one trial may go
        with pytest.raises(TTSError, match="HTTP 500"):
            engine.synthesize("Xin chào.", voice=None, speed=1.0)
        assert not engine.available()  # a failed trial opens it again at once

        clock.now += 61
        fake.mode = "ok"
        assert engine.synthesize("Xin chào.", voice=None, speed=1.0).audio == fake.audio
        assert engine.available() and engine.breaker.state == "closed"


def test_a_success_resets_the_failure_count(fake):
    engine = make_engine(fake, retries=0, breaker_failures=2)
    fake.queue("500", "ok", "500")
    for expect_ok in (False, True, False):
        if expect_ok:
            engine.synthesize("Xin chào.", voice=None, speed=1.0)
        else:
            with pytest.raises(TTSError):
                engine.synthesize("Xin chào.", voice=None, speed=1.0)
    assert engine.available()


def test_half_open_lets_one_trial_through_at_a_time():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown_s=10, clock=clock)
    breaker.failure()
    assert breaker.state == "open" and not breaker.acquire()
    clock.now += 10
    assert breaker.acquire()
    assert not breaker.allows() and not breaker.acquire()
    breaker.release()
    assert breaker.acquire()
    breaker.success()
    assert breaker.state == "closed" and breaker.acquire() and breaker.acquire()


def test_breaker_counts_every_failure_from_many_threads():
    breaker = CircuitBreaker(failures=800, cooldown_s=10, clock=Clock())
    threads = [threading.Thread(target=lambda: [breaker.failure() for _ in range(100)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker.state == "open"


def test_fake_records_and_scripts():
    with FakeGoogleTTS(script=["429"], audio=make_mp3(0.2, 880)) as fake:
        engine = make_engine(fake)
        engine.synthesize("Một.", voice=None, speed=1.0)
        assert [r.answered for r in fake.requests] == ["429", "ok"]
        assert fake.texts == ["Một.", "Một."]
    with pytest.raises(ValueError):
        FakeGoogleTTS("teapot")
