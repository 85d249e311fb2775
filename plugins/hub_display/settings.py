"""Settings of the kiosk page, read from ``HUB_DISPLAY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DisplaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_DISPLAY_", extra="ignore")

    #: Seconds a slide stays up when the renderer did not suggest a time.
    default_duration_s: float = Field(default=10.0, ge=1, le=3600)
    #: Seconds between manifest checks while the event stream is down (it is the fallback path).
    poll_s: float = Field(default=15.0, ge=1, le=3600)
    #: Seconds between checks even while the event stream is up, in case an event was missed.
    resync_s: float = Field(default=120.0, ge=5, le=86400)
    #: Seconds between heartbeats, so the board shows as online in monitoring.
    heartbeat_s: float = Field(default=60.0, ge=5, le=3600)
    #: Seconds between keep-alive comments on the event stream (proxies drop idle connections).
    keepalive_s: float = Field(default=15.0, ge=1, le=300)
