"""The reference loudspeaker agent (``hub agent``): pulls the manifest, caches media, plays on time, reports.

See docs/agent.md. The hub's side of the protocol is CONTRACT.md §Devices.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from pydantic import ValidationError

from hub.agent.config import AgentSettings
from hub.agent.runner import Agent
from hub.agent.trust import given_keys

__all__ = ["Agent", "AgentSettings", "add_arguments", "run"]
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="the hub's address, e.g. https://hub.example.vn (env HUB_AGENT_SERVER)")
    parser.add_argument("--token", help="the device token (env HUB_AGENT_TOKEN, which keeps it out of ps)")
    parser.add_argument("--cache", type=Path, help="folder for media, the saved manifest and the outbox "
                        "(env HUB_AGENT_CACHE, default ./agent-cache)")
    parser.add_argument("--player", help="player command, the media file's path is appended "
                        "(env HUB_AGENT_PLAYER; default: mpg123 -q, else ffplay)")
    parser.add_argument("--trust-key", action="append", dest="trust_key", metavar="KEY",
                        help="a hub signing key to trust: base64 public key, or @FILE (repeatable; env "
                        "HUB_AGENT_TRUST_KEYS, comma-separated). Without one, the first key seen is pinned")


def settings_from(args: argparse.Namespace) -> AgentSettings:
    """Flags win over HUB_AGENT_* variables, which win over the defaults."""
    given = {name: getattr(args, name, None) for name in ("server", "token", "cache", "player")}
    if getattr(args, "trust_key", None):
        given["trust_keys"] = ",".join(args.trust_key)
    return AgentSettings(**{name: value for name, value in given.items() if value is not None})


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
    except ValidationError as exc:
        print(f"hub agent: invalid setting: {exc}", file=sys.stderr)
        return 2
    if not settings.token.get_secret_value():
        print("hub agent: no device token: set HUB_AGENT_TOKEN (or --token)", file=sys.stderr)
        return 2
    try:
        given_keys(settings.trust_keys.split(","))
    except (ValueError, OSError) as exc:
        print(f"hub agent: --trust-key: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stop.set())
    agent = Agent(settings).start()
    # A timed wait, so the signal handler gets to run promptly on every platform.
    while not stop.wait(1.0):
        pass
    log.info("stopping")
    agent.stop()
    return 0
