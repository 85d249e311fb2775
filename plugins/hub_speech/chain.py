"""From text to one voice recording, in the order the work is done.

normalise (every registered step) → plan (engine-sized pieces and their pauses) → speak each
piece with the first engine in the chain that can, through the piece cache (a :class:`Take`)
→ join the pieces into one WAV. Mastering (audio.py) takes it from there; renderer.py runs the
steps. Nothing here calls back into its caller.
"""

from __future__ import annotations

import io
import logging
import re
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydub import AudioSegment
from pydub.silence import detect_leading_silence

from hub.plugin_types import SpeechCheck, SpeechChecker, TextNormalizer, TTSEngine, TTSError
from hub_speech.audio import SpeechSettings
from hub_speech.cache import FileCache, cache_key

log = logging.getLogger(__name__)


class SpeechUnavailable(RuntimeError):
    """No engine in the chain could speak the text; the pipeline retries the job later."""


# --- Text ----------------------------------------------------------------------------------------


def normalizers(hook: Any, settings: Any) -> list[TextNormalizer]:
    """Every registered normaliser step, in the order they run (``hook``: the hub's registrations,
    ``ctx.hook``, which applies the one collection rule: a duplicate name is an error)."""
    return hook.text_normalizers()


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


def unread_words(hook: Any, settings: Any, spoken: str) -> list[dict[str, str]]:
    """What the normaliser steps say they could not read in ``spoken`` (each token once)."""
    seen: dict[str, dict[str, str]] = {}
    for step in normalizers(hook, settings):
        if step.unread is not None:
            for item in step.unread(spoken):
                seen.setdefault(item["token"], item)
    return list(seen.values())


def speech_text(title: str, body: str) -> str:
    """What a broadcast reads: the title as a sentence of its own, then the body."""
    title = title.strip()
    if title and title[-1] not in ".!?…:;":
        title += "."
    return f"{title}\n\n{body.strip()}" if title else body.strip()


@dataclass(frozen=True)
class Piece:
    """A stretch of spoken text short enough for an engine, and the silence after it."""

    text: str
    pause_after_ms: int


def plan(spoken: str, audio: SpeechSettings, *, has_title: bool) -> list[Piece]:
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

#: The voice chain when ``HUB_TTS_ENGINES`` names none: Google's voice, then the offline one.
DEFAULT_ENGINES = ("gtts", "espeak")


@dataclass(frozen=True)
class EngineChain:
    """The engines to try, in order, and a note for each name that no plugin registers."""

    names: tuple[str, ...]
    engines: tuple[TTSEngine, ...]
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Clip:
    """One piece as an engine spoke it, or as the piece cache kept it."""

    audio: bytes
    #: Container of ``audio``, as the engine said: "wav" or "mp3".
    format: str
    voice: str | None
    #: The decoded, trimmed audio, when the piece was spoken just now (it was decoded to check it).
    segment: AudioSegment | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Take:
    """Every piece of a text in one engine's voice, not yet joined: what the chain hands on."""

    engine: str
    engine_version: str
    pieces: tuple[Piece, ...]
    #: Cache keys of the pieces, in order: together they identify the recording.
    keys: tuple[str, ...]
    clips: tuple[Clip, ...]
    #: Why engines earlier in the chain were not used, e.g. ``("gtts: unavailable",)``.
    skipped: tuple[str, ...] = ()
    #: Distinct pieces the engine spoke for this take; the others came from the cache.
    synthesized: int = 0
    #: What a registered speech checker heard in the joined take (None: no checker).
    check: SpeechCheck | None = None

    @property
    def voice(self) -> str | None:
        voices = {clip.voice for clip in self.clips}
        return next(iter(voices)) if len(voices) == 1 else ",".join(sorted(v for v in voices if v))


def engine_names(settings: Any) -> tuple[str, ...]:
    """``HUB_TTS_ENGINES``, or this plugin's default order when it names none."""
    return tuple(getattr(settings, "tts_engines", None) or DEFAULT_ENGINES)


def engine_chain(hook: Any, settings: Any) -> EngineChain:
    """The registered engines named in ``HUB_TTS_ENGINES``, in that order."""
    registered: dict[str, TTSEngine] = hook.tts_engines()
    names = engine_names(settings)
    chain, missing = [], []
    for name in names:
        if name in registered:
            chain.append(registered[name])
        else:
            log.warning("HUB_TTS_ENGINES names %r, but no plugin registers it (have: %s)", name, ", ".join(registered) or "none")
            missing.append(f"{name}: not installed")
    return EngineChain(names=names, engines=tuple(chain), missing=tuple(missing))


def piece_keys(engine: TTSEngine, pieces: Sequence[Piece], voice: str | None, speed: float) -> tuple[str, ...]:
    return tuple(
        cache_key(text=p.text, engine=engine.name, version=str(engine.version), voice=voice, speed=speed)
        for p in pieces
    )


def speak(
    hook: Any,
    settings: Any,
    pieces: Sequence[Piece],
    *,
    voice: str | None,
    audio: SpeechSettings,
    cache_root: Path,
) -> Take:
    """Walk the engine chain until one speaks every piece; a piece spoken before comes from the cache.

    :raises SpeechUnavailable: no engine in the chain could speak the text.
    """
    chain = engine_chain(hook, settings)
    cache = FileCache(cache_root)
    skipped = list(chain.missing)
    checker = next(iter(speech_checkers(hook)), None)
    for engine in chain.engines:
        try:
            ready = engine.available()
        except Exception as exc:  # an availability probe must never take the chain down
            log.warning("TTS engine %r: available() raised %r", engine.name, exc)
            ready = False
        if not ready:
            skipped.append(f"{engine.name}: unavailable")
            continue
        try:
            take = _take(engine, tuple(pieces), voice, audio, cache, tuple(skipped))
            if checker is None:
                return take
            heard = listen(checker, take, cache_root)
            if heard is None or heard.audible:
                return replace(take, check=heard)
            # Silence, hum or noise where speech should be: this engine failed, like a TTSError.
            log.warning("TTS engine %r: the speech checker heard no speech in its take (%r)", engine.name,
                        heard.transcript)
            skipped.append(f"{engine.name}: the speech checker heard no speech in its take "
                           f"(word error rate {heard.wer:.2f})")
        except TTSError as exc:
            log.warning("TTS engine %r failed, trying the next: %s", engine.name, exc)
            skipped.append(f"{engine.name}: {exc}")
        except Exception as exc:
            # Outside the TTSError contract, so log the traceback, but still fall through:
            # a buggy online voice must not keep the offline one off the air.
            log.exception("TTS engine %r crashed; trying the next", engine.name)
            skipped.append(f"{engine.name}: crashed ({type(exc).__name__}: {exc})")
    tried = "; ".join(skipped) or "no engines configured"
    raise SpeechUnavailable(f"no TTS engine could speak the text (HUB_TTS_ENGINES={','.join(chain.names)}): {tried}")


def _take(
    engine: TTSEngine,
    pieces: tuple[Piece, ...],
    voice: str | None,
    audio: SpeechSettings,
    cache: FileCache,
    skipped: tuple[str, ...],
) -> Take:
    keys = piece_keys(engine, pieces, voice, audio.speed)
    found: dict[int, Clip] = {}
    missing = []
    for n, key in enumerate(keys):
        hit = cache.get(key)
        if hit is None:
            missing.append(n)
        else:
            found[n] = Clip(hit[0], hit[1]["format"], hit[1].get("voice"))

    def synth(n: int) -> Clip:
        result = engine.synthesize(pieces[n].text, voice=voice, speed=audio.speed)
        fmt = (result.format or "wav").lower()
        # Decoded before it is cached: audio that does not decode is this engine failing, not a
        # cache entry that would fail every later render.
        segment = decode(result.audio, fmt)
        cache.put(keys[n], result.audio, fmt, {"voice": result.voice, "format": fmt, "engine": engine.name})
        return Clip(result.audio, fmt, result.voice, segment)

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

    return Take(
        engine=engine.name,
        engine_version=str(engine.version),
        pieces=pieces,
        keys=keys,
        clips=tuple(found[n] for n in range(len(pieces))),
        skipped=skipped,
        synthesized=len(unique),
    )


def speech_checkers(hook: Any) -> list[SpeechChecker]:
    """The registered speech checkers (``hub_register_speech_checkers``; none by default)."""
    named = getattr(hook, "named", None)
    return list(named("hub_register_speech_checkers").values()) if named is not None else []


def listen(checker: SpeechChecker, take: Take, cache_root: Path) -> SpeechCheck | None:
    """What the checker hears in the joined take, against the text of its pieces; None when the
    checker itself fails (a broken recogniser must not keep a voice off the air)."""
    with tempfile.TemporaryDirectory(prefix="hub-listen-") as tmp:
        path = Path(tmp) / "take.wav"
        path.write_bytes(join(take, cache_root))
        try:
            return checker.check(path, " ".join(piece.text for piece in take.pieces))
        except Exception:
            log.exception("speech checker %r failed on a %s take; keeping the take", checker.name, take.engine)
            return None


# --- Joining -------------------------------------------------------------------------------------


def join(take: Take, cache_root: Path) -> bytes:
    """The take as one mono WAV: each piece trimmed of the engine's own padding, then our pauses.

    A piece from the cache that no longer decodes is removed from it, so the job's retry speaks
    it again.
    """
    segments = []
    for key, clip in zip(take.keys, take.clips):
        if clip.segment is not None:
            segments.append(clip.segment)
            continue
        try:
            segments.append(decode(clip.audio, clip.format))
        except Exception as exc:
            FileCache(cache_root).discard(key)
            raise RuntimeError(f"a cached piece of {take.engine} speech did not decode and was removed: {exc}") from exc
    return _join(segments, [p.pause_after_ms for p in take.pieces])


def decode(data: bytes, fmt: str) -> AudioSegment:
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
