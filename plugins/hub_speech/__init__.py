"""Speech renderer: bulletin text (or an uploaded recording) to a broadcast-ready MP3.

Text goes through every registered normaliser step, then the TTS engine chain
(``HUB_TTS_ENGINES``, by default gtts then espeak, falling through on failure), then mastering to
EBU R128 (−16 LUFS, ≤ −1.5 dBTP) with a synthesised chime. Settings: ``HUB_SPEECH_*``
(:class:`SpeechSettings`; the former names ``HUB_AUDIO_*`` still work, with a warning).
"""

from __future__ import annotations

from typing import Any

from hub import hookimpl
from hub.plugin_types import Renderer
from hub_speech.audio import MASTERING_VERSION, SpeechSettings
from hub_speech.chain import DEFAULT_ENGINES, SpeechUnavailable, normalize_text
from hub_speech.renderer import process_upload, render, synthesize_to_mp3

__version__ = "1.0.0"
__all__ = [
    "DEFAULT_ENGINES", "SpeechSettings", "SpeechUnavailable", "normalize_text", "process_upload", "render",
    "synthesize_to_mp3",
]


@hookimpl
def hub_register_routes() -> list:
    from hub_speech.routes import build_router

    return [build_router()]


@hookimpl
def hub_register_commands(subparsers) -> None:
    p = subparsers.add_parser("say", help="speak a text as the hub would (check pronunciation before approving)",
                              description="Print the normalised text and write the finished MP3.")
    p.add_argument("text", help="Vietnamese text, or - to read standard input")
    p.add_argument("-o", "--output", default="say.mp3", help="MP3 file to write (default: say.mp3)")
    p.add_argument("--voice", help="e.g. vi, vi-VN-x-central, vi-VN-x-south")
    p.set_defaults(func=_say)


def _say(args, settings) -> int:
    import json
    import sys
    from pathlib import Path

    from hub.plugin_api import plugin_hooks

    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        media = synthesize_to_mp3(plugin_hooks(settings), settings, text, voice=args.voice)
    except SpeechUnavailable as exc:
        print(f"hub say: {exc}", file=sys.stderr)
        return 1
    Path(args.output).write_bytes(media.data)
    shown = {**media.meta, "duration_s": media.duration_s}
    print(json.dumps({"output": args.output, **{k: shown.get(k) for k in (
        "spoken_text", "engine", "voice", "fallback", "duration_s", "loudness_lufs", "true_peak_dbtp")}},
        ensure_ascii=False))
    return 0


@hookimpl
def hub_register_renderers(settings: Any) -> list[Renderer]:
    # Speech also feeds the web channel: feeds carry the MP3 as their enclosure.
    return [Renderer(name="speech", channel="speaker", render=render, version=MASTERING_VERSION, extra_channels=("web",))]
