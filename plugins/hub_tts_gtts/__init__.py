"""Google's Vietnamese voice through gTTS, hardened: timeouts, retries, a circuit breaker, clean cuts."""

from __future__ import annotations

from hub import hookimpl

from .chunking import split_text
from .engine import PLUGIN_VERSION, CircuitBreaker, GTTSEngine, GTTSSettings

__all__ = [
    "CircuitBreaker",
    "GTTSEngine",
    "GTTSSettings",
    "PLUGIN_VERSION",
    "hub_register_tts_engines",
    "split_text",
]


@hookimpl
def hub_register_tts_engines() -> list[GTTSEngine]:
    # Only reads HUB_GTTS_* here; nothing talks to Google until the pipeline asks for speech.
    return [GTTSEngine(GTTSSettings())]
