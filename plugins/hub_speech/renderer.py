"""The speech renderer, and the same work as plain functions for the API and the command line.

Speech is made in one direction: normalise the text → plan its pieces → speak each piece with
the engine chain, through the piece cache (chain.py) → join and master it (audio.py), unless the
mastered cache already holds that exact programme. Each step hands the next a value; none calls
back.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.plugin_api import LOCAL_TZ
from hub.plugin_types import CommuneInfo, RenderContext, RenderedMedia
from hub_speech.audio import MASTERING_VERSION, FFmpegError, SpeechSettings, check_upload, master
from hub_speech.cache import FileCache, cache_key
from hub_speech.chain import Take, join, normalize_text, plan, speak, speech_checkers, speech_text
from hub_speech.chime import bookends

log = logging.getLogger(__name__)

MIME = "audio/mpeg"


def render(ctx: RenderContext) -> list[RenderedMedia]:
    """One MP3 per distinct voice among the targeted communes (usually just one)."""
    bulletin = ctx.bulletin
    audio = SpeechSettings()
    province = ctx.province or getattr(ctx.settings, "province", "")
    when = bulletin.approved_at
    if bulletin.recording_sha256:
        path = ctx.media.path(bulletin.recording_sha256)
        if path is None:
            raise FileNotFoundError(f"recording {bulletin.recording_sha256} is not in the media store")
        tags = _tags(bulletin.title, province, _album(ctx.communes, province), when)
        media = process_upload(path, ctx.settings, title=bulletin.title, tags=tags, audio=audio)
        checker = next(iter(speech_checkers(ctx.hook)), None)
        if checker is not None:
            # The finished recording, heard against the text it stands for (asr_text, asr_wer).
            spoken = normalize_text(ctx.hook, ctx.settings, speech_text(bulletin.title, bulletin.body))
            ctx.work_dir.mkdir(parents=True, exist_ok=True)
            heard_path = ctx.work_dir / "recording.mp3"
            heard_path.write_bytes(media.data)
            try:
                heard = checker.check(heard_path, spoken)
            except Exception:  # a broken recogniser must not keep a recording off the air
                log.exception("speech checker %r failed on a recording", checker.name)
            else:
                media = replace(media, meta={**media.meta, **asr_meta(heard)})
        return [media]

    spoken = normalize_text(ctx.hook, ctx.settings, speech_text(bulletin.title, bulletin.body))
    out = []
    groups = voice_groups(bulletin.voice, ctx.communes)
    for n, (voice, communes) in enumerate(groups):
        tags = _tags(bulletin.title, province, _album(communes or ctx.communes, province), when)
        media = _speak(
            ctx.hook, ctx.settings, spoken,
            has_title=bool(bulletin.title.strip()), voice=voice, tags=tags, audio=audio,
            work_dir=ctx.work_dir / f"speech-{n}",
        )
        if len(groups) > 1:
            media = replace(media, communes=tuple(c.code for c in communes))
        out.append(media)
    return out


def voice_groups(
    bulletin_voice: str | None, communes: tuple[CommuneInfo, ...]
) -> list[tuple[str | None, list[CommuneInfo]]]:
    """The bulletin's own voice wins; else one group per distinct commune voice, in target order."""
    if bulletin_voice:
        return [(bulletin_voice, list(communes))]
    groups: dict[str | None, list[CommuneInfo]] = {}
    for commune in communes:
        groups.setdefault(commune.voice or None, []).append(commune)
    if len(groups) <= 1:
        return [(next(iter(groups), None), list(communes))]
    return list(groups.items())


def synthesize_to_mp3(
    hook: Any,
    settings: Any,
    text: str,
    *,
    voice: str | None = None,
    title: str | None = None,
    tags: dict[str, str] | None = None,
    audio: SpeechSettings | None = None,
) -> RenderedMedia:
    """Speak arbitrary text to a finished MP3 (``hub say``); ``title`` is the ID3 title, not read aloud."""
    province = getattr(settings, "province", "")
    all_tags = {**_tags(title or text.strip()[:80], province, province, None), **(tags or {})}
    spoken = normalize_text(hook, settings, text)
    with tempfile.TemporaryDirectory(prefix="hub-say-") as tmp:
        return _speak(
            hook, settings, spoken, has_title=False, voice=voice, tags=all_tags,
            audio=audio or SpeechSettings(), work_dir=Path(tmp),
        )


def process_upload(
    path: Path,
    settings: Any,
    *,
    title: str | None = None,
    tags: dict[str, str] | None = None,
    audio: SpeechSettings | None = None,
) -> RenderedMedia:
    """Check an uploaded recording by decoding it, then master it like speech.

    :raises ValueError: the file is not MP3/WAV/M4A/OGG audio, is empty or silent, or is too long.
    """
    audio = audio or SpeechSettings()
    path = Path(path)
    kind, source_duration = check_upload(path, audio)
    province = getattr(settings, "province", "")
    all_tags = {**_tags(title or path.stem, province, province, None), **(tags or {})}
    digest = _file_sha256(path)
    key = cache_key(kind="recording", sha256=digest, v=MASTERING_VERSION, audio=audio.mastering_key(), tags=all_tags)
    store = FileCache(Path(settings.cache_dir) / "audio")
    extra = {
        "engine": "recording", "voice": None, "fallback": False, "spoken_text": None,
        "source_sha256": digest, "source_format": kind,
    }
    hit = store.get(key)
    if hit is not None:
        return _recording_media(hit[0], {**hit[1], **extra})
    with tempfile.TemporaryDirectory(prefix="hub-upload-") as tmp:
        try:
            done = master(path, audio, Path(tmp), bookends=_bookends(audio, settings), tags=all_tags)
        except ValueError as exc:
            raise ValueError(f"the {kind} recording is silent") from exc
        except FFmpegError as exc:
            raise ValueError(f"the {kind} recording could not be processed: {exc}") from exc
    stored = {
        "duration_s": done.duration_s, "loudness_lufs": done.loudness.integrated_lufs,
        "true_peak_dbtp": done.loudness.true_peak_dbtp, "source_duration_s": round(source_duration, 3),
    }
    store.put(key, done.data, "mp3", stored)
    return _recording_media(done.data, {**stored, **extra})


# --- Shared -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Programme:
    """A finished MP3 of speech, how it measures and whose voice it is: what the mastered cache keeps."""

    data: bytes
    duration_s: float
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    engine: str
    engine_version: str
    voice: str | None

    def sidecar(self) -> dict[str, Any]:
        return {"duration_s": self.duration_s, "engine": self.engine, "engine_version": self.engine_version,
                "voice": self.voice, "loudness_lufs": self.loudness_lufs, "true_peak_dbtp": self.true_peak_dbtp}

    @classmethod
    def from_cache(cls, data: bytes, sidecar: dict[str, Any]) -> Programme:
        return cls(data=data, duration_s=sidecar["duration_s"], loudness_lufs=sidecar.get("loudness_lufs"),
                   true_peak_dbtp=sidecar.get("true_peak_dbtp"), engine=sidecar["engine"],
                   engine_version=sidecar.get("engine_version", ""), voice=sidecar.get("voice"))


def _speak(
    hook: Any,
    settings: Any,
    spoken: str,
    *,
    has_title: bool,
    voice: str | None,
    tags: dict[str, str],
    audio: SpeechSettings,
    work_dir: Path,
) -> RenderedMedia:
    pieces = plan(spoken, audio, has_title=has_title)
    if not pieces:
        raise ValueError("nothing to speak: the text is empty after normalisation")
    take = speak(hook, settings, pieces, voice=voice, audio=audio, cache_root=Path(settings.cache_dir) / "tts")
    programme = _master_take(take, settings, audio, tags, work_dir)
    meta = {k: v for k, v in programme.sidecar().items() if k != "duration_s"}
    meta.update(fallback=bool(take.skipped), spoken_text=spoken)
    if take.skipped:
        meta["fallback_from"] = list(take.skipped)
    if take.check is not None:
        meta.update(asr_meta(take.check))
    return RenderedMedia(kind="audio", mime=MIME, data=programme.data, meta=meta, duration_s=programme.duration_s)


def _master_take(take: Take, settings: Any, audio: SpeechSettings, tags: dict[str, str], work_dir: Path) -> Programme:
    """Join and master the take, or find the programme already made from these very pieces."""
    cache_dir = Path(settings.cache_dir)
    store = FileCache(cache_dir / "audio")
    pauses = [p.pause_after_ms for p in take.pieces]
    key = cache_key(
        kind="speech", parts=list(zip(take.keys, pauses)), v=MASTERING_VERSION, audio=audio.mastering_key(), tags=tags
    )
    hit = store.get(key)
    if hit is not None:
        log.debug("speech cache hit for %s", take.engine)
        return Programme.from_cache(*hit)
    work_dir.mkdir(parents=True, exist_ok=True)
    source = work_dir / "voice.wav"
    source.write_bytes(join(take, cache_dir / "tts"))
    done = master(source, audio, work_dir, bookends=_bookends(audio, settings), tags=tags)
    programme = Programme(
        data=done.data, duration_s=done.duration_s, loudness_lufs=done.loudness.integrated_lufs,
        true_peak_dbtp=done.loudness.true_peak_dbtp, engine=take.engine, engine_version=take.engine_version,
        voice=take.voice,
    )
    store.put(key, programme.data, "mp3", programme.sidecar())
    return programme


def asr_meta(heard: Any) -> dict[str, Any]:
    """CONTRACT §Checking recordings by ear: what the checker heard, and its word error rate."""
    return {"asr_text": heard.transcript, "asr_wer": round(heard.wer, 3)}


def _bookends(audio: SpeechSettings, settings: Any) -> tuple[Path, Path] | None:
    return bookends(audio, Path(settings.cache_dir) / "audio" / "chime")


def _recording_media(data: bytes, stored: dict[str, Any]) -> RenderedMedia:
    """An uploaded recording's result, its playing time where the core reads it (not in ``meta``)."""
    meta = {k: v for k, v in stored.items() if k not in ("suffix", "duration_s")}
    return RenderedMedia(kind="audio", mime=MIME, data=data, meta=meta, duration_s=stored["duration_s"])


def _album(communes: list[CommuneInfo] | tuple[CommuneInfo, ...], province: str) -> str:
    names = [c.name for c in communes]
    return ", ".join(names) if 0 < len(names) <= 3 else province


def _tags(title: str, artist: str, album: str, when: datetime | None) -> dict[str, str]:
    day = (when.astimezone(LOCAL_TZ) if when and when.tzinfo else when or datetime.now(LOCAL_TZ)).date()
    return {"title": title, "artist": artist, "album": album, "date": day.isoformat(), "genre": "Speech"}


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
