"""Test plugins that stand in for the slow real renderers: real media, made quickly."""

from __future__ import annotations

import functools
import io
import subprocess

from hub import hookimpl
from hub.plugin_types import RenderedMedia, Renderer


@functools.cache
def tone_mp3(seconds: float = 2.0, freq: int = 440) -> bytes:
    """A real MP3 (sine tone) made by ffmpeg."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency={freq}:duration={seconds}",
         "-ac", "1", "-ar", "22050", "-b:a", "64k", "-f", "mp3", "-"],
        check=True, capture_output=True).stdout


@functools.cache
def slide_png(color: str = "navy") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (192, 108), color).save(buffer, "PNG")
    return buffer.getvalue()


class QuickMedia:
    """Audio (a tone whose pitch depends on the bulletin) and one slide for every bulletin."""

    def __init__(self, seconds: float = 2.0) -> None:
        self.seconds = seconds

    @hookimpl
    def hub_register_renderers(self):
        return [
            Renderer(name="quick-audio", channel="speaker", extra_channels=("web",), render=self.audio),
            Renderer(name="quick-slides", channel="display", render=self.slides),
        ]

    def audio(self, ctx):
        freq = 300 + int(ctx.bulletin.content_hash[:4], 16) % 600
        return [RenderedMedia(kind="audio", mime="audio/mpeg", data=tone_mp3(self.seconds, freq),
                              meta={"duration_s": self.seconds, "engine": "tone", "voice": "none"})]

    def slides(self, ctx):
        color = "darkred" if ctx.bulletin.priority == "emergency" else "navy"
        return [RenderedMedia(kind="slide", mime="image/png", data=slide_png(color),
                              meta={"orientation": "landscape", "page": 1, "pages": 1, "duration_s": 5})]
