"""A process of many ``hub agent`` instances for bench/time_to_air.py, each timed at every step.

The agents are hub.agent's own ``Agent`` (threads, HTTP client, cache, outbox, scheduler); this
only records when things happen: each event on the stream, each manifest taken, each download,
each play. The player is either a callable in this process (no fork per play) or a real tiny
command; both append ``device sha256 time`` to the shared plays file, which the bench tails.

    python -m bench._agents CONFIG.json      # then on stdin: "ready <since> <timeout>" or "stop"

"ready" answers with one line, ``ready {json}``: how many agents are subscribed (an event stream
opened after ``since`` and a manifest held), when each such stream gave its first event, and when
this process had imported, built and started its agents (wall clock).
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

IMPORTING = time.time()

from hub.agent import Agent, AgentSettings  # noqa: E402
from hub.agent.client import HubClient  # noqa: E402


class TimedClient(HubClient):
    """Records when each ETag arrives on the event stream, and when each stream gave its first."""

    def __init__(self, owner: "TimedAgent", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner

    def events(self, read_timeout: float):
        first = True
        for announced in super().events(read_timeout):
            now = time.time()
            self.owner.timeline["events"].append((now, announced[0]))
            if first:
                # The hub sends the current ETag at once: the stream is subscribed from here on.
                self.owner.timeline["streams"].append(now)
                first = False
            yield announced


class DoneProcess:
    """What Player.start returns for a play that is already over."""

    returncode = 0
    pid = 0

    def poll(self) -> int:
        return 0

    def wait(self, timeout: float | None = None) -> int:
        return 0


class RecordingPlayer:
    """A player callable: notes the wall-clock time it was started and returns at once."""

    argv = ["(bench recorder)"]

    def __init__(self, device: str, plays_file: Path, timeline: dict) -> None:
        self.device = device
        self.plays_file = plays_file
        self.timeline = timeline

    def describe(self) -> str:
        return "bench recorder"

    def start(self, media: Path) -> DoneProcess:
        now = time.time()
        self.timeline["plays"].append((now, media.name))
        # One write() of a short line to an O_APPEND file: lines from many processes do not mix.
        with open(self.plays_file, "a") as handle:
            handle.write(f"{self.device} {media.name} {now:.6f}\n")
        return DoneProcess()

    def stop(self, proc: DoneProcess) -> None:
        pass


class TimedAgent(Agent):
    def __init__(self, settings: AgentSettings, device: str, plays_file: Path, callable_player: bool) -> None:
        super().__init__(settings)
        self.device = device
        self.timeline: dict[str, Any] = {"events": [], "streams": [], "applies": [], "fetches": [], "carried": [],
                                         "plays": []}
        if callable_player:
            self.player = RecordingPlayer(device, plays_file, self.timeline)
        else:
            # The command writes its own start time to the plays file; this is when it was asked to.
            start = self.player.start

            def timed_start(media: Path):
                self.timeline["plays"].append((time.time(), media.name))
                return start(media)

            self.player.start = timed_start
        fetch = self.cache.fetch

        def timed_fetch(client, media):
            began = time.time()
            got = fetch(client, media)
            if got:
                self.timeline["fetches"].append((began, time.time(), media.sha256, got))
            return got

        self.cache.fetch = timed_fetch
        keep = self.cache.keep

        def timed_keep(media, data):
            began = time.time()
            kept = keep(media, data)
            if kept:
                self.timeline["carried"].append((began, time.time(), media.sha256, len(data)))
            return kept

        self.cache.keep = timed_keep
        # The agent wakes its scheduler the moment it has taken a manifest (before saving it to
        # disk): that moment, per thread, is when the manifest counts as taken.
        self._woken: dict[int, float] = {}
        wake = self.wake.set

        def timed_wake() -> None:
            self._woken[threading.get_ident()] = time.time()
            wake()

        self.wake.set = timed_wake

    def _client(self) -> HubClient:
        return TimedClient(self, self.settings.server, self.settings.token.get_secret_value(),
                           timeout=self.settings.request_timeout_s)

    def apply(self, raw: bytes, etag: str | None, sent: float, received: float, **kwargs: Any) -> bool:
        me = threading.get_ident()
        self._woken.pop(me, None)
        taken = super().apply(raw, etag, sent, received, **kwargs)
        if taken:
            at = self._woken.pop(me, None) or time.time()
            urgent = sorted({i.bulletin_id for i in self.manifest.items if i.urgent and i.bulletin_id})
            # A manifest pushed with its event has no request: stamp it with the time it came.
            self.timeline["applies"].append((at, sent or at, etag, urgent))
        return taken

    def subscribed_since(self, since: float) -> float | None:
        """When the first stream opened after ``since`` gave its first event, if one is open now."""
        client = self._events_client
        if self.etag is None or client is None or client._stream is None:
            return None
        return next((t for t in self.timeline["streams"] if t >= since), None)


def main() -> None:
    phases = {"importing": IMPORTING, "imported": time.time()}
    # `kill -USR1 <pid>` writes every thread's stack to this process's stderr file: what a stuck
    # or busy fleet is doing.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    config = json.loads(Path(sys.argv[1]).read_text())
    logging.basicConfig(filename=config["log"], level=logging.WARNING,
                        format=f"%(asctime)s {os.getpid()} %(levelname)s %(name)s: %(message)s")
    plays_file = Path(config["plays_file"])
    agents: list[TimedAgent] = []
    for spec in config["agents"]:
        settings = AgentSettings(server=config["server"], token=spec["token"], cache=Path(spec["cache"]),
                                 player=spec["player"], **config["overrides"])
        agents.append(TimedAgent(settings, spec["device"], plays_file, config["callable_player"]))
    phases["built"] = time.time()
    # Started a little apart, as a fleet would not connect in the same millisecond.
    for agent in agents:
        agent.start()
        time.sleep(config.get("stagger_s", 0.005))
    phases["started"] = time.time()

    for line in sys.stdin:
        command, *rest = line.split()
        if command == "ready":
            since, deadline = float(rest[0]), time.monotonic() + float(rest[1])
            while time.monotonic() < deadline and not all(a.subscribed_since(since) for a in agents):
                time.sleep(0.05)
            at = [t for t in (a.subscribed_since(since) for a in agents) if t is not None]
            print("ready " + json.dumps({"ready": len(at), "agents": len(agents), "subscribed_at": at,
                                         "phases": phases}), flush=True)
        elif command == "stop":
            break

    # Stopped together: one at a time would take up to a second each for the stream threads.
    with ThreadPoolExecutor(len(agents)) as pool:
        list(pool.map(lambda a: a.stop(timeout=5.0), agents))
    Path(config["out"]).write_text(json.dumps(
        [{"device": a.device, **a.timeline} for a in agents]))
    print("done", flush=True)


if __name__ == "__main__":
    main()
