"""Offline Vietnamese speech recognition with viet-asr, and the word error rate against a text.

viet-asr (``vietasr``, PyPI, Apache-2.0 code; the model is inside the wheel, its weights carry
no stated licence) takes 16-bit PCM at 16 kHz. Any audio the hub handles (MP3, WAV, M4A, OGG) is
decoded to that with ffmpeg, cut into windows of at most ``WINDOW_S`` seconds at the quietest
moment near each cut (the recogniser's time grows much faster than the audio's length: 10 s take
about 1 s, 90 s in one piece 46 s), and each window is transcribed on its own.

The model is loaded once per process, on first use, and shared by every thread; calls into the
native library are serialised by a lock (its thread safety is not documented).
"""

from __future__ import annotations

import atexit
import subprocess
import threading
import unicodedata
from pathlib import Path

import numpy as np

#: Samples per second the recogniser reads.
RATE = 16_000
#: Longest stretch transcribed in one call, seconds.
WINDOW_S = 20.0
#: A window is cut at the quietest 50 ms frame within its last this-many seconds.
SEARCH_S = 6.0
FRAME = RATE // 20

_lock = threading.Lock()
_pipeline = None


class RecognitionError(RuntimeError):
    """The audio could not be decoded, or the recogniser failed."""


def available() -> bool:
    """True when viet-asr is installed (the extra ``asr``); nothing is loaded."""
    import importlib.util

    return importlib.util.find_spec("vietasr") is not None


def _model():
    global _pipeline
    if _pipeline is None:
        try:
            import vietasr
        except ImportError as exc:  # pragma: no cover - checked at registration
            raise RecognitionError("viet-asr is not installed (pip install 'grassroots-hub[asr]')") from exc
        _pipeline = vietasr.Pipeline.preset("transcribe")
        # Freed before the interpreter tears cffi down (its own __del__ would fail then).
        atexit.register(_pipeline.close)
    return _pipeline


def load() -> None:
    """Load the model now (about a second), rather than on the first transcription."""
    with _lock:
        _model()


def decode(path: Path, *, ffmpeg: str = "ffmpeg", timeout_s: float = 120.0) -> np.ndarray:
    """Any audio file as 16 kHz mono 16-bit samples."""
    try:
        proc = subprocess.run(
            [ffmpeg, "-v", "error", "-nostdin", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"],
            capture_output=True, timeout=timeout_s, check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise RecognitionError(f"ffmpeg could not decode the audio: {exc}") from exc
    if proc.returncode != 0:
        raise RecognitionError(f"ffmpeg could not decode the audio: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return np.frombuffer(proc.stdout, dtype=np.int16)


def windows(samples: np.ndarray, window_s: float = WINDOW_S) -> list[np.ndarray]:
    """Cut the audio into windows of at most ``window_s``, each cut at the quietest nearby frame."""
    limit = int(window_s * RATE)
    search = int(SEARCH_S * RATE)
    out, start = [], 0
    while len(samples) - start > limit:
        lo, hi = start + limit - search, start + limit
        frames = samples[lo:hi].astype(np.float32).reshape(-1, FRAME) if (hi - lo) % FRAME == 0 else None
        if frames is None:  # pragma: no cover - SEARCH_S is a whole number of frames
            cut = hi
        else:
            energy = (frames ** 2).mean(axis=1)
            cut = lo + int(np.argmin(energy)) * FRAME + FRAME // 2
        out.append(samples[start:cut])
        start = cut
    if len(samples) > start:
        out.append(samples[start:])
    return out


def transcribe_samples(samples: np.ndarray) -> str:
    texts = []
    with _lock:
        model = _model()
        for window in windows(samples):
            if len(window) < RATE // 10:
                continue
            try:
                texts.append(model.transcribe(np.ascontiguousarray(window), sample_rate=float(RATE)).text.strip())
            except Exception as exc:
                raise RecognitionError(f"the recogniser failed: {exc}") from exc
    return " ".join(t for t in texts if t)


def transcribe(path: Path | str) -> str:
    """What the recogniser hears in an audio file (empty for silence or noise)."""
    return transcribe_samples(decode(Path(path)))


# --- word error rate ----------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-case words, punctuation dropped, Vietnamese letters kept whole (NFC)."""
    text = unicodedata.normalize("NFC", text).lower()
    kept = "".join(ch if (ch.isalnum() or ch.isspace()) else " " for ch in text)
    return kept.split()


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` (jiwer's, on :func:`words`).

    Nothing heard is 1.0; it can exceed 1.0 when the recogniser hears more words than were said.
    """
    import jiwer

    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    if not hyp:
        return 1.0
    return float(jiwer.wer(" ".join(ref), " ".join(hyp)))
