"""A local neural voice: a Piper (VITS) model run with ONNX Runtime from a folder the administrator
installs. Nothing is downloaded, ever: without a model folder the engine is simply not there.

The model folder holds a Piper voice as Piper publishes them: ``<name>.onnx`` and its
``<name>.onnx.json`` (sample rate, espeak-ng voice, inference scales, phoneme → id map). Text is
turned into phonemes by the espeak-ng program the hub already needs (IPA, the phoneme alphabet
Piper's Vietnamese voices were trained on), the phonemes into ids as Piper's own runner does
(``^``, then each phoneme followed by ``_``, then ``$``), and the ids through the model's graph:
inputs ``input`` (int64 [1, T]), ``input_lengths`` (int64 [1]), ``scales`` (float32 [noise,
length, noise_w]) and, for a multi-speaker model, ``sid`` (int64 [1]); output float32 audio at the
config's sample rate. See docs/voices.md, "A local neural voice".
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
import threading
import unicodedata
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.plugin_types import SynthesisResult, TTSError

log = logging.getLogger(__name__)

PLUGIN_VERSION = "1"
BOS, EOS, PAD = "^", "$", "_"
REQUIRED_INPUTS = ("input", "input_lengths", "scales")


class ModelError(ValueError):
    """The model folder is missing, incomplete or malformed; the message says what to fix."""


class OnnxSettings(BaseSettings):
    """``HUB_ONNX_*``: where the installed voice is and how to run it."""

    model_config = SettingsConfigDict(env_prefix="HUB_ONNX_", extra="ignore")

    #: The folder holding ``<name>.onnx`` and ``<name>.onnx.json``; unset, the engine is off.
    model_dir: Path | None = None
    #: Which ``.onnx`` file of the folder, when it holds more than one.
    model: str | None = None
    #: Speaker of a multi-speaker model.
    speaker: int | None = Field(default=None, ge=0)
    #: Threads ONNX Runtime may use for one synthesis (the machine also renders and serves).
    threads: int = Field(default=1, ge=1, le=16)
    espeak_binary: str = "espeak-ng"
    #: Seconds espeak-ng may take to phonemise one piece.
    timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("model_dir", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value is None or (isinstance(value, str) and not value.strip()) else value


@dataclass(frozen=True)
class VoiceConfig:
    """What the engine uses of a Piper ``.onnx.json``."""

    name: str
    sample_rate: int
    espeak_voice: str
    phoneme_id_map: dict[str, list[int]]
    noise_scale: float
    length_scale: float
    noise_w: float
    num_speakers: int


def find_model(settings: OnnxSettings) -> tuple[Path, Path]:
    """The model and config files of the folder, or :class:`ModelError` saying what is wrong."""
    folder = settings.model_dir
    if folder is None:
        raise ModelError("HUB_ONNX_MODEL_DIR is not set")
    if not folder.is_dir():
        raise ModelError(f"voice model folder {folder} does not exist (HUB_ONNX_MODEL_DIR)")
    if settings.model:
        models = [folder / settings.model]
        if not models[0].is_file():
            raise ModelError(f"voice model {models[0]} does not exist (HUB_ONNX_MODEL)")
    else:
        models = sorted(folder.glob("*.onnx"))
        if not models:
            raise ModelError(f"voice model folder {folder} holds no .onnx file")
        if len(models) > 1:
            raise ModelError(f"voice model folder {folder} holds {len(models)} .onnx files; "
                             f"name one with HUB_ONNX_MODEL ({', '.join(m.name for m in models)})")
    model = models[0]
    config = model.with_name(model.name + ".json")
    if not config.is_file():
        raise ModelError(f"voice model {model.name} has no {config.name} beside it in {folder}")
    return model, config


def read_config(path: Path, name: str) -> VoiceConfig:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"voice config {path} cannot be read: {exc}") from None
    try:
        id_map = data["phoneme_id_map"]
        rate = int(data["audio"]["sample_rate"])
        inference = data.get("inference") or {}
        config = VoiceConfig(
            name=name,
            sample_rate=rate,
            espeak_voice=str((data.get("espeak") or {}).get("voice") or "vi"),
            phoneme_id_map={str(k): [int(i) for i in v] for k, v in id_map.items()},
            noise_scale=float(inference.get("noise_scale", 0.667)),
            length_scale=float(inference.get("length_scale", 1.0)),
            noise_w=float(inference.get("noise_w", 0.8)),
            num_speakers=int(data.get("num_speakers", 1)),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"voice config {path} is not a Piper voice config ({type(exc).__name__}: {exc})") from None
    if data.get("phoneme_type", "espeak") != "espeak":
        raise ModelError(f"voice config {path}: phoneme_type {data.get('phoneme_type')!r} is not supported (only espeak)")
    if not 8000 <= rate <= 48000:
        raise ModelError(f"voice config {path}: sample rate {rate} is outside 8000-48000 Hz")
    missing = [s for s in (BOS, EOS, PAD) if s not in config.phoneme_id_map]
    if missing:
        raise ModelError(f"voice config {path}: phoneme_id_map lacks {' '.join(missing)}")
    return config


def to_int16(audio: Any) -> bytes:
    """Float audio to 16-bit PCM, scaled to full range as Piper's runner does."""
    import numpy as np

    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    if samples.size == 0 or not np.all(np.isfinite(samples)):
        raise TTSError("the voice model gave no usable audio (empty or not finite)")
    peak = float(np.max(np.abs(samples)))
    if peak < 1e-4:
        raise TTSError("the voice model gave silence")
    scaled = samples * (32767.0 / max(0.01, peak))
    return np.clip(scaled, -32767, 32767).astype("<i2").tobytes()


class OnnxEngine:
    """One installed Piper voice. The folder and config are checked when the engine is made (a clear
    error in the log, then unavailable); the ONNX session is opened on first use, once."""

    name = "onnx"

    def __init__(self, settings: OnnxSettings | None = None) -> None:
        self.settings = settings or OnnxSettings()
        self.problem: str | None = None
        self.model_path: Path | None = None
        self.config: VoiceConfig | None = None
        self._session: Any = None
        self._lock = threading.Lock()
        self.version = f"onnx voice none (hub_tts_onnx {PLUGIN_VERSION})"
        if self.settings.model_dir is None:
            self.problem = "no voice model installed (HUB_ONNX_MODEL_DIR is not set)"
            return
        try:
            self.model_path, config_path = find_model(self.settings)
            self.config = read_config(config_path, self.model_path.stem)
            stat = self.model_path.stat()
            # The model's name and size, so installing another model re-renders rather than mixing.
            self.version = f"onnx voice {self.config.name} {stat.st_size} (hub_tts_onnx {PLUGIN_VERSION})"
        except ModelError as exc:
            self.problem = str(exc)
            log.error("local neural voice disabled: %s", exc)

    def available(self) -> bool:
        if self.problem is not None:
            return False
        try:
            self._open()
        except TTSError:
            return False
        return shutil.which(self.settings.espeak_binary) is not None

    def _open(self) -> Any:
        with self._lock:
            if self._session is not None:
                return self._session
            if self.problem is not None:
                raise TTSError(self.problem)
            try:
                import onnxruntime
            except ImportError:
                self.problem = "onnxruntime is not installed (pip install 'grassroots-hub[onnx-voice]')"
                log.error("local neural voice disabled: %s", self.problem)
                raise TTSError(self.problem) from None
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.settings.threads
            options.inter_op_num_threads = 1
            try:
                session = onnxruntime.InferenceSession(str(self.model_path), sess_options=options,
                                                       providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own exception types for a bad file
                self.problem = f"voice model {self.model_path} cannot be loaded: {exc}"
                log.error("local neural voice disabled: %s", self.problem)
                raise TTSError(self.problem) from None
            inputs = {i.name for i in session.get_inputs()}
            lacking = [name for name in REQUIRED_INPUTS if name not in inputs]
            if lacking:
                self.problem = (f"voice model {self.model_path} is not a Piper/VITS model: it lacks the "
                                f"input(s) {', '.join(lacking)} (has {', '.join(sorted(inputs))})")
                log.error("local neural voice disabled: %s", self.problem)
                raise TTSError(self.problem)
            self._session = session
            return session

    # --- text → phonemes → ids -------------------------------------------------------------

    def phonemes(self, text: str) -> list[str]:
        """espeak-ng's IPA for ``text``, one codepoint per phoneme (NFD), clauses joined."""
        assert self.config is not None
        try:
            done = subprocess.run(
                [self.settings.espeak_binary, "-q", "--ipa", "-b", "1", "-v", self.config.espeak_voice, "--stdin"],
                input=text.encode("utf-8"), capture_output=True, timeout=self.settings.timeout_s, check=False,
            )
        except FileNotFoundError:
            raise TTSError(f"{self.settings.espeak_binary} is not installed (the voice needs it for phonemes)") from None
        except subprocess.TimeoutExpired:
            raise TTSError(f"phonemising took longer than {self.settings.timeout_s:g}s") from None
        if done.returncode != 0:
            raise TTSError(f"espeak-ng failed: {done.stderr.decode('utf-8', 'replace').strip()[:200]}")
        clauses = [line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip()]
        pause = "," if "," in self.config.phoneme_id_map else " "
        return list(unicodedata.normalize("NFD", f"{pause} ".join(clauses)))

    def ids(self, phonemes: list[str]) -> list[int]:
        assert self.config is not None
        id_map = self.config.phoneme_id_map
        out = list(id_map[BOS])
        unknown = set()
        for phoneme in phonemes:
            if phoneme not in id_map:
                unknown.add(phoneme)
                continue
            out.extend(id_map[phoneme])
            out.extend(id_map[PAD])
        out.extend(id_map[EOS])
        if unknown:
            log.warning("voice %s has no id for phoneme(s) %s; skipped", self.config.name, " ".join(sorted(unknown)))
        return out

    # --- synthesis ---------------------------------------------------------------------------

    def synthesize(self, text: str, *, voice: str | None, speed: float) -> SynthesisResult:
        if voice and voice.strip().lower().split("-")[0] != "vi" and (self.config is None or voice != self.config.name):
            raise TTSError(f"the installed voice speaks Vietnamese, not voice {voice!r}")
        if not any(ch.isalnum() for ch in text):
            raise TTSError("nothing to speak")
        session = self._open()
        assert self.config is not None
        ids = self.ids(self.phonemes(text))
        if len(ids) <= len(self.config.phoneme_id_map[BOS]) + len(self.config.phoneme_id_map[EOS]):
            raise TTSError("none of the text's phonemes is known to the voice model")
        import numpy as np

        feeds: dict[str, Any] = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([self.config.noise_scale, self.config.length_scale / max(0.25, speed),
                                self.config.noise_w], dtype=np.float32),
        }
        if "sid" in {i.name for i in session.get_inputs()}:
            feeds["sid"] = np.array([self.settings.speaker or 0], dtype=np.int64)
        try:
            audio = session.run(None, feeds)[0]
        except Exception as exc:  # onnxruntime's own error types
            raise TTSError(f"the voice model failed: {exc}") from None
        pcm = to_int16(audio)
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.config.sample_rate)
            wav.writeframes(pcm)
        return SynthesisResult(audio=buffer.getvalue(), format="wav", voice=self.config.name)
