"""Prometheus metrics: counters kept in-process, and gauges read from the store at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from hub.models import Bulletin, Device, Job, utcnow
from hub.store import Store


class StoreCollector(Collector):
    """Reads current totals from the store when Prometheus scrapes, so every process agrees."""

    def __init__(self, store: Store, offline_after_s: int) -> None:
        self.store = store
        self.offline_after_s = offline_after_s

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.store.reader() as session:
            jobs = GaugeMetricFamily("hub_render_jobs", "Render jobs by status", labels=["status"])
            for status, count in session.execute(select(Job.status, func.count()).group_by(Job.status)):
                jobs.add_metric([status], count)
            yield jobs
            bulletins = GaugeMetricFamily("hub_bulletins", "Bulletins by status", labels=["status"])
            for status, count in session.execute(select(Bulletin.status, func.count()).group_by(Bulletin.status)):
                bulletins.add_metric([status], count)
            yield bulletins
            cutoff = utcnow() - timedelta(seconds=self.offline_after_s)
            devices = GaugeMetricFamily("hub_devices", "Registered devices by state", labels=["state"])
            total = session.scalar(select(func.count()).select_from(Device)) or 0
            online = session.scalar(select(func.count()).select_from(Device).where(Device.last_seen >= cutoff)) or 0
            devices.add_metric(["online"], online)
            devices.add_metric(["offline"], total - online)
            yield devices


class Metrics:
    def __init__(self, store: Store, offline_after_s: int) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(store, offline_after_s))
        self.requests = Counter("hub_http_requests", "HTTP requests served", ["method", "status"],
                                registry=self.registry)
        self.auth_failures = Counter("hub_auth_failures", "Presented tokens that were refused",
                                     registry=self.registry)
        self.auth_throttled = Counter("hub_auth_throttled", "Requests refused with 429 after too many failed "
                                      "token checks from their address", registry=self.registry)
        self.plays_refused = Counter("hub_play_reports_refused", "Play reports refused: a bulletin never given "
                                     "to the device's commune, or a time outside the window", registry=self.registry)
        self.plays_clipped = Counter("hub_play_reports_clipped", "Play reports cut to the length of what the "
                                     "device was given", registry=self.registry)
        self.disk_free = Gauge("hub_disk_free_bytes", "Free space on the data folder's disk at the last /healthz",
                               registry=self.registry)
        #: Per process (each server reports its own): where a fleet's streams are, behind nginx.
        self.event_streams = Gauge("hub_event_streams", "Device event streams this process holds",
                                   registry=self.registry)
        self.latency = Histogram("hub_http_request_seconds", "HTTP request latency", registry=self.registry)
