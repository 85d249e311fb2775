"""The intro and outro chime, synthesised here from sine partials: no third-party recording."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from pydub import AudioSegment
from pydub.generators import Sine

from hub_speech.audio import SpeechSettings, measure
from hub_speech.cache import atomic_write

# C5, E5, G5: a rising major triad opens a programme, the falling one closes it.
_NOTES = (523.25, 659.25, 783.99)
_NOTE_MS = 750
_STEP_MS = 230
# Partials of a soft bell (fundamental, octave, twelfth) with their levels, dB.
_PARTIALS = ((1.0, 0.0), (2.0, -9.0), (3.0, -18.0))


def _note(freq: float, rate: int) -> AudioSegment:
    tone = AudioSegment.silent(duration=_NOTE_MS, frame_rate=rate)
    for ratio, level in _PARTIALS:
        tone = tone.overlay(Sine(freq * ratio, sample_rate=rate).to_audio_segment(duration=_NOTE_MS, volume=level - 8))
    # pydub fades linearly in dB, i.e. an exponential decay: the envelope of a struck bell.
    return tone.fade_in(6).fade(to_gain=-40, start=6, end=_NOTE_MS - 40).fade_out(40)


def _chime(notes: tuple[float, ...], rate: int) -> AudioSegment:
    length = _STEP_MS * (len(notes) - 1) + _NOTE_MS
    out = AudioSegment.silent(duration=length, frame_rate=rate)
    for k, freq in enumerate(notes):
        out = out.overlay(_note(freq, rate), position=k * _STEP_MS)
    return out


def bookends(audio: SpeechSettings, cache_dir: Path) -> tuple[Path, Path] | None:
    """WAV files to put before and after the voice (padding, chime, gap), made once and cached."""
    if not audio.chime and audio.pad_ms == 0:
        return None
    spec = {
        "v": 1, "chime": audio.chime, "lufs": audio.target_lufs + audio.chime_lu, "rate": audio.sample_rate,
        "pad": audio.pad_ms, "gap": audio.chime_gap_ms, "peak": audio.true_peak,
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]
    intro_path = cache_dir / f"intro-{key}.wav"
    outro_path = cache_dir / f"outro-{key}.wav"
    if intro_path.exists() and outro_path.exists():
        return intro_path, outro_path

    rate = audio.sample_rate
    pad = AudioSegment.silent(duration=audio.pad_ms, frame_rate=rate)
    if audio.chime:
        rising, falling = _chime(_NOTES, rate), _chime(_NOTES[::-1], rate)
        gap = AudioSegment.silent(duration=audio.chime_gap_ms, frame_rate=rate)
        # Calibrate by measurement so the chime sits chime_lu under the voice whatever the target.
        cache_dir.mkdir(parents=True, exist_ok=True)
        # A private name: two workers may be calibrating the same chime at once.
        fd, name = tempfile.mkstemp(dir=cache_dir, prefix=".probe-", suffix=".wav")
        probe_path = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_wav(rising + falling))
            level = measure(probe_path)
        finally:
            probe_path.unlink(missing_ok=True)
        gain = spec["lufs"] - (level.integrated_lufs or -20.0)
        # A sine's peak is only ~3 dB over its loudness, but keep it clear of the ceiling anyway.
        if level.true_peak_dbtp is not None:
            gain = min(gain, audio.true_peak - 1.0 - level.true_peak_dbtp)
        intro = pad + rising.apply_gain(gain) + gap
        outro = gap + falling.apply_gain(gain) + pad
    else:
        intro = outro = pad
    atomic_write(intro_path, _wav(intro))
    atomic_write(outro_path, _wav(outro))
    return intro_path, outro_path


def _wav(segment: AudioSegment) -> bytes:
    return segment.set_channels(1).export(format="wav").read()
