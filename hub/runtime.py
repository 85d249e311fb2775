"""The running hub: settings, plugin manager, store, media and pipeline, opened and closed together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pluggy

from hub.auth import DeviceTokens
from hub.changes import ScheduleCounter
from hub.config import Settings
from hub.events import DeviceEvents
from hub.manifests import Manifests
from hub.media import MediaStore
from hub.metrics import Metrics
from hub.pipeline import Pipeline
from hub.public_media import PublicLinks
from hub.plugins import make_plugin_manager, notify
from hub.services import Services
from hub.signing import Keyring
from hub.throttle import FailedAuth
from hub.store import Store, migrate

log = logging.getLogger(__name__)


@dataclass
class Hub:
    settings: Settings
    pm: pluggy.PluginManager
    store: Store
    media: MediaStore
    pipeline: Pipeline
    metrics: Metrics
    #: The schedule counter as this process sees it; device tokens, manifests and events follow it.
    counter: ScheduleCounter
    device_tokens: DeviceTokens
    manifests: Manifests
    events: DeviceEvents
    #: Every operation the hub offers, for every door (API, console, ingest, CLI, demo).
    services: Services = field(init=False, repr=False)
    #: The keys manifests are signed with (made at the first start, in the data folder).
    keys: Keyring = field(init=False, repr=False)
    #: Failed token checks per client address (429 past a limit).
    failed_auth: FailedAuth = field(init=False, repr=False)
    #: Links to public media for nginx to send without asking (hub/public_media.py).
    public_media: PublicLinks = field(init=False, repr=False)
    #: Other processes' notifications (PostgreSQL only; started by :meth:`listen`).
    listener: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.public_media = PublicLinks(self.media.root, self.store)
        self.store.install(self.public_media.install)
        self.public_media.sync_all()
        self.services = Services(self)
        self.keys = Keyring(self.settings.data_dir / "keys")
        self.failed_auth = FailedAuth(self.settings.auth_fail_limit, self.settings.auth_fail_window_s)
        self.metrics.event_streams.set_function(lambda: self.events.subscribed)

    @property
    def registrations(self) -> Any:
        """The hook relay whose registration hooks (TTS engines, normalisers …) are collected once
        per process; what renderers get as ``ctx.hook``."""
        return self.pipeline.hook

    @classmethod
    def open(cls, settings: Settings, pm: pluggy.PluginManager | None = None) -> "Hub":
        """Create the data folder, bring the schema to head, build the parts. Starts no threads."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        migrate(settings.sqlalchemy_url)
        pm = pm or make_plugin_manager(settings)
        store = Store(settings.sqlalchemy_url)
        media = MediaStore(settings.media_dir)
        media.work.per_commune, media.work.total = settings.media_work_per_commune, settings.media_work_total
        metrics = Metrics(store, settings.offline_after_s)
        counter = ScheduleCounter(store)
        manifests = Manifests(store, counter)
        return cls(settings, pm, store, media, Pipeline(store, media, pm, settings), metrics, counter,
                   DeviceTokens(store, counter), manifests, DeviceEvents(manifests, counter))

    def listen(self) -> None:
        """On PostgreSQL, hear other processes' changes and queued jobs at once (hub/notify.py);
        ``hub serve`` and ``hub worker`` call this, one-off commands need not."""
        from hub.notify import CHANGES, JOBS, Listener

        if self.store.dialect == "postgresql" and self.listener is None:
            self.listener = Listener(self.store.url, {CHANGES: self.counter.invalidate, JOBS: self.pipeline.wake})
            self.listener.start()

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        self.events.stop()
        self.counter.stop()
        self.pipeline.stop()
        self.store.dispose()

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call a notification hook on each plugin in turn; one failing plugin is logged and skips
        neither the others nor the caller's work."""
        notify(self.pm, hook_name, settings=self.settings, **kwargs)

