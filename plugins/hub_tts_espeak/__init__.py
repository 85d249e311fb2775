"""The offline voice: espeak-ng speaking Vietnamese (northern, central and southern variants)."""

from __future__ import annotations

from hub import hookimpl

from .engine import PLUGIN_VERSION, EspeakEngine, EspeakSettings

__all__ = ["EspeakEngine", "EspeakSettings", "PLUGIN_VERSION", "hub_register_tts_engines"]


@hookimpl
def hub_register_tts_engines() -> list[EspeakEngine]:
    # Only reads HUB_ESPEAK_* here; the binary is looked up and run later, in the pipeline.
    return [EspeakEngine(EspeakSettings())]
