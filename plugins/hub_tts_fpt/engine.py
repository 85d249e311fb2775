"""FPT.AI's Vietnamese cloud voices (Text to Speech API v5) as a TTSEngine.

Written from FPT.AI's published API documentation, "FPT.AI Speech - Text to Speech", API version 5
(https://docs.fpt.ai/docs/en/speech/api/text-to-speech): ``POST https://api.fpt.ai/hmi/tts/v5``
with the text as the body (3 to 5,000 characters) and the headers ``api-key``, ``voice``,
``speed`` (-3 … +3) and ``format``; the answer is JSON ``{"async": <link>, "error": 0, "message":
…, "request_id": …}`` and the audio appears at the link after "5 seconds to 2 minutes", so the
link is fetched until it answers with audio. See docs/voices.md, "FPT.AI".
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import requests
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.plugin_api import CircuitBreaker, Retryable, looks_like_mp3, retry_after, with_retries
from hub.plugin_types import SynthesisResult, TTSError

log = logging.getLogger(__name__)

#: Bump when request shaping changes the audio for the same text (part of the cache key).
PLUGIN_VERSION = "1"
API_VERSION = "v5"
ENDPOINT = "https://api.fpt.ai/hmi/tts/v5"
#: FPT.AI's limits per request (API v5 documentation, "Request Body").
MIN_CHARS, MAX_CHARS = 3, 5_000

#: FPT.AI's v5 voices and the region each speaks for (the documentation's list).
VOICES: dict[str, str] = {
    "banmai": "north", "thuminh": "north", "leminh": "north",
    "myan": "central", "giahuy": "central",
    "lannhi": "south", "linhsan": "south",
}
#: The hub's voice names (the espeak voices name the regions) → a region.
HUB_VOICE_REGIONS: dict[str, str] = {
    "vi": "north", "vi-vn": "north", "vi-vn-x-north": "north", "north": "north",
    "vi-vn-x-central": "central", "central": "central",
    "vi-vn-x-south": "south", "south": "south",
}


class FPTSettings(BaseSettings):
    """``HUB_FPT_*``: the FPT.AI voice, its key, and how hard to try reaching it."""

    model_config = SettingsConfigDict(env_prefix="HUB_FPT_", extra="ignore")

    #: The API key from console.fpt.ai; without one the engine is unavailable.
    api_key: SecretStr | None = None
    #: The endpoint (a relay, or a local fake in tests).
    url: str = ENDPOINT
    #: FPT.AI voice for each region; a commune's voice picks the region.
    voice_north: str = "banmai"
    voice_central: str = "myan"
    voice_south: str = "lannhi"
    #: Seconds to connect, and seconds of silence while reading, per request.
    timeout_s: float = Field(default=10.0, gt=0)
    #: Upper bound on one whole synthesis: the request, its retries and waiting for the audio.
    deadline_s: float = Field(default=45.0, gt=0)
    #: Extra attempts after a 429, a 5xx, a timeout or a failed connection.
    retries: int = Field(default=3, ge=0)
    backoff_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=8.0, ge=0)
    #: Seconds between looks at the async link while the audio is not there yet.
    poll_s: float = Field(default=1.0, gt=0)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_cooldown_s: float = Field(default=300.0, ge=0)
    #: "mp3" or "wav" (the API's two formats).
    format: str = Field(default="mp3", pattern="^(mp3|wav)$")

    @field_validator("api_key")
    @classmethod
    def _blank_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("voice_north", "voice_central", "voice_south")
    @classmethod
    def _known_voice(cls, value: str) -> str:
        if value not in VOICES:
            raise ValueError(f"unknown FPT.AI voice {value!r}; one of {', '.join(VOICES)}")
        return value

    def voice_for(self, voice: str | None) -> str:
        """The FPT.AI voice for a hub voice name (a region), or an FPT.AI voice named directly."""
        name = (voice or "vi").strip().lower()
        if name in VOICES:
            return name
        region = HUB_VOICE_REGIONS.get(name)
        if region is None:
            raise TTSError(f"FPT.AI has no voice for {voice!r} (use vi, vi-VN-x-central, vi-VN-x-south or one of {', '.join(VOICES)})")
        return {"north": self.voice_north, "central": self.voice_central, "south": self.voice_south}[region]


def fpt_speed(speed: float) -> int:
    """The hub's speed (1.0 normal) as FPT.AI's -3 … +3 steps, one step per 10 %."""
    return max(-3, min(3, round((speed - 1.0) * 10)))


class FPTEngine:
    """FPT.AI's voices; one breaker per engine object, shared by every thread."""

    name = "fpt"

    def __init__(self, settings: FPTSettings | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings or FPTSettings()
        self.breaker = CircuitBreaker(self.settings.breaker_failures, self.settings.breaker_cooldown_s, clock=clock)
        self._sleep = sleep
        self.version = f"FPT.AI TTS {API_VERSION} (hub_tts_fpt {PLUGIN_VERSION})"

    def available(self) -> bool:
        return self.settings.api_key is not None and self.breaker.allows()

    def synthesize(self, text: str, *, voice: str | None, speed: float) -> SynthesisResult:
        # Bad input says nothing about FPT.AI's health: it fails before the breaker is asked.
        if self.settings.api_key is None:
            raise TTSError("FPT.AI needs HUB_FPT_API_KEY")
        fpt_voice = self.settings.voice_for(voice)
        text = " ".join(text.split())
        if len(text) < MIN_CHARS or not any(ch.isalnum() for ch in text):
            raise TTSError(f"FPT.AI needs at least {MIN_CHARS} characters to speak")
        if len(text) > MAX_CHARS:
            raise TTSError(f"FPT.AI takes at most {MAX_CHARS} characters per request (got {len(text)})")
        if not self.breaker.acquire():
            raise TTSError("FPT.AI is resting after repeated failures (circuit breaker open)")
        verdict = False
        try:
            audio = self._fetch(text, fpt_voice, fpt_speed(speed))
            self.breaker.success()
            verdict = True
        except TTSError:
            self.breaker.failure()
            verdict = True
            raise
        finally:
            if not verdict:
                self.breaker.release()
        return SynthesisResult(audio=audio, format=self.settings.format, voice=fpt_voice)

    # --- HTTP -------------------------------------------------------------------------------

    def _fetch(self, text: str, voice: str, speed: int) -> bytes:
        deadline = time.monotonic() + self.settings.deadline_s
        with requests.Session() as session:
            cfg = self.settings
            link = with_retries(lambda timeout: self._ask(session, text, voice, speed, timeout), what="FPT.AI",
                                retries=cfg.retries, deadline=deadline, timeout_s=cfg.timeout_s, backoff_s=cfg.backoff_s,
                                backoff_max_s=cfg.backoff_max_s, deadline_s=cfg.deadline_s, error=TTSError,
                                sleep=self._sleep)
            return self._collect(session, link, deadline)

    def _ask(self, session: requests.Session, text: str, voice: str, speed: int, timeout: float) -> str:
        assert self.settings.api_key is not None
        headers = {
            "api-key": self.settings.api_key.get_secret_value(),
            "voice": voice,
            "speed": str(speed),
            "format": self.settings.format,
            "Content-Type": "text/plain; charset=utf-8",
            "Cache-Control": "no-cache",
        }
        response = _send(session, "POST", self.settings.url, timeout, data=text.encode("utf-8"), headers=headers)
        status = response.status_code
        if status in (401, 403):
            raise TTSError(f"FPT.AI refused the API key (HTTP {status}; check HUB_FPT_API_KEY)")
        if status != 200:
            raise TTSError(f"HTTP {status} from FPT.AI: {_message(response)}")
        try:
            answer = response.json()
        except ValueError:
            raise TTSError("FPT.AI answered 200 with something that is not JSON") from None
        if not isinstance(answer, dict) or answer.get("error") not in (0, "0"):
            detail = answer.get("message") if isinstance(answer, dict) else answer
            raise TTSError(f"FPT.AI reported an error: {detail}")
        link = answer.get("async")
        if not isinstance(link, str) or not link.startswith(("http://", "https://")):
            raise TTSError("FPT.AI answered without an audio link")
        return link

    def _collect(self, session: requests.Session, link: str, deadline: float) -> bytes:
        """Fetch the async link until the audio is there (404/403 until it is), within the deadline."""
        failures = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TTSError(f"FPT.AI's audio was not ready within {self.settings.deadline_s:g}s")
            try:
                response = _send(session, "GET", link, min(self.settings.timeout_s, remaining))
                if response.status_code == 200:
                    return self._audio(response.content)
                # Storage answers 404 (or 403) until the audio is written; anything else is wrong.
                if response.status_code not in (403, 404):
                    raise TTSError(f"HTTP {response.status_code} fetching FPT.AI's audio")
            except Retryable as exc:
                failures += 1
                log.info("fpt: fetching the audio: %s", exc)
            if failures > self.settings.retries:
                raise TTSError(f"FPT.AI's audio link kept failing ({failures} times)")
            self._sleep(min(self.settings.poll_s, max(0.0, deadline - time.monotonic())))

    def _audio(self, data: bytes) -> bytes:
        ok = looks_like_mp3(data) if self.settings.format == "mp3" else (data[:4] == b"RIFF" and len(data) > 44)
        if not ok:
            raise TTSError(f"FPT.AI's link gave {len(data)} bytes that are not {self.settings.format.upper()} audio")
        return data


def _send(session: requests.Session, method: str, url: str, timeout: float, **kwargs) -> requests.Response:
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        raise Retryable(f"no answer within {timeout:g}s") from exc
    except requests.ConnectionError as exc:
        raise Retryable(f"cannot connect to {url}: {exc}") from exc
    except requests.RequestException as exc:
        raise TTSError(f"FPT.AI request failed: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise Retryable(f"HTTP {response.status_code} from FPT.AI", retry_after(response.headers))
    return response


def _message(response: requests.Response) -> str:
    try:
        answer = response.json()
        return str(answer.get("message", answer)) if isinstance(answer, dict) else str(answer)
    except ValueError:
        return response.text[:200]
