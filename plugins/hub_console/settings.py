"""Settings of the web console, read from ``HUB_CONSOLE_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from hub.plugin_api import PluginSettings, SessionLimits, split_csv


class ConsoleSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_CONSOLE_", extra="ignore")

    #: A session not used for this long ends (minutes).
    idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    #: A session ends this long after sign-in, however busy (hours).
    max_hours: float = Field(default=12, gt=0, le=24 * 30)
    #: Failed sign-ins per user name, and per address, within the window before 429.
    max_failures: int = Field(default=5, ge=1, le=1000)
    failure_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: Addresses of reverse proxies whose ``X-Forwarded-Proto: https`` makes cookies ``Secure``
    #: (comma-separated). ``hub serve`` already trusts 127.0.0.1 through uvicorn's proxy headers.
    trusted_proxies: str = "127.0.0.1,::1"
    #: Where the Noto Sans files are (Debian's fonts-noto-core); the hub serves them itself.
    font_dir: Path = Path("/usr/share/fonts/truetype/noto")
    #: Language of the texts (messages.py); Vietnamese is the default and the fallback.
    language: str = "vi"

    def limits(self) -> SessionLimits:
        from datetime import timedelta

        return SessionLimits(idle=timedelta(minutes=self.idle_minutes), absolute=timedelta(hours=self.max_hours),
                             max_failures=self.max_failures,
                             failure_window=timedelta(minutes=self.failure_window_minutes))

    def proxies(self) -> set[str]:
        return set(split_csv(self.trusted_proxies))
