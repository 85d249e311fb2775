"""Benchmark (issue 15): mouth to loudspeaker for a live broadcast, alone and with 500 listeners.

Starts a real hub (uvicorn on 127.0.0.1, in this process) and a real Icecast 2 (its own config
from deploy/icecast's template, tests/live/icecast.py). The "microphone" is this process: it
writes 48 kHz PCM in real time, 20 ms at a time, into ffmpeg, which makes webm/opus the way a
browser's MediaRecorder does (a cluster every 250 ms), and sends it over the ingest WebSocket
exactly as the console page does. The "loudspeaker" is a listener like an agent's player: ffmpeg
reading the broadcast's Icecast mount with a device token of the commune, decoding to PCM on its
standard output, read as it comes. A beep (1 kHz, 250 ms) goes in every second; the latency of
each is the time from writing its first sample to the first 20 ms of it coming out of the
listener (the k-th beep out is the k-th beep in; a run where the counts differ is reported).

Rounds: ``alone`` (one listener), then ``500`` (the same with 500 more listeners, each a device
of the commune with its own token, connected first: ``--listeners``). Whole-process timings:
wall-clock times of this process.

    .venv/bin/python -m bench.live              # prints figures; the last line is one JSON object
    .venv/bin/python -m bench.live --beeps 20 --listeners 500
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from websockets.sync.client import connect

from hub.accounts import add_commune, add_device, add_user
from hub.config import Settings
from hub.store import migrate

RATE = 48_000
FRAME = RATE // 50  # 20 ms
BEEP_HZ = 1000
OUT_RATE = 8000
OUT_FRAME = OUT_RATE // 50

LOAD_SCRIPT = r"""
import asyncio, base64, hashlib, json, random, sys
port, mount, tokens, spread = int(sys.argv[1]), sys.argv[2], json.load(open(sys.argv[3])), float(sys.argv[4])
connected = 0
async def listen(token):
    global connected
    await asyncio.sleep(random.uniform(0, spread))  # as hub agent does (HUB_AGENT_LIVE_JOIN_SPREAD_S)
    user = "device-" + hashlib.sha256(token.encode()).hexdigest()[:12]
    auth = base64.b64encode(f"{user}:{token}".encode()).decode()
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {mount} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                writer.close(); await asyncio.sleep(0.5); continue
            connected += 1
            while await reader.read(65536):
                pass
            connected -= 1
        except (OSError, asyncio.IncompleteReadError):
            await asyncio.sleep(0.5)
async def main():
    tasks = [asyncio.create_task(listen(t)) for t in tokens]
    while True:
        print(connected, flush=True)
        await asyncio.sleep(0.5)
asyncio.run(main())
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Microphone:
    """Real-time PCM → ffmpeg (webm/opus, 250 ms clusters) → the ingest WebSocket."""

    def __init__(self, ingest_url: str) -> None:
        self.encoder = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", "pipe:0",
             "-c:a", "libopus", "-b:a", "48k", "-application", "lowdelay", "-frame_duration", "20",
             "-f", "webm", "-live", "1", "-cluster_time_limit", "250", "-flush_packets", "1", "pipe:1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.socket = connect(ingest_url, max_size=None)
        self.beeps: list[float] = []
        self.beeping_until = 0.0
        self.stopped = threading.Event()
        self._sender = threading.Thread(target=self._send, daemon=True)
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._pending: list[float] = []

    def start(self) -> "Microphone":
        self._sender.start()
        self._writer.start()
        return self

    def beep_at(self, moments: list[float]) -> None:
        self._pending = sorted(moments)

    def _send(self) -> None:
        assert self.encoder.stdout is not None
        while True:
            chunk = self.encoder.stdout.read1(65536)
            if not chunk:
                return
            try:
                self.socket.send(chunk)
            except Exception:
                return

    def _write(self) -> None:
        assert self.encoder.stdin is not None
        t = np.arange(FRAME) / RATE
        silence = np.zeros(FRAME, dtype=np.int16).tobytes()
        beep_frames = 0
        phase = 0
        next_at = time.monotonic()
        while not self.stopped.is_set():
            now = time.monotonic()
            if self._pending and now >= self._pending[0] and beep_frames == 0:
                self._pending.pop(0)
                self.beeps.append(time.time())
                beep_frames = 13  # 260 ms
            if beep_frames:
                samples = 0.6 * np.sin(2 * np.pi * BEEP_HZ * (t + phase * FRAME / RATE))
                frame = (samples * 32767).astype(np.int16).tobytes()
                beep_frames -= 1
            else:
                frame = silence
            phase += 1
            try:
                self.encoder.stdin.write(frame)
                self.encoder.stdin.flush()
            except BrokenPipeError:
                return
            next_at += 0.02
            time.sleep(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self.stopped.set()
        self._writer.join(5)
        if self.encoder.stdin:
            self.encoder.stdin.close()
        self.encoder.wait(10)
        self._sender.join(5)
        self.socket.close()


class Loudspeaker:
    """A device's player: ffmpeg decoding the mount to PCM, read as it comes; notes beep onsets."""

    def __init__(self, url: str, token: str) -> None:
        user = "device-" + hashlib.sha256(token.encode()).hexdigest()[:12]
        authed = url.replace("http://", f"http://{user}:{token}@", 1)
        self.proc = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-fflags", "nobuffer", "-f", "mp3", "-i", authed, "-ac", "1",
             "-ar", str(OUT_RATE), "-f", "s16le", "-flush_packets", "1", "pipe:1"], stdout=subprocess.PIPE)
        self.onsets: list[float] = []
        self.frames = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        buffer = b""
        quiet = 100
        while True:
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                return
            arrived = time.time()
            buffer += chunk
            while len(buffer) >= OUT_FRAME * 2:
                frame, buffer = buffer[:OUT_FRAME * 2], buffer[OUT_FRAME * 2:]
                self.frames += 1
                level = float(np.sqrt((np.frombuffer(frame, dtype=np.int16).astype(np.float64) ** 2).mean()))
                if level > 2000:
                    if quiet >= 15:  # at least 300 ms of quiet before: a new beep
                        # Frames still in the buffer arrived together; this one came out with them.
                        self.onsets.append(arrived)
                    quiet = 0
                else:
                    quiet += 1

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run_round(base: str, hub, icecast, people: dict[str, str], beeps: int, load_tokens: list[str],
              folder: Path, spread: float = 1.0) -> dict:
    editor = {"Authorization": f"Bearer {people['editor']}"}
    body = httpx.post(base + "/api/v1/live", headers=editor, timeout=10,
                      json={"title": "Bench", "targets": ["B1"], "priority": "emergency"}).json()
    mic = Microphone(body["ingest_url"]).start()
    load = None
    try:
        deadline = time.monotonic() + 20
        while httpx.get(f"{base}/api/v1/live/{body['id']}", headers=editor).json()["status"] != "on_air":
            if time.monotonic() > deadline:
                raise RuntimeError("the broadcast did not go on air")
            time.sleep(0.1)
        connected = 0
        if load_tokens:
            tokens = folder / "tokens.json"
            tokens.write_text(json.dumps(load_tokens))
            load = subprocess.Popen([sys.executable, "-c", LOAD_SCRIPT, str(icecast.port),
                                     f"/live/{body['id']}.mp3", str(tokens), str(spread)],
                                    stdout=subprocess.PIPE, text=True)
            assert load.stdout is not None
            started = time.monotonic()
            for line in load.stdout:
                connected = int(line)
                if connected >= len(load_tokens) or time.monotonic() - started > 150:
                    break
            connect_s = time.monotonic() - started
        speaker = Loudspeaker(body["stream_url"], people["loa"])
        deadline = time.monotonic() + 15
        while speaker.frames < 50:
            if time.monotonic() > deadline:
                raise RuntimeError("the loudspeaker heard nothing")
            time.sleep(0.05)
        first = time.monotonic() + 0.5
        mic.beep_at([first + k for k in range(beeps)])
        time.sleep(beeps + 5)
        speaker.stop()
    finally:
        mic.stop()
        httpx.post(f"{base}/api/v1/live/{body['id']}/stop", headers=editor, timeout=10)
        deadline = time.monotonic() + 30  # the archive is made after the stop: let it finish
        while time.monotonic() < deadline and httpx.get(
                f"{base}/api/v1/live/{body['id']}", headers=editor, timeout=10).json()["archive"] is None:
            time.sleep(0.2)
        if load is not None:
            load.terminate()
            load.wait(10)
    sent, heard = mic.beeps, speaker.onsets
    latencies = [h - s for s, h in zip(sent, heard)]
    result = {"beeps_in": len(sent), "beeps_out": len(heard), "median_s": round(statistics.median(latencies), 3),
              "p95_s": round(percentile(latencies, 95), 3), "max_s": round(max(latencies), 3)}
    if load_tokens:
        result.update({"listeners": connected + 1, "connect_all_s": round(connect_s, 2)})
    else:
        result["listeners"] = 1
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beeps", type=int, default=20)
    parser.add_argument("--listeners", type=int, default=500)
    parser.add_argument("--join-spread", type=float, default=None,
                        help="each listener waits a random 0…this many s before joining, as hub agent does "
                             "(default: what the hub tells the devices for this many, hub/live.join_spread)")
    parser.add_argument("--clients", type=int, default=0,
                        help="Icecast's <clients> limit (default four times the listeners: room for their retries)")
    args = parser.parse_args()

    from tests.agent.conftest import LiveHub
    from tests.live.icecast import Icecast

    folder = Path(tempfile.mkdtemp(prefix="bench-live-"))
    data = folder / "var"
    data.mkdir()
    settings = Settings(data_dir=data, workers=0)
    migrate(settings.sqlalchemy_url)
    hub = LiveHub(settings)
    icecast = Icecast(folder, hub.url, clients=args.clients or 4 * args.listeners + 50)
    icecast.start()  # its port is final only once it listens
    hub.settings = settings.model_copy(update={
        "icecast_url": icecast.url, "icecast_source_password": icecast.source_password,
        "icecast_auth_key": icecast.auth_key, "disabled_plugins": ["speech", "slides"],
        "auth_fail_limit": 100_000})
    hub.start()
    try:
        store = hub.hub.store
        people: dict[str, str] = {}
        load_tokens = []
        with store.session() as session:
            add_commune(session, "B1", "Xã Bench")
            people["editor"] = add_user(session, "editor", "editor", None)["token"]
            people["loa"] = add_device(session, "loa", "B1", "speaker")["token"]
            for i in range(args.listeners):
                load_tokens.append(add_device(session, f"loa-{i:04d}", "B1", "speaker")["token"])
        rounds = {"alone": run_round(hub.url, hub, icecast, people, args.beeps, [], folder)}
        if args.listeners:
            from hub import live

            spread = args.join_spread if args.join_spread is not None else min(
                live.JOIN_SPREAD_MAX_S, max(1.0, (args.listeners + 1) / live.JOINS_PER_S))
            rounds[str(args.listeners)] = run_round(hub.url, hub, icecast, people, args.beeps, load_tokens, folder,
                                                    spread)
            rounds[str(args.listeners)]["join_spread_s"] = spread
        for name, r in rounds.items():
            extra = f", {r['listeners']} listeners connected in {r['connect_all_s']} s" if "connect_all_s" in r else ""
            print(f"{name:>6}: beeps {r['beeps_in']} in, {r['beeps_out']} out; mouth to loudspeaker median "
                  f"{r['median_s']:.3f} s, p95 {r['p95_s']:.3f} s, max {r['max_s']:.3f} s{extra}")
        print(json.dumps({"bench": "live", "beeps": args.beeps, "rounds": rounds}))
    finally:
        hub.stop()
        icecast.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
