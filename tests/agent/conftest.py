"""A real hub on 127.0.0.1 (uvicorn in a thread), a renderer that makes real silent MP3s, a test player."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from hub import hookimpl
from hub.agent import Agent, AgentSettings
from hub.app import create_app
from hub.models import MediaObject, PlayReport
from hub.plugin_types import RenderedMedia, Renderer
from hub.plugins import make_plugin_manager
from hub.testing import LiveServer, free_port, wait_until
from tests.conftest import People, bulletin_payload

HERE = Path(__file__).resolve().parent
ROOT_DIR = HERE.parent.parent
_MP3: dict[float, bytes] = {}


def silent_mp3(seconds: float) -> bytes:
    """A real MP3 of silence, made by ffmpeg (8 kbit/s mono, so even minutes stay small)."""
    if seconds not in _MP3:
        _MP3[seconds] = subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", str(seconds),
             "-c:a", "libmp3lame", "-b:a", "8k", "-f", "mp3", "-"], capture_output=True, check=True).stdout
    return _MP3[seconds]


class SilentAudio:
    """Renders a bulletin whose title ends in ``[N s]`` as N seconds of real MP3 silence (default 1 s)."""

    @hookimpl
    def hub_register_renderers(self):
        return [Renderer(name="test-audio", channel="speaker", render=self.render)]

    def render(self, ctx):
        match = re.search(r"\[(\d+(?:\.\d+)?) s\]$", ctx.bulletin.title)
        seconds = float(match.group(1)) if match else 1.0
        return [RenderedMedia(kind="audio", mime="audio/mpeg", data=silent_mp3(seconds),
                              meta={"duration_s": seconds, "engine": "test"})]


class LiveHub:
    """``hub serve`` in this process: the real app behind a real socket, restartable on its port."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: LiveServer | None = None
        self.people: People | None = None

    def start(self) -> "LiveHub":
        pm = make_plugin_manager(self.settings)
        pm.register(SilentAudio(), name="test-audio")
        app = create_app(self.settings, pm=pm)
        self.server = LiveServer(app, port=self.port).start()
        self.hub = app.state.hub
        if self.people is None:
            self.people = People(self.hub)
        else:
            self.people.hub = self.hub
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    # --- content --------------------------------------------------------------------------

    def api(self, method: str, path: str, who: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.people.tokens[who]}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def approved(self, commune: str, *, seconds: float = 1.0, priority: str = "normal", **fields: Any) -> str:
        """A bulletin for ``commune``, approved and rendered; returns its id."""
        payload = bulletin_payload(title=f"Bản tin thử [{seconds:g} s]", priority=priority,
                                   channels=["speaker"], targets=[commune], **fields)
        response = self.api("POST", "/api/v1/bulletins", "author", json=payload)
        assert response.status_code == 201, response.text
        bid = response.json()["id"]
        assert self.api("POST", f"/api/v1/bulletins/{bid}/submit", "author").status_code == 200
        assert self.api("POST", f"/api/v1/bulletins/{bid}/approve", "approver").status_code == 200
        wait_until(lambda: self.api("GET", f"/api/v1/bulletins/{bid}", "author").json()["render_status"] == "done",
                   timeout=15, what=f"bulletin {bid} rendered")
        return bid

    def uploaded_audio(self, commune: str, seconds: float) -> str:
        """Audio uploaded for a commune (a jingle, a recording); returns its sha256.

        Written straight to the store as the upload endpoint would, which the API does not have yet.
        """
        return self.stored(silent_mp3(seconds), commune, duration_s=seconds)

    def stored(self, data: bytes, commune: str | None = None, *, duration_s: float = 1.0) -> str:
        """Bytes in the media store with the record an upload leaves (programme audio a device
        may fetch); bytes with no record answer 404."""
        sha256 = self.hub.media.put(data)
        with self.hub.store.session() as session:
            session.add(MediaObject(sha256=sha256, bytes=len(data), mime="audio/mpeg", uploaded_by="test",
                                    meta={"duration_s": duration_s}, commune=commune))
        return sha256

    def playlist_now(self, commune: str, media: str) -> str:
        """A playlist whose programme started at the current local minute, so it is on air now.

        It holds uploaded audio: a bulletin approved now could not air in a programme that began
        before its approval.
        """
        now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
        body = {"name": "Chương trình thử", "commune": commune, "items": [{"media": media}],
                "schedule": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                             "times": [now.strftime("%H:%M")], "start_date": now.date().isoformat()}}
        response = self.api("POST", "/api/v1/playlists", "author", json=body)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def reports(self, device: str) -> list[PlayReport]:
        with self.hub.store.reader() as session:
            return list(session.scalars(select(PlayReport).where(
                PlayReport.device_id == self.people.ids[device]).order_by(PlayReport.started_at)))


@pytest.fixture
def live_hub(settings) -> Iterator[LiveHub]:
    local = settings.model_copy(update={"workers": 1, "job_poll_s": 0.05, "disabled_plugins": ["speech", "slides"]})
    hub = LiveHub(local).start()
    hub.people.commune("X1")
    hub.people.user("author", "editor")
    hub.people.user("approver", "editor")
    try:
        yield hub
    finally:
        hub.stop()


class PlayerLog:
    """What the test player did, read back from its JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        return [r for r in rows if kind is None or r["event"] == kind]


@pytest.fixture
def player_log(tmp_path: Path) -> PlayerLog:
    return PlayerLog(tmp_path / "player.jsonl")


def player_command(log: PlayerLog, max_s: float = 30.0) -> str:
    return shlex.join([sys.executable, str(HERE / "fake_player.py"), str(log.path), str(max_s)])


@pytest.fixture
def make_agent(tmp_path: Path, player_log: PlayerLog):
    """Agents with small timing knobs; all stopped at the end of the test."""
    agents: list[Agent] = []

    def build(server: str, token: str, *, cache: Path | None = None, clock=None, start: bool = True,
              **overrides: Any) -> Agent:
        options = {"server": server, "token": token, "cache": cache or tmp_path / "agent",
                   "player": player_command(player_log), "poll_s": 2.0, "backoff_s": 0.2, "backoff_max_s": 1.0,
                   "heartbeat_s": 0.5, "kill_grace_s": 2.0, "request_timeout_s": 5.0, **overrides}
        agent = Agent(AgentSettings(**options), clock=clock)
        agents.append(agent)
        return agent.start() if start else agent

    yield build
    for agent in agents:
        if not agent.stopping.is_set():
            agent.stop(timeout=5)


def utc(seconds_from_now: float = 0.0) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now)
