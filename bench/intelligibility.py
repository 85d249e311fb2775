"""Benchmark: how well an offline Vietnamese speech recogniser understands the hub's voices.

A fixed set of bulletin texts is spoken through the hub's real chain (the registered normaliser
steps, hub_speech's planning, engine chain and joining, and — unless a setting says otherwise —
its mastering: EBU R128 loudness, the chime, 64 kbps MP3) and transcribed offline with viet-asr
through ``hub_asr.recognizer`` (the same code the recording check uses). The word error rate
(jiwer's, on lower-cased words without punctuation) is taken against the spoken text, i.e. the
normaliser's output, which is what the voice was asked to read.

Settings are varied one at a time from the offline voice's current defaults: espeak-ng's voice
variant, its rate (words per minute at speed 1.0), its gap between words, the hub's pause between
sentences (each sentence spoken as its own piece), and mastering on or off. gTTS needs Google, so
it is listed only when ``--with-gtts`` is given and Google answers.

It prints one line per setting (WER over all texts pooled, and its mean per text), then a JSON
object as its last line.

    .venv/bin/python bench/intelligibility.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jiwer  # noqa: E402

from hub.config import Settings  # noqa: E402
from hub.plugins import Registrations  # noqa: E402
from hub_asr import recognizer  # noqa: E402
from hub_speech import synthesize_to_mp3  # noqa: E402
from hub_speech.audio import SpeechSettings  # noqa: E402
from hub_speech.chain import join, normalize_text, plan, speak  # noqa: E402
from hub_tts_espeak import EspeakEngine, EspeakSettings  # noqa: E402
from render import plugin_manager  # noqa: E402

#: Ordinary bulletin sentences: a notice, a health call, weather, an emergency, admin, farming.
TEXTS = [
    "Ủy ban nhân dân xã thông báo: sáng thứ hai tuần tới, trạm y tế xã tổ chức tiêm phòng cho trẻ em dưới năm tuổi.",
    "Đề nghị bà con đưa trẻ đến đúng giờ và mang theo sổ tiêm chủng.",
    "Theo dự báo, đêm nay và ngày mai trời rét đậm, nhiệt độ thấp nhất từ 8 đến 10 độ.",
    "Bà con chú ý giữ ấm cho người già, trẻ nhỏ và che chắn chuồng trại cho gia súc.",
    "Nước sông đang lên nhanh. Các hộ ở ven sông khẩn trương di chuyển người và tài sản lên nơi cao.",
    "Từ ngày 1 tháng 12, bộ phận một cửa của xã tiếp nhận hồ sơ vào tất cả các ngày làm việc trong tuần.",
    "Hội nông dân xã mở lớp tập huấn kỹ thuật trồng lúa vào chiều thứ năm tại nhà văn hóa thôn Đông.",
]


@dataclass(frozen=True)
class Setting:
    name: str
    espeak: dict = field(default_factory=dict)
    speech: dict = field(default_factory=dict)
    voice: str | None = None
    engine: str = "espeak"
    mastered: bool = True


def settings_list(defaults: EspeakSettings) -> list[Setting]:
    base = Setting("defaults")
    out = [base, Setting("no mastering (joined voice WAV)", mastered=False)]
    out += [Setting(f"voice {v}", voice=v) for v in ("vi", "vi-VN-x-central", "vi-VN-x-south") if v != defaults.voice]
    out += [Setting(f"rate {r} wpm", espeak={"rate_wpm": r}) for r in (120, 135, 155, 175) if r != defaults.rate_wpm]
    out += [Setting(f"word gap {g * 10} ms", espeak={"word_gap": g}) for g in (0, 1, 3) if g != defaults.word_gap]
    out += [Setting("sentences apart, 250 ms", speech={"chunk_chars": 50, "sentence_pause_ms": 250})]
    # Combinations of the best single changes (the defaults before this bench: 155 wpm, no word gap).
    combos = {"rate 135 + gap 30 ms": {"rate_wpm": 135, "word_gap": 3},
              "rate 120 + gap 30 ms": {"rate_wpm": 120, "word_gap": 3}}
    out += [Setting(name, espeak=change) for name, change in combos.items()
            if any(getattr(defaults, k) != v for k, v in change.items())]
    return out


class OneEngine(Registrations):
    """The installed plugins, but the voice chain is exactly one engine object."""

    def __init__(self, pm, settings, engine) -> None:
        super().__init__(pm, settings)
        self.engine = engine

    def tts_engines(self) -> dict:
        return {self.engine.name: self.engine}


def speak_one(hook, settings, text: str, setting: Setting, work: Path, n: int) -> Path:
    audio = SpeechSettings(**setting.speech)
    if setting.mastered:
        media = synthesize_to_mp3(hook, settings, text, voice=setting.voice, audio=audio)
        out = work / f"{n}.mp3"
        out.write_bytes(media.data)
        return out
    spoken = normalize_text(hook, settings, text)
    take = speak(hook, settings, plan(spoken, audio, has_title=False), voice=setting.voice, audio=audio,
                 cache_root=Path(settings.cache_dir) / "tts")
    out = work / f"{n}.wav"
    out.write_bytes(join(take, Path(settings.cache_dir) / "tts"))
    return out


def measure(pm, setting: Setting, defaults: EspeakSettings) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-intel-") as tmp:
        data = Path(tmp)
        settings = Settings(data_dir=data, tts_engines=[setting.engine])
        if setting.engine == "espeak":
            engine = EspeakEngine(defaults.model_copy(update=setting.espeak))
            hook = OneEngine(pm, settings, engine)
        else:
            hook = Registrations(pm, settings)
        refs, hyps, per_text = [], [], []
        speak_s = listen_s = 0.0
        for n, text in enumerate(TEXTS):
            t0 = time.perf_counter()
            path = speak_one(hook, settings, text, setting, data, n)
            t1 = time.perf_counter()
            heard = recognizer.transcribe(path)
            listen_s += time.perf_counter() - t1
            speak_s += t1 - t0
            spoken = normalize_text(hook, settings, text)
            refs.append(" ".join(recognizer.words(spoken)))
            hyps.append(" ".join(recognizer.words(heard)) or "")
            per_text.append(recognizer.wer(spoken, heard))
    pooled = float(jiwer.wer(refs, [h or "-" for h in hyps]))
    return {"setting": setting.name, "wer": round(pooled, 3), "mean_text_wer": round(statistics.mean(per_text), 3),
            "best_text": round(min(per_text), 3), "worst_text": round(max(per_text), 3),
            "speak_s": round(speak_s, 2), "transcribe_s": round(listen_s, 2), "example": hyps[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="settings whose name starts with one of these")
    parser.add_argument("--with-gtts", action="store_true", help="also Google's voice (needs the internet)")
    args = parser.parse_args()
    defaults = EspeakSettings()
    pm = plugin_manager()
    t0 = time.perf_counter()
    recognizer.load()
    print(f"viet-asr model loaded in {time.perf_counter() - t0:.2f} s (in-process timing)")
    print(f"espeak defaults: voice {defaults.voice}, rate {defaults.rate_wpm} wpm, pitch {defaults.pitch}, "
          f"word gap {defaults.word_gap * 10} ms; {len(TEXTS)} texts, "
          f"{sum(len(recognizer.words(t)) for t in TEXTS)} written words")
    chosen = settings_list(defaults)
    if args.with_gtts:
        chosen.append(Setting("gtts (Google)", engine="gtts"))
    if args.only:
        chosen = [s for s in chosen if any(s.name.startswith(o) for o in args.only)]
    rows = []
    print(f"{'setting':34} {'WER':>6} {'mean':>6} {'best':>6} {'worst':>6} {'speak s':>8} {'asr s':>7}")
    for setting in chosen:
        try:
            row = measure(pm, setting, defaults)
        except Exception as exc:  # e.g. Google unreachable
            print(f"{setting.name:34} failed: {exc}")
            continue
        rows.append(row)
        print(f"{row['setting']:34} {row['wer']:6.3f} {row['mean_text_wer']:6.3f} {row['best_text']:6.3f} "
              f"{row['worst_text']:6.3f} {row['speak_s']:8.2f} {row['transcribe_s']:7.2f}")
    best = min(rows, key=lambda r: r["wer"]) if rows else None
    if best:
        print(f"lowest WER: {best['setting']} ({best['wer']:.3f}); heard for text 1: {best['example']!r}")
    print(json.dumps({"rows": rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
