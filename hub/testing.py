"""Helpers for tests and benchmarks that run the hub for real: servers on 127.0.0.1, waiting, quick media.

No pytest here, so ``bench/`` can use them too.
"""

from __future__ import annotations

import functools
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from hub import hookimpl
from hub.plugin_types import RenderedMedia, Renderer

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    An exception counts as "not yet" (a server that is still starting refuses connections); on
    timeout the AssertionError names ``what`` and the last value or exception seen, so a failure
    says what was there, not only what was missing.
    """
    deadline = time.monotonic() + timeout
    while True:
        error: Exception | None = None
        try:
            value = predicate()
        except Exception as exc:
            value, error = None, exc
        else:
            if value:
                return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            last = f"last error: {error!r}" if error else f"last value: {value!r}"
            raise AssertionError(f"timed out after {max(timeout, 0):g} s waiting for {what}; {last}") from error
        time.sleep(min(interval, remaining))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A real ``hub serve`` subprocess on 127.0.0.1; its log goes to ``server-<port>.log`` in the data folder.

    ``cwd`` is where it runs (by default here), so plugins named in HUB_EXTRA_PLUGINS import from there.
    """

    def __init__(self, env: dict[str, str], port: int | None = None, cwd: Path | None = None) -> None:
        self.port = port or free_port()
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        log = open(Path(self.env["HUB_DATA_DIR"]) / f"server-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(self.port), "--log-level", "warning"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd)
        # Stop waiting as soon as it is up or gone: a crash at startup should not cost the whole timeout.
        wait_until(lambda: self.proc.poll() is not None or self._healthy(), timeout, f"hub serve on {self.url}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"hub serve exited with {self.proc.returncode}; see {log.name}")
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class LiveServer:
    """A real uvicorn server for an app, on 127.0.0.1, in a thread of this process.

    One use only; to restart on the same port, make another with ``port=``.
    """

    def __init__(self, app, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A short graceful shutdown: open event streams would otherwise hold the server open.
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float = 30.0) -> "LiveServer":
        self.thread.start()
        wait_until(lambda: self.server.started or not self.thread.is_alive(), timeout, f"uvicorn on {self.url}")
        if not self.server.started:
            raise RuntimeError(f"uvicorn on {self.url} did not start")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise RuntimeError(f"uvicorn on {self.url} did not stop")

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- quick media: real files, made in well under a second, for hubs that need not speak ------------


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
    """A plugin: audio (a tone whose pitch depends on the bulletin) and one slide for every bulletin."""

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
                              meta={"engine": "tone", "voice": "none"}, duration_s=self.seconds)]

    def slides(self, ctx):
        color = "darkred" if ctx.bulletin.priority == "emergency" else "navy"
        return [RenderedMedia(kind="slide", mime="image/png", data=slide_png(color), orientation="landscape",
                              page=1, pages=1, duration_s=5)]
