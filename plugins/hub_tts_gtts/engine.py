"""gTTS as a TTSEngine that a flaky or absent internet connection cannot hang or half-finish.

gTTS builds each request (the batchexecute RPC body and headers); this module sends it. It does
not call ``gTTS.stream()`` because that sends with TLS verification switched off
(``verify=False``), offers no status code to decide on a retry, and hides timeouts and refused
connections behind one exception. The response is parsed the way ``gTTS.stream()`` parses it.
"""

from __future__ import annotations

import base64
import binascii
import importlib.metadata
import logging
import re
import time
from typing import Callable

import requests
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.plugin_api import CircuitBreaker, Retryable, looks_like_mp3, retry_after, with_retries
from hub.plugin_types import SynthesisResult, TTSError

from .chunking import MAX_CHARS, split_text

log = logging.getLogger(__name__)

#: Bump when chunking or request shaping changes the audio for the same text (cache key).
PLUGIN_VERSION = "1"

#: The path gTTS 2.5 posts to on ``https://translate.google.<tld>/``.
BATCHEXECUTE_PATH = "_/TranslateWebserverUi/data/batchexecute"
RPC_ID = "jQ1olc"
# The same pattern gTTS.stream() applies to each response line.
_AUDIO_RE = re.compile(r'jQ1olc","\[\\"(.*)\\"]')


class GTTSSettings(BaseSettings):
    """``HUB_GTTS_*``: Google's voice and how hard to try reaching it."""

    model_config = SettingsConfigDict(env_prefix="HUB_GTTS_", extra="ignore")

    #: Google host ``translate.google.<tld>``; some networks reach ``com.vn`` when ``com`` is blocked.
    tld: str = "com"
    #: Full batchexecute endpoint; overrides ``tld`` (a local fake in tests, a relay offline).
    url: str | None = None
    #: Seconds to connect, and seconds of silence while reading, per request.
    timeout_s: float = Field(default=10.0, gt=0)
    #: Upper bound on one whole synthesis (every chunk and retry); keep under HUB_JOB_LEASE_S.
    deadline_s: float = Field(default=45.0, gt=0)
    #: Extra attempts per chunk after a 429, a 5xx, a timeout or a failed connection.
    retries: int = Field(default=3, ge=0)
    #: First retry delay; doubled each attempt, capped at backoff_max_s, then jittered to 50-100 %.
    backoff_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=8.0, ge=0)
    #: Consecutive failed syntheses that open the breaker (available() turns false).
    breaker_failures: int = Field(default=3, ge=1)
    #: How long the breaker stays open before one trial request may close it again.
    breaker_cooldown_s: float = Field(default=300.0, ge=0)
    #: Speeds below this use Google's slow reading; Google has no other rate control.
    slow_below: float = Field(default=0.8, gt=0)
    #: Characters per request; Google refuses more than 100.
    max_chars: int = Field(default=MAX_CHARS, ge=20, le=MAX_CHARS)

    @field_validator("url")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip()

    @property
    def endpoint(self) -> str:
        return self.url or f"https://translate.google.{self.tld}/{BATCHEXECUTE_PATH}"


class GTTSEngine:
    """Google Translate's Vietnamese voice; one breaker per engine object, shared by all threads."""

    name = "gtts"

    def __init__(
        self,
        settings: GTTSSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or GTTSSettings()
        self.breaker = CircuitBreaker(
            self.settings.breaker_failures, self.settings.breaker_cooldown_s, clock=clock
        )
        self._sleep = sleep
        try:
            upstream = importlib.metadata.version("gTTS")
        except importlib.metadata.PackageNotFoundError:
            upstream = "missing"
        self.version = f"gTTS {upstream} (hub_tts_gtts {PLUGIN_VERSION})"

    def available(self) -> bool:
        return self.breaker.allows()

    def chunks(self, text: str) -> list[str]:
        """The requests this text becomes; chunks with nothing to pronounce are left out."""
        return [c for c in split_text(text, self.settings.max_chars) if any(ch.isalnum() for ch in c)]

    def synthesize(self, text: str, *, voice: str | None, speed: float) -> SynthesisResult:
        # Google has one Vietnamese voice: a regional espeak name still gets it, and says so.
        if voice and voice.strip().lower().split("-")[0] != "vi":
            raise TTSError(f"gTTS speaks only Vietnamese here, not voice {voice!r}")
        chunks = self.chunks(text)
        if not chunks:
            raise TTSError("nothing to speak")
        if not self.breaker.acquire():
            raise TTSError("gTTS is resting after repeated failures (circuit breaker open)")
        verdict = False
        try:
            audio = self._fetch_all(chunks, slow=speed < self.settings.slow_below)
            self.breaker.success()
            verdict = True
        except TTSError:
            self.breaker.failure()
            verdict = True
            raise
        finally:
            if not verdict:
                self.breaker.release()
        return SynthesisResult(audio=audio, format="mp3", voice="vi")

    # --- HTTP -------------------------------------------------------------------------------

    def _fetch_all(self, chunks: list[str], *, slow: bool) -> bytes:
        deadline = time.monotonic() + self.settings.deadline_s
        parts: list[bytes] = []
        # One session per synthesis: the chunks reuse a connection, threads share nothing.
        with requests.Session() as session:
            for index, chunk in enumerate(chunks):
                parts.append(self._fetch_chunk(session, chunk, slow=slow, deadline=deadline))
                log.debug("gtts chunk %d/%d: %d bytes", index + 1, len(chunks), len(parts[-1]))
        # MP3 is a sequence of self-contained frames; gTTS itself joins its parts the same way.
        return b"".join(parts)

    def _fetch_chunk(self, session: requests.Session, chunk: str, *, slow: bool, deadline: float) -> bytes:
        body = _request_body(chunk, slow=slow)
        cfg = self.settings
        return with_retries(lambda timeout: self._post(session, body, timeout=timeout), what="gTTS",
                            retries=cfg.retries, deadline=deadline, timeout_s=cfg.timeout_s, backoff_s=cfg.backoff_s,
                            backoff_max_s=cfg.backoff_max_s, deadline_s=cfg.deadline_s, error=TTSError,
                            sleep=self._sleep)

    def _post(self, session: requests.Session, body: str, *, timeout: float) -> bytes:
        try:
            response = session.post(
                self.settings.endpoint, data=body.encode("ascii"), headers=_headers(), timeout=timeout
            )
        except requests.Timeout as exc:
            raise Retryable(f"no answer within {timeout:g}s") from exc
        except requests.ConnectionError as exc:
            raise Retryable(f"cannot connect to {self.settings.endpoint}: {exc}") from exc
        except requests.RequestException as exc:
            raise TTSError(f"gTTS request failed: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise Retryable(f"HTTP {status} from Google", retry_after(response.headers))
        if status != 200:
            raise TTSError(f"HTTP {status} from Google")
        return _audio_from(response.text)


def _request_body(chunk: str, *, slow: bool) -> str:
    """The form body gTTS would post for ``chunk``, with gTTS forbidden to rewrite or re-split it."""
    from gtts import gTTS  # imported here so registering the plugin stays cheap

    tts = gTTS(
        chunk,
        lang="vi",
        slow=slow,
        lang_check=False,  # the check would fetch Google's language list
        pre_processor_funcs=[],  # its English abbreviation rules have no business in Vietnamese
        tokenizer_func=lambda text: [text],  # chunks are already cut; never cut again
    )
    bodies = tts.get_bodies()
    if len(bodies) != 1:
        raise TTSError(f"gTTS turned one chunk into {len(bodies)} requests")
    return bodies[0]


def _headers() -> dict[str, str]:
    from gtts import gTTS

    return dict(gTTS.GOOGLE_TTS_HEADERS)


def _audio_from(payload: str) -> bytes:
    """Pull the MP3 out of a batchexecute answer; anything else (a captive portal, nothing) fails."""
    for line in payload.splitlines():
        if RPC_ID not in line:
            continue
        match = _AUDIO_RE.search(line)
        if not match:
            raise TTSError("Google answered 200 without audio (unsupported text or language?)")
        try:
            audio = base64.b64decode(match.group(1).encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise TTSError("Google's audio was not valid base64") from exc
        if not looks_like_mp3(audio):
            raise TTSError("Google answered 200 with something that is not MP3 audio")
        return audio
    raise TTSError("Google answered 200 without audio")
