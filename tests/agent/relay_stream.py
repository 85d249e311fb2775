"""A radio station for the relay tests: an ffmpeg-made MP3 streamed over HTTP on 127.0.0.1 at its
real pace, which can be told to cut its listeners and refuse new ones for a while."""

from __future__ import annotations

import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

#: 32 kbit/s: 4,000 bytes a second of audio.
BITRATE = 32_000
CHUNK_S = 0.1


def tone_mp3(seconds: float) -> bytes:
    """A real MP3 of a 440 Hz tone, made by ffmpeg."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={seconds}",
         "-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3", "-"],
        capture_output=True, check=True).stdout


class Station:
    """``url`` streams the MP3 from its start to each listener, paced to real time, looping."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.audio = tone_mp3(seconds)
        self.connections = 0
        #: The Host header of every request, refused ones too.
        self.hosts: list[str | None] = []
        #: When (time.time()) each listener was let in.
        self.connected_at: list[float] = []
        self._down_until = 0.0
        self._cut = threading.Event()
        station = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                station.hosts.append(self.headers.get("Host"))
                if time.monotonic() < station._down_until:
                    self.send_error(503, "off the air")
                    return
                station.connections += 1
                station.connected_at.append(time.time())
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                step = int(BITRATE / 8 * CHUNK_S)
                position, next_at = 0, time.monotonic()
                try:
                    while not station._cut.is_set():
                        chunk = station.audio[position:position + step]
                        if not chunk:
                            position = 0
                            continue
                        self.wfile.write(chunk)
                        position += step
                        next_at += CHUNK_S
                        time.sleep(max(0.0, next_at - time.monotonic()))
                except OSError:
                    pass  # the listener went away

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/vov1.mp3"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "Station":
        self._thread.start()
        return self

    def cut(self, down_s: float) -> None:
        """Drop every listener now and answer 503 for ``down_s`` seconds."""
        self._down_until = time.monotonic() + down_s
        self._cut.set()
        time.sleep(0.3)
        self._cut.clear()

    def stop(self) -> None:
        self._cut.set()
        self.server.shutdown()
        self.server.server_close()


def recorder_command(folder: Path) -> str:
    """A player that records what it hears: ffmpeg copies the stream to a new file per run."""
    folder.mkdir(parents=True, exist_ok=True)
    script = f'exec ffmpeg -nostdin -v error -y -i "$0" -c copy "{folder}/run-$$.mp3"'
    return f"sh -c '{script}'"


def recorded_seconds(folder: Path) -> list[float]:
    """The length of each recording, in the order they were made."""
    lengths = []
    for path in sorted(folder.glob("run-*.mp3"), key=lambda p: p.stat().st_mtime):
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                str(path)], capture_output=True, text=True)
        lengths.append(float(probe.stdout.strip() or 0))
    return lengths


@pytest.fixture(scope="module")
def station():
    """A station of ten seconds of tone for a module's tests (import it as a fixture)."""
    radio = Station(10).start()
    yield radio
    radio.stop()
