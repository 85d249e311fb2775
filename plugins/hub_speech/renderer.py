"""The speech renderer, and the same work as plain functions for the API and the command line."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hub.plugin_types import CommuneInfo, RenderContext, RenderedMedia
from hub_speech.audio import MASTERING_VERSION, AudioSettings, FFmpegError, check_upload, master
from hub_speech.cache import FileCache, cache_key
from hub_speech.chain import Voice, normalize_text, plan, speak, speech_text
from hub_speech.chime import bookends

log = logging.getLogger(__name__)

_LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
MIME = "audio/mpeg"


def render(ctx: RenderContext) -> list[RenderedMedia]:
    """One MP3 per distinct voice among the targeted communes (usually just one)."""
    bulletin = ctx.bulletin
    audio = AudioSettings()
    province = ctx.province or getattr(ctx.settings, "province", "")
    when = bulletin.approved_at
    if bulletin.recording_sha256:
        path = ctx.media.path(bulletin.recording_sha256)
        if path is None:
            raise FileNotFoundError(f"recording {bulletin.recording_sha256} is not in the media store")
        tags = _tags(bulletin.title, province, _album(ctx.communes, province), when)
        media = process_upload(path, ctx.settings, title=bulletin.title, tags=tags, audio=audio)
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
            media.meta["communes"] = [c.code for c in communes]
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
    audio: AudioSettings | None = None,
) -> RenderedMedia:
    """Speak arbitrary text to a finished MP3 (``hub say``); ``title`` is the ID3 title, not read aloud."""
    province = getattr(settings, "province", "")
    all_tags = {**_tags(title or text.strip()[:80], province, province, None), **(tags or {})}
    spoken = normalize_text(hook, settings, text)
    with tempfile.TemporaryDirectory(prefix="hub-say-") as tmp:
        return _speak(
            hook, settings, spoken, has_title=False, voice=voice, tags=all_tags,
            audio=audio or AudioSettings(), work_dir=Path(tmp),
        )


def process_upload(
    path: Path,
    settings: Any,
    *,
    title: str | None = None,
    tags: dict[str, str] | None = None,
    audio: AudioSettings | None = None,
) -> RenderedMedia:
    """Check an uploaded recording by decoding it, then master it like speech.

    :raises ValueError: the file is not MP3/WAV/M4A/OGG audio, is empty or silent, or is too long.
    """
    audio = audio or AudioSettings()
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
        return _media(hit[0], {**hit[1], **extra})
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
    return _media(done.data, {**stored, **extra})


# --- Shared -------------------------------------------------------------------------------------


def _speak(
    hook: Any,
    settings: Any,
    spoken: str,
    *,
    has_title: bool,
    voice: str | None,
    tags: dict[str, str],
    audio: AudioSettings,
    work_dir: Path,
) -> RenderedMedia:
    pieces = plan(spoken, audio, has_title=has_title)
    if not pieces:
        raise ValueError("nothing to speak: the text is empty after normalisation")
    cache_dir = Path(settings.cache_dir)
    store = FileCache(cache_dir / "audio")
    pauses = [p.pause_after_ms for p in pieces]

    def final_key(keys: list[str]) -> str:
        return cache_key(
            kind="speech", parts=list(zip(keys, pauses)), v=MASTERING_VERSION, audio=audio.mastering_key(), tags=tags
        )

    def describe(meta: dict[str, Any], skipped: list[str]) -> dict[str, Any]:
        out = {**meta, "fallback": bool(skipped), "spoken_text": spoken}
        if skipped:
            out["fallback_from"] = skipped
        return out

    def cached(engine: Any, keys: list[str], skipped: list[str]) -> RenderedMedia | None:
        hit = store.get(final_key(keys))
        if hit is None:
            return None
        log.debug("speech cache hit for %s", engine.name)
        return _media(hit[0], describe(hit[1], skipped))

    result = speak(hook, settings, pieces, voice=voice, audio=audio, cache_root=cache_dir / "tts", cached=cached)
    if isinstance(result, RenderedMedia):
        return result
    assert isinstance(result, Voice)
    work_dir.mkdir(parents=True, exist_ok=True)
    source = work_dir / "voice.wav"
    source.write_bytes(result.wav)
    done = master(source, audio, work_dir, bookends=_bookends(audio, settings), tags=tags)
    stored = {
        "duration_s": done.duration_s, "engine": result.engine, "engine_version": result.engine_version,
        "voice": result.voice, "loudness_lufs": done.loudness.integrated_lufs,
        "true_peak_dbtp": done.loudness.true_peak_dbtp,
    }
    store.put(final_key(result.keys), done.data, "mp3", stored)
    return _media(done.data, describe(stored, result.skipped))


def _bookends(audio: AudioSettings, settings: Any) -> tuple[Path, Path] | None:
    return bookends(audio, Path(settings.cache_dir) / "audio" / "chime")


def _media(data: bytes, meta: dict[str, Any]) -> RenderedMedia:
    meta = {k: v for k, v in meta.items() if k != "suffix"}
    return RenderedMedia(kind="audio", mime=MIME, data=data, meta=meta)


def _album(communes: list[CommuneInfo] | tuple[CommuneInfo, ...], province: str) -> str:
    names = [c.name for c in communes]
    return ", ".join(names) if 0 < len(names) <= 3 else province


def _tags(title: str, artist: str, album: str, when: datetime | None) -> dict[str, str]:
    day = (when.astimezone(_LOCAL) if when and when.tzinfo else when or datetime.now(_LOCAL)).date()
    return {"title": title, "artist": artist, "album": album, "date": day.isoformat(), "genre": "Speech"}


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
