"""Broadcast mastering: level, limit, chime and encode one programme to MP3 with ffmpeg.

Loudness is set by measured gain into an oversampled look-ahead limiter rather than by
``loudnorm``: espeak-ng's pulse-like voice has a peak-to-loudness ratio near 18 dB, so
``loudnorm`` cannot reach −16 LUFS linearly under −1.5 dBTP and its dynamic fallback lands
around −17.5 LUFS (see docs/audio.md). Every result is measured on the final MP3.
"""

from __future__ import annotations

import json
import logging
import math
import re
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict
from pydub import AudioSegment

from hub.plugin_api import PluginSettings

log = logging.getLogger(__name__)

#: Bump when the same input and settings would master differently; part of every cache key.
#: 2: the raw voice's working level is read from its PCM in-process, and a short voice is first
#: encoded at a fixed gain (kept when it lands within tolerance), so the same input masters differently.
MASTERING_VERSION = "2"

#: ffprobe format names of the uploads we accept (the container is sniffed, never the extension).
UPLOAD_FORMATS = {
    "mp3": "MP3",
    "wav": "WAV",
    "ogg": "OGG",
    "mov,mp4,m4a,3gp,3g2,mj2": "M4A",
}

#: ebur128 reports −70 LUFS (its absolute gate) when nothing in the signal is loud enough to count.
SILENT_LUFS = -69.9

# Oversampling makes the limiter see inter-sample peaks, so sample peaks there ≈ true peaks.
_OVERSAMPLE = 4


#: The speech plugin's settings were once named ``HUB_AUDIO_*``; those names still work, for now.
FORMER_PREFIX = "HUB_AUDIO_"


class SpeechSettings(PluginSettings):
    """The speech plugin's settings (pauses, mastering, uploads), read from ``HUB_SPEECH_*``.

    The former names ``HUB_AUDIO_*`` are still read, below the new ones, with a warning.
    """

    model_config = SettingsConfigDict(env_prefix="HUB_SPEECH_", extra="ignore")
    former_env_prefix: ClassVar[str | None] = FORMER_PREFIX

    #: Integrated loudness of the finished MP3 (EBU R128), LUFS.
    target_lufs: float = Field(default=-16.0, ge=-36.0, le=-8.0)
    #: Ceiling for the true peak of the finished MP3, dBTP.
    true_peak: float = Field(default=-1.5, ge=-12.0, le=0.0)
    #: How far the finished loudness may miss the target before another mastering pass, LU.
    tolerance_lu: float = Field(default=0.3, gt=0.0, le=2.0)
    sample_rate: Literal[8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000] = 22050
    bitrate: str = "64k"
    channels: Literal[1, 2] = 1
    #: Voice EQ for horn loudspeakers: high-pass below ~150 Hz, presence lift around 3 kHz.
    eq: bool = False
    eq_highpass_hz: int = Field(default=150, ge=20, le=600)
    eq_presence_db: float = Field(default=4.0, ge=0.0, le=12.0)
    #: Speech leveller (ffmpeg ``speechnorm``) before the limiter: evens out a recording's level and
    #: lowers the voice's peak-to-loudness ratio, so the limiter has less to do.
    level: bool = False
    #: Most the limiter may cut the voice's peaks, dB. Caps the gain for a very short text, whose
    #: programme loudness the chime and pauses dominate: better −16.6 LUFS than a crushed voice.
    max_limiting_db: float = Field(default=12.0, ge=0.0, le=20.0)
    #: Intro and outro chime, synthesised by the hub itself.
    chime: bool = True
    #: Chime loudness relative to the speech target, LU. At 0 a programme of any length measures
    #: the same with or without the chime; below 0 a short text must be pushed harder to compensate.
    chime_lu: float = Field(default=0.0, ge=-20.0, le=3.0)
    #: Silence at the very start and end of the file, ms.
    pad_ms: int = Field(default=500, ge=0, le=10_000)
    #: Silence between the chime and the voice, ms.
    chime_gap_ms: int = Field(default=400, ge=0, le=5_000)
    #: Pause after the title, between paragraphs, and between long-paragraph pieces, ms.
    title_pause_ms: int = Field(default=900, ge=0, le=5_000)
    paragraph_pause_ms: int = Field(default=600, ge=0, le=5_000)
    sentence_pause_ms: int = Field(default=250, ge=0, le=5_000)
    #: Speaking rate passed to the TTS engine (1.0 = the engine's normal rate).
    speed: float = Field(default=1.0, ge=0.5, le=2.0)
    #: Longest text piece sent to an engine at once; pieces are spoken in parallel and cached alone.
    chunk_chars: int = Field(default=600, ge=50, le=5_000)
    #: Pieces synthesised at the same time (1 for an engine that cannot run concurrently).
    synth_workers: int = Field(default=4, ge=1, le=32)
    #: Longest uploaded recording accepted, seconds.
    max_recording_s: float = Field(default=1800.0, gt=0)

    @field_validator("bitrate")
    @classmethod
    def _bitrate(cls, value: str) -> str:
        if not re.fullmatch(r"\d{1,3}k", value):
            raise ValueError("bitrate must look like '64k'")
        return value

    def mastering_key(self) -> dict[str, object]:
        """The settings that change the finished file (not the ones that only change speed)."""
        return self.model_dump(exclude={"synth_workers", "max_recording_s", "tolerance_lu"})


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float | None
    true_peak_dbtp: float | None


@dataclass(frozen=True)
class Mastered:
    data: bytes
    duration_s: float
    loudness: Loudness
    #: ffmpeg and ffprobe processes the mastering started.
    passes: int


#: An absolute file path in ffmpeg's log (a temporary upload, a work folder).
_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:'\"]+/)*[^\s/:'\"]+")


class FFmpegError(RuntimeError):
    """ffmpeg or ffprobe failed; the message carries the tail of its log, with no server paths
    (it reaches the client as a 422's detail: issue 14 found temporary paths there)."""

    def __init__(self, message: str) -> None:
        super().__init__(_PATH.sub("the file", message))


#: The longest any one ffmpeg or ffprobe run may take, seconds: a file made to be slow to decode
#: (issue 14) is stopped, not left to hold a worker. A 30-minute recording's longest pass takes a
#: small part of this on one core.
FFMPEG_TIMEOUT_S = 300.0


def run_ffmpeg(args: list[str], *, what: str, timeout: float = FFMPEG_TIMEOUT_S) -> str:
    """Run ffmpeg quietly and return its log (stderr), raising FFmpegError on failure or timeout."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FFmpegError(f"ffmpeg took longer than {timeout:.0f} s while {what}; stopped") from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-6:])
        raise FFmpegError(f"ffmpeg failed while {what}: {tail}")
    return proc.stderr


def probe(path: Path, *, timeout: float = 60.0) -> dict:
    """ffprobe's view of a file, or FFmpegError if it cannot be read as media at all."""
    cmd = [
        "ffprobe", "-v", "error", "-of", "json",
        "-show_entries", "format=format_name,duration:stream=codec_type,codec_name,duration,channels,sample_rate",
        str(path),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FFmpegError(f"ffprobe took longer than {timeout:.0f} s; stopped") from None
    if proc.returncode != 0:
        raise FFmpegError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "unreadable")
    return json.loads(proc.stdout or "{}")


_SUMMARY = re.compile(r"\[(?P<name>[^\]\s]+) @ [^\]]+\] Summary:(?P<body>.*?)(?=\[[^\]]+ @ [^\]]+\] Summary:|\Z)", re.S)


def parse_ebur128(log_text: str) -> dict[str, Loudness]:
    """Summaries of every ebur128 instance in an ffmpeg log, by instance name."""
    found: dict[str, Loudness] = {}
    for match in _SUMMARY.finditer(log_text):
        body = match["body"]
        i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", body)
        p = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", body)
        lufs = float(i[1]) if i and i[1] != "-inf" else None
        if lufs is not None and lufs <= SILENT_LUFS:
            lufs = None
        peak = float(p[1]) if p and p[1] != "-inf" else None
        found[match["name"].split("@", 1)[-1]] = Loudness(lufs, peak)
    return found


def measure(path: Path, *, peak: str = "true") -> Loudness:
    """Integrated loudness and peak of a file, by ebur128 as the standard says (true peak by default)."""
    return _measure(path, peak=peak)[0]


def _measure(path: Path, *, peak: str = "true") -> tuple[Loudness, float]:
    log_text = run_ffmpeg(
        ["-i", str(path), "-map", "0:a:0", "-af", f"ebur128@m=peak={peak}:framelog=verbose", "-f", "null", "-"],
        what=f"measuring {path.name}",
    )
    times = re.findall(r"time=(\d+):(\d\d):(\d\d(?:\.\d+)?)", log_text)
    seconds = 0.0
    if times:
        h, m, sec = times[-1]
        seconds = int(h) * 3600 + int(m) * 60 + float(sec)
    return parse_ebur128(log_text)["m"], seconds


def voice_level(path: Path) -> tuple[Loudness, float] | None:
    """The working level of a 16-bit PCM WAV, read in-process: (loudness, sample peak), seconds.

    Only the working level depends on it, and a level off by a dB or so only moves the candidate
    gains, which are measured through the real chain anyway; so blocks gated as BS.1770 gates
    them, without its K-weighting, are enough (measured on espeak-ng: 0.2 to 0.7 LU under
    ebur128). That spares an ffmpeg launch, most of a short text's mastering time. ``None`` for
    anything else (the caller measures it with ffmpeg).
    """
    # The wave module reads only the header here; pydub would fall back to ffmpeg for other files.
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2 or wav.getcomptype() != "NONE":
                return None
            rate, channels, pcm = wav.getframerate(), wav.getnchannels(), wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, OSError):
        return None
    voice = AudioSegment(data=pcm, sample_width=2, frame_rate=rate, channels=channels)
    frames = int(voice.frame_count())
    seconds = frames / rate if rate else 0.0
    peak = voice.max
    peak_db = 20 * math.log10(peak / 32768) if peak else None
    # Mean squares of 100 ms quarters; each 400 ms gating block is four consecutive quarters.
    quarter = max(rate // 10, 1)
    full = 32768.0 ** 2
    quarters = [voice.get_sample_slice(k, k + quarter).rms ** 2 / full for k in range(0, frames - quarter + 1, quarter)]
    blocks = [sum(quarters[k : k + 4]) / 4 for k in range(len(quarters) - 3)]

    def lufs(mean_square: float) -> float:
        return -0.691 + 10 * math.log10(mean_square)

    gated = [b for b in blocks if b > 0 and lufs(b) > -70.0]
    if not gated:
        return Loudness(None, peak_db), seconds
    relative = lufs(sum(gated) / len(gated)) - 10.0
    gated = [b for b in gated if lufs(b) > relative]
    level = lufs(sum(gated) / len(gated))
    return Loudness(level if level > SILENT_LUFS else None, peak_db), seconds


def mp3_duration(data: bytes) -> float | None:
    """Playing time as ffprobe reports it (frames in the Xing/Info header × samples per frame ÷ rate).

    Read from the bytes, sparing an ffprobe launch; ``None`` if the file has no such header.
    """
    start = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        start = 10 + (data[6] << 21 | data[7] << 14 | data[8] << 7 | data[9]) + (10 if data[5] & 0x10 else 0)
    header = int.from_bytes(data[start : start + 4], "big")
    if header >> 21 != 0x7FF or (header >> 17) & 3 != 1:  # frame sync, layer III
        return None
    version = (header >> 19) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    rates = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}.get(version)
    index = (header >> 10) & 3
    if rates is None or index == 3:
        return None
    first_frame = data[start : start + 200]
    tag = max(first_frame.find(b"Xing"), first_frame.find(b"Info"))
    if tag < 0:
        return None
    flags = int.from_bytes(first_frame[tag + 4 : tag + 8], "big")
    if not flags & 1:
        return None
    frames = int.from_bytes(first_frame[tag + 8 : tag + 12], "big")
    return round(frames * (1152 if version == 3 else 576) / rates[index], 3)


def _db_to_lin(db: float) -> float:
    return 10 ** (db / 20)


def _pre_chain(audio: SpeechSettings, pre_gain_db: float) -> str:
    """Mono float, level to a working reference, optional horn EQ and speech leveller."""
    parts = [
        "aformat=sample_fmts=flt:channel_layouts=mono",
        f"volume={pre_gain_db:.3f}dB:precision=float",
    ]
    if audio.eq:
        parts.append(f"highpass=f={audio.eq_highpass_hz}:poles=2")
        if audio.eq_presence_db > 0:
            parts.append(f"equalizer=f=3000:t=q:w=0.9:g={audio.eq_presence_db:g}")
    if audio.level:
        # Half-cycle peaks towards -6 dBFS, at most ~9.5 dB up or down, changing slowly; below the
        # threshold (pauses, room noise) nothing is raised.
        parts.append("speechnorm=p=0.5:e=3:c=3:t=0.02:r=0.001:f=0.001:l=1")
    return ",".join(parts)


def _voice_chain(audio: SpeechSettings, gain_db: float, ceiling_db: float) -> str:
    """Gain into a true-peak-aware limiter, back to the output rate."""
    rate = audio.sample_rate
    # Fast release shapes only the loudest pitch pulses; a slow one would duck whole syllables
    # and cost loudness (measured: 20 ms ≈ 1.7 LU better than 400 ms at the same ceiling).
    return (
        f"volume={gain_db:.3f}dB:precision=float,"
        f"aresample={rate * _OVERSAMPLE},"
        f"alimiter=limit={_db_to_lin(ceiling_db):.5f}:level=disabled:attack=1:release=25,"
        f"aresample={rate},aformat=sample_fmts=flt:channel_layouts=mono"
    )


def _fmt(audio: SpeechSettings) -> str:
    return f"aresample={audio.sample_rate},aformat=sample_fmts=flt:sample_rates={audio.sample_rate}:channel_layouts=mono"


def _graph(
    audio: SpeechSettings,
    pre_gain_db: float,
    gains: list[float],
    ceiling_db: float,
    bookends: tuple[Path, Path] | None,
    *,
    measure_each: bool,
) -> str:
    """One filter graph: the voice through each candidate gain, between the bookends."""
    n = len(gains)
    chains = [f"[0:a]{_pre_chain(audio, pre_gain_db)},asplit={n}" + "".join(f"[v{k}]" for k in range(n))]
    if bookends:
        chains.append(f"[1:a]{_fmt(audio)},asplit={n}" + "".join(f"[i{k}]" for k in range(n)))
        chains.append(f"[2:a]{_fmt(audio)},asplit={n}" + "".join(f"[o{k}]" for k in range(n)))
    for k, gain in enumerate(gains):
        chains.append(f"[v{k}]{_voice_chain(audio, gain, ceiling_db)}[p{k}]")
        # Each measured branch needs an output of its own, or ffmpeg never pulls audio through it.
        tail = f"ebur128@b{k}=peak=none:framelog=verbose[m{k}]" if measure_each else "anull[out]"
        if bookends:
            chains.append(f"[i{k}][p{k}][o{k}]concat=n=3:v=0:a=1,{tail}")
        else:
            chains.append(f"[p{k}]{tail}")
    return ";".join(chains)


def _inputs(source: Path, bookends: tuple[Path, Path] | None, window: tuple[float, float] | None = None) -> list[str]:
    args = ["-ss", f"{window[0]:.2f}", "-t", f"{window[1]:.2f}", "-i", str(source)] if window else ["-i", str(source)]
    if bookends:
        args += ["-i", str(bookends[0]), "-i", str(bookends[1])]
    return args


def _solve_gain(points: list[tuple[float, float]], target: float) -> float:
    """Gain at which loudness (monotonic in gain, flattened by the limiter) reaches target."""
    points = sorted(points)
    for (g1, l1), (g2, l2) in zip(points, points[1:]):
        if l1 <= target <= l2 and l2 > l1:
            return g1 + (target - l1) * (g2 - g1) / (l2 - l1)
    # Outside the bracket: extend the nearest segment, never with a slope flatter than the
    # limiter allows in practice, so an almost flat curve cannot ask for absurd gain.
    (g1, l1), (g2, l2) = (points[-2], points[-1]) if target > points[-1][1] else (points[0], points[1])
    slope = max((l2 - l1) / (g2 - g1) if g2 != g1 else 1.0, 0.25)
    anchor_g, anchor_l = (g2, l2) if target > points[-1][1] else (g1, l1)
    return anchor_g + (target - anchor_l) / slope


WORK_REFERENCE_LUFS = -20.0
#: libmp3lame output measures ~0.4 LU quieter than its input here (64k and 128k alike, not explained
#: by its low-pass); aiming that much higher saves a second encode in most cases.
CODEC_LOSS_LU = 0.4
#: Seconds of a long voice measured at each candidate gain.
CANDIDATE_WINDOW_S = 40.0
#: A voice up to this long is first encoded at a fixed gain, without measuring candidates: at
#: this length one more encode costs little more than an ffmpeg start, so a miss is cheap.
SINGLE_PASS_MAX_S = 30.0
#: That gain over the working level's ``base``. The limiter flattens the curve to ~0.3 LU per dB
#: here, so ±1 dB still lands within 0.3 LU. Measured on short texts (espeak-ng, default settings):
#: the candidates' answer is base + 3.7…5.0 dB for the northern voice, + 4.7…6.9 for the southern.
SINGLE_PASS_STEP_DB = 4.5
#: Loudness gained per dB of gain into the limiter near the target, LU/dB (measured: 0.3 on espeak-ng
#: at the default settings); the first correction from a single measured point assumes it.
LIMITED_SLOPE = 0.3


def master(
    source: Path,
    audio: SpeechSettings,
    work_dir: Path,
    *,
    bookends: tuple[Path, Path] | None,
    tags: dict[str, str],
) -> Mastered:
    """Turn any decodable voice file into the finished MP3, measured as EBU R128 measures it.

    Passes: read the raw voice's level (in-process from a 16-bit WAV, else with ffmpeg). A voice
    of at most ``SINGLE_PASS_MAX_S`` is encoded at once at ``base + SINGLE_PASS_STEP_DB``; a
    longer one first has the programme (or a 40 s window of it) measured at three candidate gains
    through the limiter, and is encoded at the interpolated gain. Each encode is measured as it is
    made (two ffmpeg runs side by side). If the MP3 misses the target by more than
    ``tolerance_lu`` or the peak ceiling, correct from what was measured and encode again (at most
    three more times for a short voice, twice for a long one). A gain capped by
    ``max_limiting_db`` stops there and reports what it measured.
    """
    # Sample peak is enough here: it only bounds how hard the limiter may be driven.
    level = voice_level(source)
    passes = 0 if level else 1
    raw, voice_s = level or _measure(source, peak="sample")
    if raw.integrated_lufs is None:
        if raw.true_peak_dbtp is None:
            raise ValueError("the audio is silent")
        # Too short or too quiet for gated loudness: level by peak instead, then measure the whole.
        pre_gain = -6.0 - raw.true_peak_dbtp
    else:
        pre_gain = WORK_REFERENCE_LUFS - raw.integrated_lufs

    # The MP3 encoder and the downsampler add a little overshoot, hence a ceiling below the limit.
    ceiling = audio.true_peak - 1.0
    base = audio.target_lufs - WORK_REFERENCE_LUFS
    peak_in = (raw.true_peak_dbtp or 0.0) + pre_gain
    max_gain = ceiling - peak_in + audio.max_limiting_db
    out = work_dir / "master.mp3"
    short = voice_s <= SINGLE_PASS_MAX_S
    if short:
        # No candidate pass: encode at the usual answer, measure, and correct from what the MP3 says.
        gain, points = min(base + SINGLE_PASS_STEP_DB, max_gain), []
    else:
        gain, points = _candidate_gains(source, audio, pre_gain, ceiling, base, max_gain, voice_s, bookends)
        passes += 1
    for attempt in range(4 if short else 3):
        final = encode_and_measure(source, audio, pre_gain, gain, ceiling, bookends, tags, out)
        passes += 2
        off, peak_over = _misses(final, audio)
        if (off is None or abs(off) <= audio.tolerance_lu) and (peak_over is None or peak_over <= 0):
            break
        log.debug("pass %d at gain %.2f: %s", attempt + 1, gain, final)
        log.info("mastering pass %d missed: %.2f LU off, peak %+.2f dB over; correcting", attempt + 1, off or 0, peak_over or 0)
        previous = gain
        if peak_over is not None and peak_over > 0:
            # Same gain under a lower ceiling: another curve, so what was measured under the old
            # one would mislead the next correction.
            ceiling -= peak_over + 0.2
            points = []
        elif off is not None:
            # The MP3's own measurement replaces a candidate's at the same gain: two points at one
            # gain would make the secant flat and stop the correction as if at the cap.
            points = [p for p in points if abs(p[0] - gain) > 0.01] + [(gain, final.integrated_lufs)]
            gain = min(_solve_gain(points, audio.target_lufs) if len(points) >= 2 else gain + off / LIMITED_SLOPE, max_gain)
        if abs(gain - previous) < 0.05 and (peak_over is None or peak_over <= 0):
            log.info("mastering stops at the limiter cap: %.2f LU from target", off or 0)
            break
    else:
        log.warning("mastering did not converge: %s", final)
    return _finished(out, final, passes)


def _candidate_gains(
    source: Path,
    audio: SpeechSettings,
    pre_gain: float,
    ceiling: float,
    base: float,
    max_gain: float,
    voice_s: float,
    bookends: tuple[Path, Path] | None,
) -> tuple[float, list[tuple[float, float]]]:
    """Measure the programme at three gains through the limiter (one ffmpeg run); the gain to encode at."""
    # Measured on espeak-ng, the answer is usually base + 2…6 dB.
    candidates = sorted({min(base + step, max_gain) for step in (2.0, 5.0, 8.0)})
    # Speech is statistically steady: a long voice's loudness curve is read from a window of it
    # alone (the chime, at the target loudness, hardly moves a long programme), a short one's whole.
    window = None
    if voice_s > CANDIDATE_WINDOW_S * 1.5:
        window = ((voice_s - CANDIDATE_WINDOW_S) / 2, CANDIDATE_WINDOW_S)
    ends = None if window else bookends
    log_text = run_ffmpeg(
        [*_inputs(source, ends, window), "-filter_complex",
         _graph(audio, pre_gain, candidates, ceiling, ends, measure_each=True),
         *[arg for k in range(len(candidates)) for arg in ("-map", f"[m{k}]", "-f", "null", "-")]],
        what="measuring candidate gains",
    )
    found = parse_ebur128(log_text)
    points = [(g, found[f"b{k}"].integrated_lufs) for k, g in enumerate(candidates)]
    points = [(g, lufs) for g, lufs in points if lufs is not None]
    aim = audio.target_lufs + CODEC_LOSS_LU
    gain = min(_solve_gain(points, aim) if len(points) >= 2 else base, max_gain)
    log.debug("candidate loudness %s -> gain %.2f dB (cap %.2f)", points, gain, max_gain)
    return gain, points


def _misses(final: Loudness, audio: SpeechSettings) -> tuple[float | None, float | None]:
    """How far the MP3 is under the target (LU) and over the peak ceiling (dB), where measurable."""
    off = None if final.integrated_lufs is None else audio.target_lufs - final.integrated_lufs
    peak_over = None if final.true_peak_dbtp is None else final.true_peak_dbtp - audio.true_peak
    return off, peak_over


def _finished(out: Path, final: Loudness, passes: int) -> Mastered:
    data = out.read_bytes()
    duration = mp3_duration(data)
    if duration is None:
        duration, passes = duration_of(out), passes + 1
    return Mastered(data=data, duration_s=duration, loudness=final, passes=passes)


def _encoder_args(
    source: Path,
    audio: SpeechSettings,
    pre_gain: float,
    gain: float,
    ceiling: float,
    bookends: tuple[Path, Path] | None,
    tags: dict[str, str],
) -> list[str]:
    """Inputs, graph, tags and codec of the finished MP3: every argument but where it goes."""
    metadata: list[str] = []
    for key, value in tags.items():
        if value:
            metadata += ["-metadata", f"{key}={value}"]
    return [
        *_inputs(source, bookends),
        "-filter_complex", _graph(audio, pre_gain, [gain], ceiling, bookends, measure_each=False),
        "-map", "[out]", "-map_metadata", "-1", *metadata,
        "-ac", str(audio.channels), "-ar", str(audio.sample_rate),
        "-c:a", "libmp3lame", "-b:a", audio.bitrate,
        # bitexact keeps encoder version strings out, so the same input gives the same bytes.
        "-fflags", "+bitexact", "-flags:a", "+bitexact",
    ]


def encode_and_measure(
    source: Path,
    audio: SpeechSettings,
    pre_gain: float,
    gain: float,
    ceiling: float,
    bookends: tuple[Path, Path] | None,
    tags: dict[str, str],
    out: Path,
) -> Loudness:
    """Encode the MP3 to ``out`` and measure it (ebur128, true peak) while it is being encoded.

    The encoder's tee muxer writes the file and streams the very same MP3 frames to a second
    ffmpeg that measures them, so the two start at once instead of one after the other (each
    start costs about as much as a short programme's whole encode). The stream lacks only the
    file's Xing/ID3 header frames; what it decodes to measures as the file does.
    """
    # The encoder runs in the output's folder (below), so every input must be an absolute path:
    # with the default data folder (./var) they are relative to the hub's own working directory.
    source = source.resolve()
    bookends = (bookends[0].resolve(), bookends[1].resolve()) if bookends else None
    encoder = [
        *_encoder_args(source, audio, pre_gain, gain, ceiling, bookends, tags),
        # Run in the output's folder, so no path needs escaping in the tee muxer's syntax.
        "-f", "tee", f"[f=mp3:id3v2_version=4:write_xing=1]{out.name}|[f=mp3:id3v2_version=0:write_xing=0]pipe:1",
    ]
    meter = ["-f", "mp3", "-i", "pipe:0", "-map", "0:a:0", "-af", "ebur128@m=peak=true:framelog=verbose", "-f", "null", "-"]
    base = ["ffmpeg", "-hide_banner", "-nostats", "-loglevel", "info"]
    out.unlink(missing_ok=True)
    with tempfile.TemporaryFile() as enc_log, tempfile.TemporaryFile() as meter_log:
        enc = subprocess.Popen([*base, "-nostdin", "-y", *encoder], cwd=out.parent, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=enc_log)
        try:
            meter_proc = subprocess.Popen([*base, *meter], stdin=enc.stdout, stdout=subprocess.DEVNULL, stderr=meter_log)
        finally:
            enc.stdout.close()  # the meter holds the only read end now: the encoder sees it go
        try:
            meter_rc, enc_rc = meter_proc.wait(FFMPEG_TIMEOUT_S), enc.wait(FFMPEG_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            for proc in (enc, meter_proc):
                proc.kill()
                proc.wait()
            raise FFmpegError(f"ffmpeg took longer than {FFMPEG_TIMEOUT_S:.0f} s while encoding; stopped") from None
        logs = []
        for fh in (enc_log, meter_log):
            fh.seek(0)
            logs.append(fh.read().decode("utf-8", "replace"))
    for rc, log_text, what in ((enc_rc, logs[0], "encoding MP3"), (meter_rc, logs[1], f"measuring {out.name}")):
        if rc != 0:
            tail = "\n".join(log_text.strip().splitlines()[-6:])
            raise FFmpegError(f"ffmpeg failed while {what}: {tail}")
    return parse_ebur128(logs[1])["m"]


def duration_of(path: Path) -> float:
    info = probe(path)
    value = info.get("format", {}).get("duration")
    return round(float(value), 3) if value not in (None, "N/A") else 0.0


def check_upload(path: Path, audio: SpeechSettings) -> tuple[str, float]:
    """Say what an upload is by decoding it (never by its name); ValueError if it will not do."""
    if not path.is_file() or path.stat().st_size == 0:
        raise ValueError("the recording is empty")
    try:
        info = probe(path)
    except FFmpegError as exc:
        raise ValueError(f"the recording could not be decoded as audio (MP3, WAV, M4A or OGG): {exc}") from None
    fmt = info.get("format", {}).get("format_name", "")
    kind = UPLOAD_FORMATS.get(fmt)
    if kind is None:
        raise ValueError(f"unsupported recording format {fmt or 'unknown'!r}: send MP3, WAV, M4A or OGG")
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise ValueError(f"the {kind} file has no audio stream")
    raw = info.get("format", {}).get("duration") or streams[0].get("duration")
    try:
        estimate = float(raw)
    except (TypeError, ValueError):
        estimate = 0.0
    limit = audio.max_recording_s
    if math.isfinite(estimate) and estimate > limit:
        raise ValueError(f"the recording lasts {estimate:.0f} s, longer than the {limit:.0f} s allowed")
    # The header's length is only an estimate (an MP3 of 2 s at 160 kbps, then 2 h at 8 kbps, says
    # 1,624 s: issue 14), so the length is the decoder's: decode once, never past the limit (a
    # header can also look fine over a body that is not audio).
    try:
        log_text = run_ffmpeg(["-i", str(path), "-map", "0:a:0", "-t", f"{limit + 1:.3f}", "-f", "null", "-"],
                              what="decoding the recording")
    except FFmpegError as exc:
        raise ValueError(f"the {kind} recording could not be decoded: {exc}") from None
    duration = decoded_seconds(log_text)
    if duration is None:
        duration = estimate if math.isfinite(estimate) else 0.0
    if duration < 0.3:
        raise ValueError(f"the {kind} recording is empty or shorter than 0.3 s")
    if duration > limit:
        raise ValueError(f"the recording lasts more than the {limit:.0f} s allowed (its header said "
                         f"{estimate:.0f} s)")
    return kind, duration


def decoded_seconds(log_text: str) -> float | None:
    """The playing time ffmpeg's last progress line reports (``time=HH:MM:SS.ss``), or None."""
    times = re.findall(r"time=(\d+):(\d\d):(\d\d(?:\.\d+)?)", log_text)
    if not times:
        return None
    h, m, sec = times[-1]
    return round(int(h) * 3600 + int(m) * 60 + float(sec), 3)
