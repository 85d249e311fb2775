"""A local stand-in for Google Translate's TTS endpoint, for tests: ``with FakeGoogleTTS() as g``.

It answers gTTS 2.5's request (``POST /_/TranslateWebserverUi/data/batchexecute`` with a
form field ``f.req`` holding the ``jQ1olc`` RPC) with the batchexecute answer gTTS parses: a
``)]}'`` guard line, then length-prefixed JSON envelopes, the first of which carries the MP3 as
base64 inside a JSON string. Point the engine at it with ``HUB_GTTS_URL=<fake.url>``.

Modes (``mode=`` for every request, or ``script=[...]`` for the next requests in turn):
``ok``, ``429``, ``500``, ``503``, ``403``, ``hang`` (never answers), ``empty`` (200, no body),
``no-audio`` (200, the envelope Google sends when it has no audio), ``html`` (200, a captive
portal page). Every request is recorded in ``requests`` with the text, language and speed it asked for.
"""

from __future__ import annotations

import base64
import functools
import json
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterable
from urllib.parse import parse_qs

PATH = "/_/TranslateWebserverUi/data/batchexecute"
MODES = ("ok", "429", "500", "503", "403", "hang", "empty", "no-audio", "html")


@functools.lru_cache(maxsize=8)
def make_mp3(seconds: float = 0.3, frequency: int = 440) -> bytes:
    """A real MP3 shaped like Google's (24 kHz mono 32 kbit/s, bare frames, no ID3 or Xing tag)."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi",
         "-i", f"sine=frequency={frequency}:duration={seconds}:sample_rate=24000",
         "-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k",
         "-id3v2_version", "0", "-write_xing", "0", "-f", "mp3", "-"],
        capture_output=True, check=True, timeout=30,
    ).stdout


def batchexecute_answer(audio: bytes | None) -> str:
    """The body Google answers with; ``audio=None`` gives its no-audio envelope."""
    payload = None if audio is None else json.dumps([base64.b64encode(audio).decode("ascii")])
    envelope = [["wrb.fr", "jQ1olc", payload, None, None, [3] if audio is None else None, "generic"],
                ["di", 42], ["af.httprm", 41, "-5432167890123456789", 17]]
    first = json.dumps(envelope, separators=(",", ":"))
    last = json.dumps([["e", 4, None, None, len(first) + 30]], separators=(",", ":"))
    return f")]}}'\n\n{len(first) + 1}\n{first}\n{len(last) + 1}\n{last}\n"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake got, and how it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: str
    text: str | None = None
    lang: str | None = None
    slow: bool | None = None


def _decode_rpc(body: bytes) -> tuple[str | None, str | None, bool | None]:
    try:
        freq = parse_qs(body.decode("utf-8"))["f.req"][0]
        text, lang, speed, _ = json.loads(json.loads(freq)[0][0][1])
        return text, lang, bool(speed)
    except (KeyError, IndexError, ValueError, TypeError):
        return None, None, None


class FakeGoogleTTS:
    """A threaded HTTP server on 127.0.0.1, on a free port, for as long as the ``with`` block."""

    def __init__(self, mode: str = "ok", *, script: Iterable[str] = (), audio: bytes | None = None,
                 retry_after: str | None = None, hang_s: float = 30.0) -> None:
        self.mode = mode
        self._script: deque[str] = deque()
        self.queue(*script)
        self._audio = audio
        self.retry_after = retry_after
        self.hang_s = hang_s
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control ----------------------------------------------------------------------------

    def queue(self, *modes: str) -> None:
        """Answer the next requests with these modes, then fall back to ``mode``."""
        for mode in (self.mode, *modes):
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        self._script.extend(modes)

    @property
    def audio(self) -> bytes:
        if self._audio is None:
            self._audio = make_mp3()
        return self._audio

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The batchexecute endpoint, for ``HUB_GTTS_URL``."""
        return self.base_url + PATH

    @property
    def texts(self) -> list[str | None]:
        with self._lock:
            return [r.text for r in self.requests]

    def start(self) -> "FakeGoogleTTS":
        self.audio  # make the MP3 before the first request, outside any client timeout
        self._release.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll keeps stop() quick; the default half second adds up over many tests.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        name="fake-gtts", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # lets hanging handlers go
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeGoogleTTS":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving ----------------------------------------------------------------------------

    def _next_mode(self) -> str:
        with self._lock:
            return self._script.popleft() if self._script else self.mode

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                self._reply(404, b"not found", "text/plain")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = fake._next_mode() if self.path.split("?")[0] == PATH else "404"
                text, lang, slow = _decode_rpc(body)
                fake._record(RecordedRequest("POST", self.path, dict(self.headers), body, mode,
                                             text, lang, slow))
                if mode == "hang":
                    fake._release.wait(fake.hang_s)
                    self.close_connection = True
                    return
                if mode == "ok":
                    self._reply(200, batchexecute_answer(fake.audio).encode(), "application/json")
                elif mode == "no-audio":
                    self._reply(200, batchexecute_answer(None).encode(), "application/json")
                elif mode == "empty":
                    self._reply(200, b"", "application/json")
                elif mode == "html":
                    self._reply(200, b"<html><body>Dang nhap Wi-Fi</body></html>", "text/html")
                else:
                    headers = {"Retry-After": fake.retry_after} if mode == "429" and fake.retry_after else {}
                    self._reply(int(mode), b"error", "text/html", headers)

            def _reply(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype + "; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler
