"""A local stand-in for FPT.AI's Text to Speech API v5, for tests: ``with FakeFPT() as fpt``.

Shaped as FPT.AI's documentation shows (https://docs.fpt.ai/docs/en/speech/api/text-to-speech):
``POST /hmi/tts/v5`` with the text as the body and the headers ``api-key``, ``voice``, ``speed``
and ``format`` answers ``{"async": <link>, "error": 0, "message": "The content will be returned
after a few seconds under the async link.", "request_id": …}``; the link answers 404 until the
audio is "ready" (after ``not_ready`` looks), then the MP3.

Modes for the POST (``mode=``, or ``script=[...]`` for the next requests in turn): ``ok``,
``401`` (wrong key: any key other than ``key``), ``429``, ``500``, ``503``, ``hang``,
``error`` (200 with a non-zero ``error``). ``audio_mode``: ``ok``, ``empty`` (200 with no bytes),
``html`` (200 with a page that is not audio), ``never`` (404 for ever).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterable

from tests.plugins.fake_gtts import make_mp3

PATH = "/hmi/tts/v5"
MODES = ("ok", "401", "429", "500", "503", "hang", "error")
AUDIO_MODES = ("ok", "empty", "html", "never")


@dataclass(frozen=True)
class Asked:
    """One synthesis request the fake got."""

    text: str
    voice: str | None
    speed: str | None
    format: str | None
    api_key: str | None
    answered: str


class FakeFPT:
    """A threaded HTTP server on 127.0.0.1 on a free port, for as long as the ``with`` block."""

    def __init__(self, mode: str = "ok", *, key: str = "test-key", script: Iterable[str] = (),
                 audio_mode: str = "ok", not_ready: int = 1, audio: bytes | None = None,
                 hang_s: float = 30.0) -> None:
        if mode not in MODES or audio_mode not in AUDIO_MODES:
            raise ValueError(f"unknown mode {mode!r} / {audio_mode!r}")
        self.mode, self.key, self.audio_mode, self.not_ready = mode, key, audio_mode, not_ready
        self._script: deque[str] = deque(script)
        self._audio = audio
        self.hang_s = hang_s
        self.asked: list[Asked] = []
        self.fetches: list[tuple[str, int]] = []
        self._looks: dict[str, int] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{PATH}"

    @property
    def texts(self) -> list[str]:
        return [a.text for a in self.asked]

    def audio(self) -> bytes:
        return self._audio if self._audio is not None else make_mp3(0.4)

    def __enter__(self) -> "FakeFPT":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                text = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                with fake._lock:
                    mode = fake._script.popleft() if fake._script else fake.mode
                    if mode == "ok" and self.headers.get("api-key") != fake.key:
                        mode = "401"
                    fake.asked.append(Asked(text, self.headers.get("voice"), self.headers.get("speed"),
                                            self.headers.get("format"), self.headers.get("api-key"), mode))
                if self.path != PATH:
                    return self._json(404, {"message": "not found"})
                if mode == "hang":
                    fake._release.wait(fake.hang_s)
                    return
                if mode == "401":
                    return self._json(401, {"message": "Invalid API key"})
                if mode in ("429", "500", "503"):
                    return self._json(int(mode), {"message": "busy"})
                if mode == "error":
                    return self._json(200, {"error": 1, "message": "text too short", "request_id": str(uuid.uuid4())})
                token = uuid.uuid4().hex
                host = self.headers.get("Host")
                self._json(200, {
                    "async": f"http://{host}/text2speech-v5/short/{token}.mp3", "error": 0,
                    "message": "The content will be returned after a few seconds under the async link.",
                    "request_id": str(uuid.uuid4()),
                })

            def do_GET(self) -> None:
                with fake._lock:
                    looks = fake._looks[self.path] = fake._looks.get(self.path, 0) + 1
                    ready = fake.audio_mode != "never" and looks > fake.not_ready
                    fake.fetches.append((self.path, 200 if ready else 404))
                if not ready:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = {"ok": fake.audio(), "empty": b"", "html": b"<html>login</html>"}[fake.audio_mode]
                self.send_response(200)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        self._release.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
