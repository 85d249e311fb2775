"""Speech renderer: bulletin text (or an uploaded recording) to a broadcast-ready MP3.

Text goes through every registered normaliser step, then the TTS engine chain
(``HUB_TTS_ENGINES``, falling through on failure), then mastering to EBU R128 (−16 LUFS,
≤ −1.5 dBTP) with a synthesised chime. Settings: ``HUB_AUDIO_*`` (:class:`AudioSettings`).
"""

from __future__ import annotations

from typing import Any

from hub import hookimpl
from hub.plugin_types import Renderer
from hub_speech.audio import MASTERING_VERSION, AudioSettings
from hub_speech.chain import SpeechUnavailable, normalize_text
from hub_speech.renderer import process_upload, render, synthesize_to_mp3

__version__ = "1.0.0"
__all__ = [
    "AudioSettings", "SpeechUnavailable", "normalize_text", "process_upload", "render", "synthesize_to_mp3",
]


@hookimpl
def hub_register_renderers(settings: Any) -> list[Renderer]:
    # Speech also feeds the web channel: feeds carry the MP3 as their enclosure.
    return [Renderer(name="speech", channel="speaker", render=render, version=MASTERING_VERSION, extra_channels=("web",))]
