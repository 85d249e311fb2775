"""Benchmark: a 20-word Vietnamese emergency from ``render(ctx)`` to MP3, stage by stage.

The real plugins (hub_normalize_vi, hub_tts_espeak, hub_speech; HUB_TTS_ENGINES=espeak) render
the same text with the current mastering and with the previous one (``previous_master`` below, a
copy of what ``hub_speech.audio.master`` did before the short-render change: ffmpeg for the raw
level, ffprobe for the duration), interleaved in the same run so the machine's load falls on
both alike. Each render gets a fresh data folder (speech and mastered caches cold) with the
chime already made, as on a hub that has aired before; the chime's first-use cost is timed on
its own. It prints a per-stage table (median milliseconds), the whole-render ratio new/old in
wall clock and CPU time, how each MP3 measures, and as its last line one JSON object.

    .venv/bin/python bench/render_short.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hub_speech.audio as audio_mod  # noqa: E402
import hub_speech.renderer as renderer_mod  # noqa: E402
from hub_speech.audio import (  # noqa: E402
    CANDIDATE_WINDOW_S, CODEC_LOSS_LU, WORK_REFERENCE_LUFS, Mastered, SpeechSettings,
)
from hub_speech.chime import bookends  # noqa: E402
from render import context, cpu_seconds, plugin_manager, qc, speech_renderer  # noqa: E402

TITLE = "Cảnh báo lũ quét"
BODY = "Nước sông lên nhanh. Bà con Bản Chu sơ tán lên nhà văn hóa trước 17h."


def previous_master(source, audio, work_dir, *, bookends, tags) -> Mastered:
    """The mastering as it was before (MASTERING_VERSION 1): five ffmpeg/ffprobe launches, one after another."""
    A = audio_mod
    raw, voice_s = A._measure(source, peak="sample")
    if raw.integrated_lufs is None:
        if raw.true_peak_dbtp is None:
            raise ValueError("the audio is silent")
        pre_gain = -6.0 - raw.true_peak_dbtp
    else:
        pre_gain = WORK_REFERENCE_LUFS - raw.integrated_lufs
    ceiling = audio.true_peak - 1.0
    base = audio.target_lufs - WORK_REFERENCE_LUFS
    peak_in = (raw.true_peak_dbtp or 0.0) + pre_gain
    max_gain = ceiling - peak_in + audio.max_limiting_db
    candidates = sorted({min(base + step, max_gain) for step in (2.0, 5.0, 8.0)})
    window = None
    if voice_s > CANDIDATE_WINDOW_S * 1.5:
        window = ((voice_s - CANDIDATE_WINDOW_S) / 2, CANDIDATE_WINDOW_S)
    ends = None if window else bookends
    log_text = A.run_ffmpeg(
        [*A._inputs(source, ends, window), "-filter_complex",
         A._graph(audio, pre_gain, candidates, ceiling, ends, measure_each=True),
         *[arg for k in range(len(candidates)) for arg in ("-map", f"[m{k}]", "-f", "null", "-")]],
        what="measuring candidate gains",
    )
    found = A.parse_ebur128(log_text)
    points = [(g, found[f"b{k}"].integrated_lufs) for k, g in enumerate(candidates)]
    points = [(g, lufs) for g, lufs in points if lufs is not None]
    aim = audio.target_lufs + CODEC_LOSS_LU
    gain = min(A._solve_gain(points, aim) if len(points) >= 2 else base, max_gain)
    out = work_dir / "master.mp3"
    passes = 2
    for _attempt in range(3):
        A.run_ffmpeg([*A._encoder_args(source, audio, pre_gain, gain, ceiling, bookends, tags),
                      "-id3v2_version", "4", "-write_xing", "1", "-y", str(out)], what="encoding MP3")
        final = A.measure(out)
        passes += 2
        off = None if final.integrated_lufs is None else audio.target_lufs - final.integrated_lufs
        peak_over = None if final.true_peak_dbtp is None else final.true_peak_dbtp - audio.true_peak
        if (off is None or abs(off) <= audio.tolerance_lu) and (peak_over is None or peak_over <= 0):
            break
        if peak_over is not None and peak_over > 0:
            ceiling -= peak_over + 0.2
        previous = gain
        if off is not None:
            points.append((gain, final.integrated_lufs))
            gain = min(A._solve_gain(points, audio.target_lufs) if len(points) >= 2 else gain + off, max_gain)
        if abs(gain - previous) < 0.05 and (peak_over is None or peak_over <= 0):
            break
    return Mastered(data=out.read_bytes(), duration_s=A.duration_of(out), loudness=final, passes=passes)


# --- Timing every stage ------------------------------------------------------------------------

FFMPEG_STAGES = {
    "measuring voice.wav": "master: raw level (ffmpeg)",
    "measuring candidate gains": "master: candidate gains (ffmpeg)",
    "encoding MP3": "master: encode (ffmpeg)",
    "measuring master.mp3": "master: measure MP3 (ffmpeg)",
}
#: The stages that start a process (the chime is made beforehand, so its calibration is not among them).
LAUNCHES = (*FFMPEG_STAGES.values(), "master: duration (ffprobe)")
OVERLAPPED = "master: encode ‖ measure MP3 (ffmpeg ×2)"
ORDER = [
    "normalise", "plan", "voice (espeak-ng)", "join", "chime bookends (cached)",
    "master: raw level (ffmpeg)", "master: raw level (in-process)", "master: candidate gains (ffmpeg)",
    "master: encode (ffmpeg)", "master: measure MP3 (ffmpeg)", OVERLAPPED,
    "master: duration (ffprobe)",
    "master: duration (Xing header)", "master: other", "cache, tags, other",
]


class Stages:
    """Wraps the plugin's module-level functions so one render records where its time went."""

    def __init__(self) -> None:
        self.times: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, stage: str, seconds: float) -> None:
        self.times[stage] += seconds
        self.counts[stage] += 1

    def timed(self, stage, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(stage if isinstance(stage, str) else stage(*args, **kwargs), time.perf_counter() - start)
        return wrapper


@contextmanager
def patched(module, name, value):
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


def timed_render(renderer, ctx, master_fn) -> tuple[object, Stages, float, float]:
    st = Stages()
    master_timed = st.timed("master", master_fn)
    patches = [
        (renderer_mod, "normalize_text", st.timed("normalise", renderer_mod.normalize_text)),
        (renderer_mod, "plan", st.timed("plan", renderer_mod.plan)),
        (renderer_mod, "speak", st.timed("voice (espeak-ng)", renderer_mod.speak)),
        (renderer_mod, "join", st.timed("join", renderer_mod.join)),
        (renderer_mod, "bookends", st.timed("chime bookends (cached)", renderer_mod.bookends)),
        (renderer_mod, "master", master_timed),
        (audio_mod, "run_ffmpeg", st.timed(lambda args, *, what: FFMPEG_STAGES.get(what, what), audio_mod.run_ffmpeg)),
        (audio_mod, "duration_of", st.timed("master: duration (ffprobe)", audio_mod.duration_of)),
    ]
    for name, stage in (("voice_level", "master: raw level (in-process)"), ("mp3_duration", "master: duration (Xing header)"),
                        ("encode_and_measure", OVERLAPPED)):
        if hasattr(audio_mod, name):
            patches.append((audio_mod, name, st.timed(stage, getattr(audio_mod, name))))
    stack = [patched(*p) for p in patches]
    for cm in stack:
        cm.__enter__()
    try:
        start, cpu = time.perf_counter(), cpu_seconds()
        (media,) = renderer.render(ctx)
        wall, used = time.perf_counter() - start, cpu_seconds() - cpu
    finally:
        for cm in reversed(stack):
            cm.__exit__(None, None, None)
    inside = sum(v for k, v in st.times.items() if k.startswith("master:"))
    st.times["master: other"] = st.times.pop("master") - inside
    st.times["cache, tags, other"] = wall - sum(st.times.values())
    return media, st, wall, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="interleaved renders per side to take the median of")
    args = parser.parse_args()

    pm = plugin_manager()
    renderer = speech_renderer(pm)
    words = len(f"{TITLE} {BODY}".split())
    subprocess.run(["espeak-ng", "-v", "vi", "-w", "/dev/null", "khởi động"], check=True)  # load voice data once

    sides = {"old": previous_master, "new": audio_mod.master}
    stages = {side: defaultdict(list) for side in sides}
    walls, cpus, passes = {s: [] for s in sides}, {s: [] for s in sides}, {s: [] for s in sides}
    chime_cold, results = [], {}
    with tempfile.TemporaryDirectory(prefix="hub-bench-short-") as tmp:
        root = Path(tmp)
        chime_dir = root / "chime"
        for n in range(args.runs):
            start = time.perf_counter()
            shutil.rmtree(chime_dir, ignore_errors=True)
            bookends(SpeechSettings(), chime_dir)
            chime_cold.append(time.perf_counter() - start)
            # Alternate which side goes first, so neither always follows the other's warm-up.
            for side in (("old", "new") if n % 2 == 0 else ("new", "old")):
                ctx = context(pm, root / f"{side}-{n}")
                ctx = replace(ctx, bulletin=replace(ctx.bulletin, title=TITLE, body=BODY, priority="emergency"))
                shutil.copytree(chime_dir, ctx.settings.cache_dir / "audio" / "chime")
                media, st, wall, used = timed_render(renderer, ctx, sides[side])
                walls[side].append(wall)
                cpus[side].append(used)
                passes[side].append(sum(st.counts[k] for k in LAUNCHES) + 2 * st.counts[OVERLAPPED])
                for stage, seconds in st.times.items():
                    stages[side][stage].append(seconds)
                results[side] = media
        checks = {side: qc(media.data, root) for side, media in results.items()}

    def med(values: list[float]) -> float:
        return statistics.median(values) * 1000

    print(f"emergency text: {words} words, {checks['new']['duration_s']} s of audio "
          f"({results['new'].meta['engine']}), {args.runs} interleaved renders per side; median ms")
    print(f"{'stage':40s} {'old':>8s} {'new':>8s}")
    for stage in ORDER:
        old, new = stages["old"].get(stage), stages["new"].get(stage)
        if not old and not new:
            continue
        cell = lambda v: f"{med(v):8.1f}" if v else f"{'—':>8s}"  # noqa: E731
        print(f"{stage:40s} {cell(old)} {cell(new)}")
    print(f"{'whole render (wall clock)':40s} {med(walls['old']):8.1f} {med(walls['new']):8.1f}")
    print(f"{'whole render (CPU, with children)':40s} {med(cpus['old']):8.1f} {med(cpus['new']):8.1f}")
    print(f"{'ffmpeg/ffprobe launches in master':40s} {statistics.median(passes['old']):8.0f} "
          f"{statistics.median(passes['new']):8.0f}")
    print(f"chime bookends, first use (then cached): {med(chime_cold):.1f} ms")
    ratio = statistics.median(walls["new"]) / statistics.median(walls["old"])
    cpu_ratio = statistics.median(cpus["new"]) / statistics.median(cpus["old"])
    print(f"ratio new/old: {ratio:.2f}x wall clock, {cpu_ratio:.2f}x CPU time")
    for side in sides:
        c = checks[side]
        print(f"{side} MP3: {c['lufs']} LUFS, {c['true_peak_dbtp']} dBTP, {c['duration_s']} s "
              f"(runs: {', '.join(f'{x * 1000:.0f}' for x in walls[side])} ms)")
    print(json.dumps({
        "words": words, "audio_s": checks["new"]["duration_s"], "runs": args.runs,
        "stages_ms": {side: {k: round(med(v), 1) for k, v in stages[side].items()} for side in sides},
        "render_ms": {side: round(med(walls[side]), 1) for side in sides},
        "render_cpu_ms": {side: round(med(cpus[side]), 1) for side in sides},
        "launches": {side: statistics.median(passes[side]) for side in sides}, "ratio": round(ratio, 3), "cpu_ratio": round(cpu_ratio, 3), "chime_first_use_ms": round(med(chime_cold), 1),
        "lufs": {side: checks[side]["lufs"] for side in sides},
        "true_peak_dbtp": {side: checks[side]["true_peak_dbtp"] for side in sides},
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
