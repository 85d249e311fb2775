"""The hub's settings: one class, read from ``HUB_*`` environment variables."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import Field, PrivateAttr, field_validator
from pydantic_settings import (BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource,
                               SettingsConfigDict)

log = logging.getLogger(__name__)
Section = TypeVar("Section", bound=BaseSettings)


def split_csv(value: object) -> object:
    """``"a, b,c"`` → ``["a", "b", "c"]``: list settings are written as comma-separated words."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value



@functools.cache
def _renamed(old: str, new: str) -> None:
    # Once per process: settings classes are read often (per render, per text spoken).
    log.warning("%s is deprecated and will be removed: rename it to %s (the new name wins when both are set)",
                old, new)


class _FormerNames(EnvSettingsSource):
    """A settings class's fields under the prefix it had before, read below the current names and
    named in the log, so that a rename never silently drops an existing deployment's settings."""

    def __init__(self, settings_cls: type[BaseSettings], former: str, current: str) -> None:
        super().__init__(settings_cls, env_prefix=former)
        self.former, self.current = former, current

    def __call__(self) -> dict[str, Any]:
        found = super().__call__()
        for name in found:
            _renamed(f"{self.former}{name.upper()}", f"{self.current}{name.upper()}")
        return found


class PluginSettings(BaseSettings):
    """Base of a plugin's own settings class: set ``model_config``'s ``env_prefix`` to
    ``HUB_<PLUGIN>_``; set ``former_env_prefix`` when the prefix was renamed, and the old names
    are still read (below the new ones) with a deprecation warning. Only this class's fields are
    read under the former prefix, so another plugin's settings that now use it are not mistaken
    for old names."""

    former_env_prefix: ClassVar[str | None] = None

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        if not cls.former_env_prefix:
            return init_settings, env_settings, dotenv_settings, file_secret_settings
        former = _FormerNames(settings_cls, cls.former_env_prefix, cls.model_config.get("env_prefix", ""))
        return init_settings, env_settings, former, dotenv_settings, file_secret_settings


class Settings(BaseSettings):
    """Defaults run a demo on one machine with no configuration at all."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore")

    data_dir: Path = Path("./var")
    #: Overrides the embedded SQLite database, e.g. ``postgresql+psycopg://hub@db/hub``.
    database_url: str | None = None
    #: Render workers run inside ``hub serve``; 0 leaves rendering to ``hub worker``.
    workers: int = Field(default=1, ge=0, le=16)
    #: The voice chain, in order of preference (engine names that plugins register); empty: the
    #: speech plugin's own default order.
    tts_engines: Annotated[list[str], NoDecode] = []
    allow_self_approval: bool = False
    disabled_plugins: Annotated[list[str], NoDecode] = []
    #: Extra plugin modules to load by import name, beside the installed entry points.
    extra_plugins: Annotated[list[str], NoDecode] = []
    offline_after_s: int = Field(default=180, gt=0)

    job_lease_s: float = Field(default=60.0, gt=0)
    job_max_attempts: int = Field(default=6, ge=1)
    job_backoff_s: float = Field(default=2.0, gt=0)
    job_backoff_max_s: float = Field(default=300.0, gt=0)
    job_poll_s: float = Field(default=1.0, gt=0)

    #: Failed token checks from one address within the window before it is answered 429.
    auth_fail_limit: int = Field(default=50, ge=1)
    auth_fail_window_s: float = Field(default=60.0, gt=0)

    #: /healthz says "degraded" below this much free space in the data folder.
    disk_min_free_bytes: int = Field(default=200_000_000, ge=0)
    max_request_bytes: int = Field(default=1_000_000, gt=0)
    #: An emergency's audio up to this size rides along with the event that announces it, so a
    #: loudspeaker need not download it (docs/device-protocol.md §2); 0: never.
    event_media_max_bytes: int = Field(default=256 * 1024, ge=0)
    max_upload_bytes: int = Field(default=50_000_000, gt=0)
    #: Uploaded audio decoded and mastered at once, per commune and in all (beyond: 429), and the
    #: programme audio one commune may keep (beyond: 413); docs/security.md.
    media_work_per_commune: int = Field(default=2, ge=1)
    media_work_total: int = Field(default=4, ge=1)
    media_commune_quota_bytes: int = Field(default=2_000_000_000, ge=0)

    #: How often ``hub serve`` writes the audit chain's head to its log (logger ``hub.audit``), s; 0: never.
    audit_head_log_s: float = Field(default=3600.0, ge=0)
    #: Serve the API's documentation pages /docs and /redoc (their assets from the hub itself).
    api_docs: bool = True
    #: ``hub serve``'s connection limits (docs/deploy.md): concurrent connections before 503
    #: (unset: the open-file limit less 200), seconds an idle keep-alive connection is kept, and
    #: the listen backlog.
    serve_limit_concurrency: int | None = Field(default=None, ge=1)
    serve_keep_alive_s: float = Field(default=5.0, gt=0, le=300)
    serve_backlog: int = Field(default=2048, ge=16)

    province: str = "Tỉnh Lạng Sơn"
    #: The public address of this hub, used in feeds and QR codes.
    public_url: str = "http://127.0.0.1:8000"

    #: Live broadcasts (docs/live.md): the Icecast 2 server the hub pushes to (``http://host:port``);
    #: unset, live broadcasting is off. The hub starts no Icecast itself.
    icecast_url: str | None = None
    #: The address devices listen on, if not ``icecast_url`` (a public name, a CDN in front).
    icecast_public_url: str | None = None
    icecast_source_password: str = ""
    #: If set, Icecast's listener_add calls must carry ``?key=`` with it (deploy/icecast/).
    icecast_auth_key: str = ""
    #: The longest a live broadcast may last, and how long the ingest waits for a browser gone quiet.
    live_max_s: int = Field(default=3600, ge=10, le=6 * 3600)
    live_idle_s: float = Field(default=5.0, gt=0, le=120)
    #: How often ``hub serve`` looks for broadcasts whose process went away before making their
    #: archive (their recordings left in HUB_DATA_DIR/live), and archives them.
    live_recovery_s: float = Field(default=60.0, gt=0, le=3600)
    #: The archive's loudness: the same as the speech plugin's mastered audio.
    live_target_lufs: float = Field(default=-16.0, ge=-36.0, le=-8.0)

    _sections: dict[type, BaseSettings] = PrivateAttr(default_factory=dict)

    def section(self, model: type[Section]) -> Section:
        """A plugin's own settings (its class, with its own ``HUB_<PLUGIN>_`` prefix), read from the
        environment once per hub settings object: ``settings.section(IngestSettings)``."""
        found = self._sections.get(model)
        if found is None:
            found = self._sections[model] = model()
        return found  # type: ignore[return-value]

    @field_validator("tts_engines", "disabled_plugins", "extra_plugins", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return split_csv(value)

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            return url
        return f"sqlite:///{(self.data_dir / 'hub.db').resolve()}"
