"""The agent's settings: flags on the command line, else ``HUB_AGENT_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AgentSettings(BaseSettings):
    """Timing knobs default to field values; tests make them small."""

    model_config = SettingsConfigDict(env_prefix="HUB_AGENT_", extra="ignore")

    server: str = "http://127.0.0.1:8000"
    #: The device token; read from the environment so it need not show in ``ps``.
    token: SecretStr = SecretStr("")
    cache: Path = Path("./agent-cache")
    #: The player command; the media file's path is appended. Empty: mpg123 or ffplay, the first found.
    player: str = ""
    volume: int = Field(default=80, ge=0, le=100)
    #: Public keys (base64, or @file) whose signatures the agent accepts, comma-separated in the
    #: environment; none: trust on first use (hub/agent/trust.py).
    trust_keys: str = ""

    #: Manifest poll interval; the event stream usually tells the agent sooner.
    poll_s: float = Field(default=60.0, gt=0)
    #: Each poll waits poll_s times a random factor in [1 - jitter, 1 + jitter], so devices spread out.
    poll_jitter: float = Field(default=0.2, ge=0, lt=1)
    #: Retry delays when the hub is unreachable: backoff_s, doubling up to backoff_max_s.
    backoff_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=300.0, gt=0)
    #: Listen to GET /api/v1/device/events so an emergency starts within seconds.
    events: bool = True
    #: After the event stream drops, or cannot be opened, the next try is a random time between
    #: these two later (the hub's ``retry:`` field replaces the upper one). Not doubling: after a
    #: hub restart every device should be listening again within seconds.
    events_retry_min_s: float = Field(default=0.5, ge=0)
    events_retry_max_s: float = Field(default=3.0, gt=0)
    #: After this long without the stream, it is an outage, not a restart: the delay grows with it.
    events_retry_flat_s: float = Field(default=30.0, ge=0)
    #: The hub sends a keep-alive every 15 s; silence longer than this means the stream is dead.
    events_timeout_s: float = Field(default=45.0, gt=0)
    request_timeout_s: float = Field(default=15.0, gt=0)

    heartbeat_s: float = Field(default=30.0, gt=0)
    #: An item whose start passed longer ago than this is skipped (emergencies: see docs/agent.md).
    late_tolerance_s: float = Field(default=30.0, ge=0)
    #: After an emergency starts, reports wait a random 0…this many seconds: the whole fleet
    #: reporting at once would slow the devices still downloading the emergency's audio.
    report_spread_s: float = Field(default=5.0, ge=0)
    #: A stream (relay, live) whose player stops inside its slot is started again this long later,
    #: doubling while it keeps failing, up to stream_retry_max_s.
    stream_retry_s: float = Field(default=1.0, gt=0)
    stream_retry_max_s: float = Field(default=8.0, gt=0)
    #: A live broadcast reaches the whole fleet in the same second; each device waits a random
    #: 0…this many seconds before it connects, because Icecast 2.4 accepts with a listen backlog of
    #: 5 and drops the rest of a burst's connections, which then wait out TCP's own retries
    #: (1 s, 3 s, 7 s … after the first: minutes for a fleet of hundreds; docs/agent.md).
    live_join_spread_s: float = Field(default=1.0, ge=0, le=30)
    #: After SIGTERM, a player still running this long later gets SIGKILL.
    kill_grace_s: float = Field(default=3.0, gt=0)
    #: Media no longer in the manifest are evicted, least recently used first, above this size.
    cache_max_bytes: int = Field(default=500_000_000, ge=0)
    #: Play reports per POST.
    batch_size: int = Field(default=100, ge=1, le=1000)
