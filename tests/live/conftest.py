"""A real hub on 127.0.0.1 with a real Icecast beside it, beeps to speak, and recording agents."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.agent.conftest import ROOT_DIR, LiveHub
from tests.live.icecast import Icecast

BEEP_HZ = 1000


def recorder_command(folder: Path) -> str:
    """A player that records what it hears, one file per run; it starts writing at once (a small
    probe), as a loudspeaker's player starts sounding at once."""
    folder.mkdir(parents=True, exist_ok=True)
    # -f mp3: joining a stream mid-way, ffmpeg's own format probe may never settle; -re: a file plays in
    # real time, as from a loudspeaker.
    script = (f'exec ffmpeg -nostdin -v error -y -re -f mp3 -i "$0" -c copy "{folder}/run-$$.mp3" '
              f'2>>"{folder}/player.log"')
    return f"sh -c '{script}'"


def recordings(folder: Path) -> list[Path]:
    return sorted(folder.glob("run-*.mp3"), key=lambda p: p.stat().st_mtime)


def beeps_wav(path: Path, count: int = 8, period_s: float = 1.0, beep_s: float = 0.25) -> Path:
    """``count`` beeps of ``beep_s`` at 1 kHz, one every ``period_s``, silence between (48 kHz mono)."""
    expr = f"if(lt(mod(t\\,{period_s})\\,{beep_s})\\,0.6*sin(2*PI*{BEEP_HZ}*t)\\,0)"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"aevalsrc={expr}:s=48000:d={count * period_s}", "-ac", "1", "-c:a", "pcm_s16le", str(path)],
                   check=True)
    return path


def webm_of(wav: Path, path: Path) -> Path:
    """The WAV as webm/opus, what a browser's MediaRecorder sends."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "libopus", "-b:a", "48k", "-f", "webm",
                    str(path)], check=True)
    return path


def beep_onsets(path: Path, rate: int = 8000) -> list[float]:
    """When each beep starts in a recording (seconds): the 1 kHz band's energy, per 20 ms, rising."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-af", f"bandpass=f={BEEP_HZ}:width_type=h:w=200",
                          "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"], capture_output=True).stdout
    # A run cut before it wrote anything decodes to nothing (ffmpeg says so and exits 1).
    samples = np.frombuffer(raw, dtype=np.int16).astype(np.float64)
    step = rate // 50
    frames = samples[: len(samples) // step * step].reshape(-1, step)
    level = np.sqrt((frames ** 2).mean(axis=1)) if len(frames) else np.zeros(0)
    if not len(level) or level.max() < 300:
        return []
    loud = level > level.max() * 0.3
    onsets, previous = [], False
    for i, on in enumerate(loud):
        if on and not previous:
            onsets.append(i * 0.02)
        previous = bool(on)
    return onsets


class Station:
    """A hub (uvicorn in this process) with Icecast, both on free loopback ports."""

    def __init__(self, settings, folder: Path) -> None:
        self.hub = LiveHub(settings)
        self.icecast = Icecast(folder / "icecast", self.hub.url)
        self.settings = settings
        self.agents: list[subprocess.Popen] = []
        self.folder = folder

    def start(self) -> "Station":
        (self.folder / "icecast").mkdir(parents=True, exist_ok=True)
        self.icecast.start()  # its port is final only once it listens (it may retry on another)
        self.hub.settings = self.settings.model_copy(update={
            "workers": 1, "job_poll_s": 0.05, "disabled_plugins": ["speech", "slides"],
            "icecast_url": self.icecast.url, "icecast_source_password": self.icecast.source_password,
            "icecast_auth_key": self.icecast.auth_key, "live_idle_s": 3.0})
        self.hub.start()
        people = self.hub.people
        for code in ("X1", "X2"):
            people.commune(code)
        people.user("author", "editor")
        people.user("approver", "editor")
        people.user("op-x1", "operator", "X1")
        return self

    def agent(self, name: str, commune: str) -> Path:
        """A real ``hub agent`` process for a new device; returns the folder its player records into."""
        self.hub.people.device(name, commune)
        heard = self.folder / f"heard-{name}"
        env = {**os.environ, "HUB_AGENT_SERVER": self.hub.url, "HUB_AGENT_TOKEN": self.hub.people.tokens[name],
               "HUB_AGENT_CACHE": str(self.folder / f"cache-{name}"), "HUB_AGENT_PLAYER": recorder_command(heard),
               "HUB_AGENT_HEARTBEAT_S": "1", "HUB_AGENT_POLL_S": "2", "HUB_AGENT_REPORT_SPREAD_S": "0",
               "HUB_AGENT_STREAM_RETRY_S": "0.3", "HUB_AGENT_STREAM_RETRY_MAX_S": "1"}
        log = open(self.folder / f"agent-{name}.log", "wb")
        self.agents.append(subprocess.Popen([sys.executable, "-m", "hub.agent"], env=env, cwd=ROOT_DIR,
                                            stdout=log, stderr=subprocess.STDOUT))
        return heard

    def agent_log(self, name: str) -> str:
        path = self.folder / f"agent-{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for proc in self.agents:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.agents:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.hub.stop()
        self.icecast.stop()


@pytest.fixture
def station(settings, tmp_path) -> Iterator[Station]:
    running = Station(settings, tmp_path).start()
    try:
        yield running
    finally:
        running.stop()
