"""FPT.AI's Vietnamese cloud voices (northern, central, southern speakers), with timeouts, retries
and a circuit breaker; the key comes from ``HUB_FPT_API_KEY``. See docs/voices.md, "FPT.AI"."""

from __future__ import annotations

from hub import hookimpl

from .engine import PLUGIN_VERSION, VOICES, FPTEngine, FPTSettings, fpt_speed

__all__ = ["FPTEngine", "FPTSettings", "PLUGIN_VERSION", "VOICES", "fpt_speed", "hub_register_tts_engines"]


@hookimpl
def hub_register_tts_engines() -> list[FPTEngine]:
    # Reads HUB_FPT_* only; nothing talks to FPT.AI until the pipeline asks for speech.
    return [FPTEngine(FPTSettings())]
