"""From text to one voice recording: the normaliser chain, the TTS engine chain and its cache."""

from __future__ import annotations

import io
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydub import AudioSegment
from pydub.silence import detect_leading_silence

from hub.plugin_types import TextNormalizer, TTSEngine, TTSError
from hub_speech.audio import AudioSettings
from hub_speech.cache import FileCache, cache_key

log = logging.getLogger(__name__)


class SpeechUnavailable(RuntimeError):
    """No engine in the chain could speak the text; the pipeline retries the job later."""


# --- Text ----------------------------------------------------------------------------------------


def normalizers(hook: Any, settings: Any) -> list[TextNormalizer]:
    """Every registered normaliser step, in the order they run."""
    steps = [step for result in hook.hub_register_text_normalizers(settings=settings) for step in (result or [])]
    return sorted(steps, key=lambda step: (step.order, step.name))


def paragraphs(text: str) -> list[str]:
    return [line.strip() for line in re.split(r"\n", text.replace("\r\n", "\n")) if line.strip()]


def normalize_text(hook: Any, settings: Any, text: str) -> str:
    """The exact text a voice will read: each paragraph through every step, joined by blank lines.

    Paragraphs are normalised one by one so a step that folds whitespace cannot erase the
    paragraph breaks that become pauses.
    """
    steps = normalizers(hook, settings)
    out = []
    for para in paragraphs(text):
        for step in steps:
            try:
                para = step.normalize(para)
            except Exception as exc:
                raise RuntimeError(f"text normaliser {step.name!r} failed: {exc}") from exc
        if para.strip():
            out.append(para.strip())
    return "\n\n".join(out)


def speech_text(title: str, body: str) -> str:
    """What a broadcast reads: the title as a sentence of its own, then the body."""
    title = title.strip()
    if title and title[-1] not in ".!?…:;":
        title += "."
    return f"{title}\n\n{body.strip()}" if title else body.strip()


@dataclass(frozen=True)
class Piece:
    text: str
    pause_after_ms: int


def plan(spoken: str, audio: AudioSettings, *, has_title: bool) -> list[Piece]:
    """Cut normalised text into engine-sized pieces with the pauses between them."""
    paras = [p for p in spoken.split("\n\n") if p.strip()]
    pieces: list[Piece] = []
    for n, para in enumerate(paras):
        chunks = _chunks(para, audio.chunk_chars)
        pause = audio.title_pause_ms if (n == 0 and has_title and len(paras) > 1) else audio.paragraph_pause_ms
        for k, chunk in enumerate(chunks):
            pieces.append(Piece(chunk, pause if k == len(chunks) - 1 else audio.sentence_pause_ms))
    if pieces:
        pieces[-1] = Piece(pieces[-1].text, 0)
    return pieces


def _chunks(text: str, limit: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    units = re.split(r"(?<=[.!?…;])\s+", text)
    units = [part for unit in units for part in (_split_long(unit, limit) if len(unit) > limit else [unit])]
    out: list[str] = []
    for unit in units:
        if out and len(out[-1]) + 1 + len(unit) <= limit:
            out[-1] += " " + unit
        else:
            out.append(unit)
    return out


def _split_long(sentence: str, limit: int) -> list[str]:
    """A sentence longer than the limit: cut at commas, else at spaces."""
    out: list[str] = []
    for part in re.split(r"(?<=,)\s+", sentence):
        while len(part) > limit:
            cut = part.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            out.append(part[:cut].strip())
            part = part[cut:].strip()
        if out and len(out[-1]) + 1 + len(part) <= limit:
            out[-1] += " " + part
        elif part:
            out.append(part)
    return out


# --- Engines -------------------------------------------------------------------------------------


@dataclass
class Voice:
    """One voice recording of a whole text, ready for mastering."""

    engine: str
    engine_version: str
    voice: str
    wav: bytes
    #: Cache keys of the pieces, in order: together they identify the recording.
    keys: list[str]
    #: Why engines earlier in the chain were not used, e.g. ``["gtts: unavailable"]``.
    skipped: list[str] = field(default_factory=list)
    synthesized: int = 0


def engine_chain(hook: Any, settings: Any) -> tuple[list[TTSEngine], list[str]]:
    """The engines named in ``tts_engines``, in order, and notes on names that are not registered."""
    registered: dict[str, TTSEngine] = {}
    for result in hook.hub_register_tts_engines(settings=settings):
        for engine in result or []:
            if engine.name in registered:
                log.warning("two TTS engines are named %r; using the first", engine.name)
                continue
            registered[engine.name] = engine
    chain, skipped = [], []
    for name in settings.tts_engines:
        if name in registered:
            chain.append(registered[name])
        else:
            log.warning("HUB_TTS_ENGINES names %r, but no plugin registers it (have: %s)", name, ", ".join(registered) or "none")
            skipped.append(f"{name}: not installed")
    return chain, skipped


def piece_keys(engine: TTSEngine, pieces: list[Piece], voice: str | None, speed: float) -> list[str]:
    return [
        cache_key(text=p.text, engine=engine.name, version=str(engine.version), voice=voice, speed=speed)
        for p in pieces
    ]


def speak(
    hook: Any,
    settings: Any,
    pieces: list[Piece],
    *,
    voice: str | None,
    audio: AudioSettings,
    cache_root: Path,
    cached: Any = None,
) -> Voice | Any:
    """Walk the engine chain until one speaks every piece; identical pieces come from the cache.

    ``cached(engine, keys, skipped)`` may return a finished result for an engine before any
    synthesis happens (the mastered-MP3 cache); that result is returned as is.
    """
    chain, skipped = engine_chain(hook, settings)
    cache = FileCache(cache_root)
    for engine in chain:
        try:
            ready = engine.available()
        except Exception as exc:  # an availability probe must never take the chain down
            log.warning("TTS engine %r: available() raised %r", engine.name, exc)
            ready = False
        if not ready:
            skipped.append(f"{engine.name}: unavailable")
            continue
        keys = piece_keys(engine, pieces, voice, audio.speed)
        if cached is not None:
            hit = cached(engine, keys, list(skipped))
            if hit is not None:
                return hit
        try:
            return _speak_with(engine, pieces, keys, voice, audio, cache, skipped)
        except TTSError as exc:
            log.warning("TTS engine %r failed, trying the next: %s", engine.name, exc)
            skipped.append(f"{engine.name}: {exc}")
        except Exception as exc:
            # Outside the TTSError contract, so log the traceback, but still fall through:
            # a buggy online voice must not keep the offline one off the air.
            log.exception("TTS engine %r crashed; trying the next", engine.name)
            skipped.append(f"{engine.name}: crashed ({type(exc).__name__}: {exc})")
    tried = "; ".join(skipped) or "no engines configured"
    raise SpeechUnavailable(f"no TTS engine could speak the text (HUB_TTS_ENGINES={','.join(settings.tts_engines)}): {tried}")


def _speak_with(
    engine: TTSEngine,
    pieces: list[Piece],
    keys: list[str],
    voice: str | None,
    audio: AudioSettings,
    cache: FileCache,
    skipped: list[str],
) -> Voice:
    found: dict[int, tuple[bytes, dict]] = {}
    missing = []
    for n, key in enumerate(keys):
        hit = cache.get(key)
        if hit is None:
            missing.append(n)
        else:
            found[n] = hit

    def synth(n: int) -> tuple[bytes, dict]:
        result = engine.synthesize(pieces[n].text, voice=voice, speed=audio.speed)
        fmt = (result.format or "wav").lower()
        meta = {"voice": result.voice, "format": fmt, "engine": engine.name}
        cache.put(keys[n], result.audio, fmt, meta)
        return result.audio, meta

    # Distinct pieces only: a repeated sentence is spoken once.
    unique: dict[str, int] = {}
    for n in missing:
        unique.setdefault(keys[n], n)
    if unique:
        # The first piece alone: an engine that is down fails once, not once per piece.
        first_key, first_n = next(iter(unique.items()))
        done = {first_key: synth(first_n)}
        rest = {key: n for key, n in unique.items() if key != first_key}
        if rest:
            workers = min(audio.synth_workers, len(rest))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"tts-{engine.name}") as pool:
                futures = {key: pool.submit(synth, n) for key, n in rest.items()}
                try:
                    done.update({key: fut.result() for key, fut in futures.items()})
                finally:
                    for fut in futures.values():
                        fut.cancel()
        for n in missing:
            found[n] = done[keys[n]]

    segments = [_decode(found[n][0], found[n][1]["format"]) for n in range(len(pieces))]
    wav = _join(segments, [p.pause_after_ms for p in pieces])
    voices = {found[n][1].get("voice") for n in range(len(pieces))}
    return Voice(
        engine=engine.name,
        engine_version=str(engine.version),
        voice=next(iter(voices)) if len(voices) == 1 else ",".join(sorted(v for v in voices if v)),
        wav=wav,
        keys=keys,
        skipped=list(skipped),
        synthesized=len(unique),
    )


def _decode(data: bytes, fmt: str) -> AudioSegment:
    segment = AudioSegment.from_file(io.BytesIO(data), format=fmt).set_channels(1)
    # Engines pad their output differently; trim it so the pauses we add are the pauses heard.
    start = detect_leading_silence(segment, silence_threshold=-50.0, chunk_size=5)
    end = detect_leading_silence(segment.reverse(), silence_threshold=-50.0, chunk_size=5)
    trimmed = segment[start : len(segment) - end]
    return trimmed if len(trimmed) > 0 else segment


def _join(segments: list[AudioSegment], pauses: list[int]) -> bytes:
    rate = max(s.frame_rate for s in segments)
    width = max(s.sample_width for s in segments)
    parts = []
    for segment, pause in zip(segments, pauses):
        segment = segment.set_sample_width(width)
        if segment.frame_rate != rate:
            segment = segment.set_frame_rate(rate)
        parts.append(segment._data)
        if pause:
            parts.append(b"\0" * (int(rate * pause / 1000) * width))
    out = segments[0]._spawn(b"".join(parts), overrides={"frame_rate": rate, "sample_width": width, "channels": 1})
    return out.export(format="wav").read()
