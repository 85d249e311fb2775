"""The agent: a scheduler thread that plays, a fetcher (poll and event stream) and a sender.

The scheduler sleeps until the next item is due or until ``wake`` is set (a new manifest, a new
download); while something plays it keeps checking for a due emergency, which stops the play.
The fetcher and the event listener only ever change ``manifest`` and set ``wake``; the scheduler
and the heartbeat timer only ever write to the outbox, which the sender delivers.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta, timezone
from typing import Any

from hub import __version__
from hub.agent.cache import CorruptMedia, MediaCache
from hub.agent.client import HubClient, HubDown, Refused
from hub.agent.clock import Clock
from hub.agent.trust import KeysFetcher, Trust, given_keys
from hub.agent.config import AgentSettings
from hub.agent.manifest import BadManifest, Item, Manifest, SavedManifest, parse
from hub.agent.outbox import Outbox
from hub.agent.player import Player, PlayerMissing

log = logging.getLogger(__name__)
#: How long the scheduler sleeps at most, so a stepped system clock is noticed.
MAX_SLEEP_S = 30.0
#: While playing, how often the scheduler looks for a due emergency (a new manifest wakes it at once).
PLAY_CHECK_S = 0.25
#: A play running this much longer than its audio (plus half again) has a hung player.
HUNG_PLAYER_S = 30.0
#: Done plays older than this are forgotten: the manifest never holds anything that old.
DONE_KEPT_S = 3 * 86400


def iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class Agent:
    """The reference loudspeaker agent; ``start()`` runs it in threads, ``stop()`` ends it cleanly."""

    def __init__(self, settings: AgentSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        root = settings.cache
        root.mkdir(parents=True, exist_ok=True)
        self.cache = MediaCache(root / "media", settings.cache_max_bytes)
        self.outbox = Outbox(root / "outbox.sqlite")
        self.outbox.forget_done(DONE_KEPT_S)
        self.saved = SavedManifest(root / "manifest.json")
        self.player = Player(settings.player, kill_grace_s=settings.kill_grace_s, log_path=root / "player.log")
        #: Which manifests to believe: signed by a given or pinned key (hub/agent/trust.py).
        self.trust = Trust(given_keys(settings.trust_keys.split(",")), root / "trusted-keys.json")
        self.clock = clock or Clock()

        self.stopping = threading.Event()
        #: The scheduler's alarm: the manifest or the cache changed.
        self.wake = threading.Event()
        #: The fetcher's alarm: the event stream announced a new manifest.
        self.fetch_now = threading.Event()
        #: The sender's alarm: a report was queued.
        self.send_now = threading.Event()

        self.manifest: Manifest | None = None
        self.etag: str | None = None
        #: Set when the event stream brought the manifest: the fetcher goes straight to the media.
        self.skip_refresh = False
        #: Reports wait until then (monotonic clock) after an emergency starts.
        self.quiet_until = 0.0
        self.status = "idle"
        self.error: str | None = None
        self.skipped = 0
        self._waited: set[tuple[str, datetime]] = set()
        self._threads: list[threading.Thread] = []
        self._events_client: HubClient | None = None
        self._save_lock = threading.Lock()

        saved = self.saved.load()
        if saved is not None:
            self.manifest, _raw, self.etag, offset = saved
            self.clock = clock or Clock(offset)
            log.info("loaded the saved manifest: %d item(s), clock offset %+.3f s", len(self.manifest.items), offset)
        if self.player.argv is None:
            self.status, self.error = "error", "no player found"
            log.error("no player found (%s); set --player", ", ".join(("mpg123", "ffplay")))

    # --- life cycle --------------------------------------------------------------------------

    def start(self) -> "Agent":
        loops: list[tuple[str, Callable[[], None]]] = [
            ("agent-scheduler", self._schedule_loop), ("agent-fetcher", self._fetch_loop),
            ("agent-sender", self._send_loop)]
        if self.settings.events:
            loops.append(("agent-events", self._events_loop))
        for name, target in loops:
            thread = threading.Thread(target=self._guard(target), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("agent started: hub %s, cache %s, player %s", self.settings.server, self.settings.cache,
                 self.player.describe())
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the player, end the threads, and try once to deliver what is queued."""
        self.stopping.set()
        for event in (self.wake, self.fetch_now, self.send_now):
            event.set()
        if self._events_client is not None:
            # Ends a blocked event stream now rather than at the next keep-alive.
            self._events_client.abort()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s did not stop", thread.name)
        client = HubClient(self.settings.server, self.settings.token.get_secret_value(),
                           timeout=min(5.0, self.settings.request_timeout_s))
        try:
            self._queue_heartbeat()
            self.deliver(client)
        except (HubDown, Refused) as exc:
            log.info("%d play report(s) stay queued for the next start (%s)", self.outbox.pending_plays(), exc)
        finally:
            client.close()
            self.outbox.close()
        log.info("agent stopped")

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        """A loop that raised is logged and started again: the agent never dies of one bad case."""

        def run() -> None:
            while not self.stopping.is_set():
                try:
                    loop()
                    return
                except Exception:
                    if self.stopping.is_set():
                        return
                    log.exception("%s failed; restarting it", threading.current_thread().name)
                    self.stopping.wait(self.settings.backoff_s)

        return run

    def _client(self) -> HubClient:
        return HubClient(self.settings.server, self.settings.token.get_secret_value(),
                         timeout=self.settings.request_timeout_s)

    def _backoff(self, failures: int) -> float:
        """Doubling, capped, with jitter so that a province of devices does not return in step."""
        s = self.settings
        return min(s.backoff_max_s, s.backoff_s * 2 ** max(0, failures - 1)) * random.uniform(0.5, 1.0)

    # --- manifest ----------------------------------------------------------------------------

    def _fetch_loop(self) -> None:
        with closing(self._client()) as client:
            self._fetch(client)

    def _fetch(self, client: HubClient) -> None:
        failures = media_failures = 0
        while not self.stopping.is_set():
            self.fetch_now.clear()
            s = self.settings
            try:
                if self.skip_refresh:
                    self.skip_refresh = False
                else:
                    self.refresh(client)
                if failures:
                    log.info("the hub is reachable again")
                failures = 0
                missing = self.download_media(client)
                media_failures = media_failures + 1 if missing else 0
                delay = s.poll_s * random.uniform(1 - s.poll_jitter, 1 + s.poll_jitter)
                if missing:
                    delay = min(delay, self._backoff(media_failures))
            except (HubDown, Refused) as exc:
                failures += 1
                delay = self._backoff(failures)
                # Said once per outage, not at every retry.
                log.log(logging.WARNING if failures == 1 else logging.DEBUG,
                        "manifest: %s; retrying with backoff, playing the cached schedule", exc)
            self.fetch_now.wait(delay)

    def refresh(self, client: HubClient) -> bool:
        """Fetch the manifest (conditional on the ETag); True if a new one was taken."""
        response = client.manifest(self.etag, local=self.clock.local)
        if response.body is None:
            if response.server_time is not None:
                self.clock.observe(response.server_time, response.sent, response.received)
            return False
        return self.apply(response.body, response.etag, response.sent, response.received,
                          signature=response.signature, fetch_keys=client.keys)

    def apply(self, raw: bytes, etag: str | None, sent: float, received: float, *,
              observe_clock: bool = True, pushed: bool = False, signature: str | None = None,
              fetch_keys: KeysFetcher | None = None, carried: dict[str, bytes] | None = None) -> bool:
        """Take a manifest from the hub; a bad or unsigned one is logged and the previous one kept.

        ``observe_clock`` is off for a pushed manifest: with no request, there is no round trip to
        correct ``server_time`` by, so the clock keeps the offset its last fetch measured.
        ``pushed``: it came with an event, so the fetcher goes straight to its media.
        ``signature``: the X-Hub-Signature over ``raw``, checked before anything in it is used.
        ``carried``: files the event brought along (an emergency's audio), kept in the cache if
        each is exactly a file this manifest names, before the fetcher and the scheduler are told.
        """
        if not self.trust.check(raw, signature, fetch_keys):
            self._queue_heartbeat()
            return False
        try:
            manifest = parse(raw)
        except BadManifest as exc:
            log.error("%s; keeping the previous manifest", exc)
            return False
        offset = self.clock.observe(manifest.server_time, sent, received) if observe_clock else self.clock.offset_s
        self.manifest, self.etag = manifest, etag
        log.info("manifest %s: %d item(s), clock offset %+.3f s", etag, len(manifest.items), offset)
        if carried:
            self._keep_carried(manifest, carried)
        # The scheduler and the fetcher are told before the manifest is saved: the disk (an SD
        # card) may take its time, and an emergency's download need not wait for it.
        if pushed:
            self.skip_refresh = True
            self.fetch_now.set()
        self.wake.set()
        with self._save_lock:
            # The fetcher and the listener both take manifests: an older one never goes back on disk.
            if self.etag == etag:
                try:
                    self.saved.save(raw, etag, offset)
                except OSError as exc:
                    log.error("cannot save the manifest: %s", exc)
        return True

    def _keep_carried(self, manifest: Manifest, carried: dict[str, bytes]) -> None:
        """Verify, then keep: a carried file counts only if its size and SHA-256 are those the
        signed manifest gives for one of its items (a file it does not name is ignored)."""
        named = {item.media.sha256: item.media for item in manifest.items if item.media is not None}
        for sha256, data in carried.items():
            media = named.get(sha256)
            if media is None:
                continue
            try:
                if self.cache.keep(media, data):
                    log.info("media %s (%d bytes) came with the event", sha256[:12], len(data))
            except OSError as exc:
                log.warning("media %s from the event: %s; downloading it", sha256[:12], exc)

    def download_media(self, client: HubClient) -> int:
        """Fetch what the manifest needs, emergencies first, then by start; return how many failed."""
        manifest = self.manifest
        if manifest is None:
            return 0
        now = self.clock.now()
        tolerance = timedelta(seconds=self.settings.late_tolerance_s)
        wanted: dict[str, Item] = {}
        for item in sorted(manifest.items, key=lambda i: (not i.urgent, i.starts_at)):
            # Anything that may still start is wanted: a short emergency whose manifest arrived
            # after its nominal end still plays within the tolerance.
            if (item.media is not None and self._deadline(item, tolerance) > now
                    and not self.outbox.is_done(item.key)):
                wanted.setdefault(item.media.sha256, item)
        failed = 0
        for sha256, item in wanted.items():
            if self.stopping.is_set() or self.fetch_now.is_set():
                break  # a newer manifest first: it may hold an emergency
            try:
                got = self.cache.fetch(client, item.media)  # type: ignore[arg-type]
            except (CorruptMedia, Refused, OSError) as exc:
                log.warning("media %s: %s; will retry", sha256[:12], exc)
                failed += 1
                continue
            if got:
                log.info("downloaded %s (%d bytes)", sha256[:12], got)
                self.wake.set()
        try:
            self.cache.evict({i.media.sha256 for i in manifest.items if i.media is not None})
        except OSError as exc:
            log.warning("cache eviction: %s", exc)
        return failed

    def _events_loop(self) -> None:
        with closing(self._client()) as client:
            self._events_client = client
            self._listen(client)

    def _listen(self, client: HubClient) -> None:
        refusals = 0
        #: Since when (monotonic) the stream has not given an event: an outage's length so far.
        quiet_since: float | None = None
        while not self.stopping.is_set():
            try:
                for etag, raw, signature, carried in client.events(self.settings.events_timeout_s):
                    refusals, quiet_since = 0, None
                    if etag == self.etag:
                        continue
                    # A manifest that came with the event is taken as it is (no round trip to a
                    # hub that the whole fleet is asking at this moment); the fetcher then only
                    # downloads its media.
                    # Until a fetch has measured the clock, a fetch it is: scheduling by an unset
                    # offset could play at the wrong time on a device whose clock is off.
                    if not (raw is not None and self.clock.measured
                            and self.apply(raw, etag, 0.0, 0.0, observe_clock=False, pushed=True,
                                           signature=signature, fetch_keys=client.keys, carried=carried)):
                        self.fetch_now.set()
                quiet_since = quiet_since or time.monotonic()
                delay = self.reconnect_delay(client.retry_s, time.monotonic() - quiet_since)
            except Refused as exc:
                # The same token will be refused again at once: this one backs off for real.
                refusals += 1
                delay = self._backoff(refusals)
                log.log(logging.WARNING if refusals == 1 else logging.DEBUG,
                        "event stream: %s; retrying with backoff", exc)
            except HubDown as exc:
                quiet_since = quiet_since or time.monotonic()
                delay = self.reconnect_delay(client.retry_s, time.monotonic() - quiet_since)
                if not self.stopping.is_set():
                    log.debug("event stream: %s", exc)
            self.stopping.wait(delay)

    def reconnect_delay(self, hinted_s: float | None = None, down_s: float = 0.0) -> float:
        """How long to wait before opening the event stream again after it dropped or failed,
        ``down_s`` after the last event came.

        Random in [events_retry_min_s, events_retry_max_s], the upper bound replaced by the hub's
        ``retry:`` hint when it sent one: flat, not doubling, so that a hub restart (seconds) does
        not leave the fleet deaf for minutes; jittered, so that the fleet comes back spread out.
        An outage longer than ``events_retry_flat_s`` is no restart: then the upper bound is half
        the outage so far (up to ``backoff_max_s``), and a fleet stops knocking at a hub that
        struggles to come back.
        """
        s = self.settings
        high = s.events_retry_max_s if hinted_s is None else min(hinted_s, s.backoff_max_s)
        if down_s > s.events_retry_flat_s:
            high = max(high, min(down_s / 2, s.backoff_max_s))
        low = min(s.events_retry_min_s, high)
        return random.uniform(low, max(low, high))

    # --- playing -----------------------------------------------------------------------------

    def _schedule_loop(self) -> None:
        while not self.stopping.is_set():
            self.wake.clear()
            item, sleep_s = self.next_item()
            if item is None:
                self.wake.wait(min(max(sleep_s, 0.0), MAX_SLEEP_S))
            else:
                self.play(item)

    def next_item(self) -> tuple[Item | None, float]:
        """The item to play now, or None and how long until something may be due."""
        manifest = self.manifest
        if manifest is None:
            return None, MAX_SLEEP_S
        now = self.clock.now()
        tolerance = timedelta(seconds=self.settings.late_tolerance_s)
        due: list[Item] = []
        soonest = now + timedelta(seconds=MAX_SLEEP_S)
        for item in manifest.items:
            if item.starts_at > now:
                soonest = min(soonest, item.starts_at)
                continue
            if self.outbox.is_done(item.key):
                continue
            deadline = self._deadline(item, tolerance)
            if now > deadline:
                self._give_up(item, now)
            elif item.media is not None and not self.cache.has(item.media.sha256):
                self._waited.add(item.key)
                soonest = min(soonest, deadline)
            else:
                due.append(item)
        if due:
            return min(due, key=lambda i: (not i.urgent, i.starts_at, i.id)), 0.0
        return None, (soonest - now).total_seconds()

    @staticmethod
    def _deadline(item: Item, tolerance: timedelta) -> datetime:
        """The last instant an item may still start: the tolerance after its time, and for an
        emergency also any time until its nominal end (a short one is never treated worse).
        A stream (relay, live) is joined late for what is left of its slot, like a radio."""
        if item.stream is not None:
            return item.ends_at
        late = item.starts_at + tolerance
        return max(late, item.ends_at) if item.urgent else late

    def _give_up(self, item: Item, now: datetime) -> None:
        if item.key in self._waited:
            # It was due but its audio never arrived: the monitor should see a failed play.
            self._finish(item, "failed", now, now, error="media not downloaded in time")
            self._waited.discard(item.key)
            return
        if item.ends_at > now:
            log.info("skipping %s: it was due at %s, over %.0f s ago", item.id, iso(item.starts_at),
                     self.settings.late_tolerance_s)
            self.skipped += 1
        self._finish(item, "skipped", now, now)

    def _urgent_due(self) -> Item | None:
        manifest, now = self.manifest, self.clock.now()
        tolerance = timedelta(seconds=self.settings.late_tolerance_s)
        for item in manifest.items if manifest else ():
            if (item.urgent and item.starts_at <= now <= self._deadline(item, tolerance)
                    and (item.media is None or self.cache.has(item.media.sha256))
                    and not self.outbox.is_done(item.key)):
                return item
        return None

    def play(self, item: Item) -> str:
        """Play one item to its end, or until stopped or an emergency is due; report it."""
        if item.stream is not None:
            return self.play_stream(item)
        assert item.media is not None
        started = self.clock.now()
        try:
            proc = self.player.start(self.cache.path(item.media.sha256))
        except PlayerMissing as exc:
            log.error("%s: %s", item.id, exc)
            self._set_status("error", str(exc))
            self._finish(item, "failed", started, self.clock.now(), error=str(exc))
            return "failed"
        # After the start, not before: it writes to the disk, which may stall, and the cache's
        # eviction order can wait a moment where the programme cannot.
        self.cache.touch(item.media.sha256)
        log.info("playing %s (%s, bulletin %s)", item.id, item.priority, item.bulletin_id)
        if item.urgent:
            self.quiet_until = time.monotonic() + random.uniform(0, self.settings.report_spread_s)
        self._set_status("playing")
        result = error = None
        # A player that hangs must not silence the loudspeaker for good.
        give_up = time.monotonic() + item.media.duration_s * 1.5 + HUNG_PLAYER_S
        while proc.poll() is None:
            if self.stopping.is_set():
                result = "interrupted"
            elif not item.urgent and (urgent := self._urgent_due()) is not None:
                log.warning("emergency %s interrupts %s", urgent.id, item.id)
                result = "interrupted"
            elif time.monotonic() > give_up:
                result, error = "failed", "the player did not finish in time"
                log.error("%s: %s; stopping it", item.id, error)
            if result is not None:
                self.player.stop(proc)
                break
            self.wake.wait(PLAY_CHECK_S)
            self.wake.clear()
        if result is None and self.stopping.is_set():
            # systemd's default KillMode signals the player too: that is still a shutdown, not a fault.
            result = "interrupted"
        if result is None:
            result = "played" if proc.returncode == 0 else "failed"
            if result == "failed":
                error = f"player exited with status {proc.returncode}"
                log.error("%s: %s", item.id, error)
        self._finish(item, result, started, self.clock.now(), error=error)
        self._set_status("error" if error else "idle", error)
        return result

    def play_stream(self, item: Item) -> str:
        """Play a stream item (a relay, or a live broadcast with ``interrupt``) for its slot; report it.

        The player command gets the stream's URL instead of a file. It runs until the slot's end
        (the item's ``ends_at`` in the current manifest: a live broadcast's end may move), until the
        item leaves the manifest (a live broadcast stopped), until an emergency is due (for an item
        that is not urgent itself) or the agent stops. A player that exits before then (the stream
        dropped, or could not be reached) is started again after ``stream_retry_s``, doubling up to
        ``stream_retry_max_s``. The report carries ``heard_s``: the seconds the player really ran,
        not counting runs that failed within their first second (a refused connection), and
        ``reconnects``. ``played`` if anything was heard and nothing cut it, ``interrupted`` if an
        emergency or a shutdown did, ``failed`` if nothing was heard at all.
        """
        assert item.stream is not None
        s = self.settings
        url = item.stream.url_for(self.settings.token.get_secret_value())
        started = self.clock.now()
        log.info("relaying %s from %s until %s (%s)", item.id, item.stream.url, iso(item.ends_at), item.priority)
        if item.urgent:
            self.quiet_until = time.monotonic() + random.uniform(0, s.report_spread_s)
        heard = 0.0
        runs = 0
        quick_failures = 0
        result: str | None = None
        error: str | None = None
        spread = item.stream.join_spread_s if item.stream.join_spread_s is not None else s.live_join_spread_s
        if item.stream.auth == "device" and spread > 0:
            # Not the whole fleet on Icecast's door in the same millisecond (live_join_spread_s).
            if self.stopping.wait(random.uniform(0, spread)):
                result = "interrupted"
        while result is None:
            current = self._current(item)
            if current is None or self.clock.now() >= current.ends_at:
                break
            try:
                proc = self.player.start(url)
            except PlayerMissing as exc:
                error = str(exc)
                log.error("%s: %s", item.id, exc)
                break
            runs += 1
            run_start = time.monotonic()
            self._set_status("playing")
            result = self._watch_stream(item, proc)
            ran = time.monotonic() - run_start
            if result is None and proc.returncode != 0 and ran < 1.0:
                error = f"player exited with status {proc.returncode} at once (is the stream reachable?)"
            else:
                heard += ran
            if result is not None:
                break
            current = self._current(item)
            if current is None or self.clock.now() >= current.ends_at:
                break
            # The stream ended or dropped inside the slot: try again, a little later each time.
            quick_failures = quick_failures + 1 if ran < s.stream_retry_max_s else 1
            delay = min(s.stream_retry_max_s, s.stream_retry_s * 2 ** (quick_failures - 1))
            left = (current.ends_at - self.clock.now()).total_seconds()
            log.warning("%s: the stream stopped after %.1f s (status %s); reconnecting in %.1f s",
                        item.id, ran, proc.returncode, min(delay, max(left, 0.0)))
            if self.stopping.wait(min(delay, max(left, 0.0))):
                result = "interrupted"
        if result is None:
            result = "played" if heard > 0 else "failed"
        if result == "failed" and error is None:
            error = "the stream could not be played"
        ended = self.clock.now()
        # A new clock sample during the play may shorten the reported span a little: never more
        # heard than the report's own span.
        heard = min(heard, max(0.0, (ended - started).total_seconds()))
        extra = {"heard_s": math.floor(heard * 10) / 10, "reconnects": max(0, runs - 1)}
        self._finish(item, result, started, ended, error=error if result == "failed" else None, extra=extra)
        log.info("%s: %s, %.1f s heard, %d reconnect(s)", item.id, result, heard, extra["reconnects"])
        self._set_status("error" if result == "failed" else "idle", error if result == "failed" else None)
        return result

    def _current(self, item: Item) -> Item | None:
        """This item as the current manifest has it (its end may have moved), or None if it left."""
        manifest = self.manifest
        for other in manifest.items if manifest else ():
            if other.id == item.id and other.stream is not None:
                return other
        return None

    def _watch_stream(self, item: Item, proc: Any) -> str | None:
        """Wait while the player runs; stop it at the slot's end or when cut. None: it ended by
        itself or at the slot's end (played so far); else ``interrupted``."""
        while proc.poll() is None:
            current = self._current(item)
            now = self.clock.now()
            if self.stopping.is_set():
                self.player.stop(proc)
                return "interrupted"
            if not item.urgent and (urgent := self._urgent_due()) is not None:
                log.warning("emergency %s interrupts the relay %s", urgent.id, item.id)
                self.player.stop(proc)
                return "interrupted"
            if current is None or now >= current.ends_at:
                self.player.stop(proc)
                return None
            self.wake.wait(min(PLAY_CHECK_S, max(0.01, (current.ends_at - now).total_seconds())))
            self.wake.clear()
        return "interrupted" if self.stopping.is_set() else None

    def _finish(self, item: Item, result: str, started: datetime, ended: datetime, error: str | None = None,
                extra: dict[str, Any] | None = None) -> None:
        report: dict[str, Any] | None = None
        if result != "skipped":
            report = {"item_id": item.id, "bulletin_id": item.bulletin_id, "started_at": iso(started),
                      # A new clock sample during the play must not make it end before it began.
                      "ended_at": iso(max(started, ended)), "result": result, **(extra or {})}
            if error:
                report["error"] = error[:500]
        self.outbox.finish(item.key, result, report)
        if report is not None:
            self.send_now.set()

    # --- reporting ---------------------------------------------------------------------------

    def _set_status(self, status: str, error: str | None = None) -> None:
        changed = status != self.status
        self.status, self.error = status, error
        if changed:
            self._queue_heartbeat()
            self.send_now.set()

    def heartbeat_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "status": self.status, "volume": self.settings.volume, "at": iso(self.clock.now()),
            "agent": f"grassroots-hub-agent/{__version__}", "manifest_etag": self.etag,
            "clock_offset_s": round(self.clock.offset_s, 3), "queued_reports": self.outbox.pending_plays(),
            "skipped": self.skipped, "player": self.player.describe()[:200],
            "refused_manifests": self.trust.refused,
        }
        if self.error:
            payload["error"] = self.error[:500]
        return payload

    def _queue_heartbeat(self) -> None:
        self.outbox.add_heartbeat(self.heartbeat_payload())

    def first_heartbeat_delay(self) -> float:
        """A random part of one interval: a fleet that starts together (power back in a whole
        district, a new agent rolled out) must not write its heartbeats in the same instant as it
        subscribes, nor keep them in step afterwards."""
        return random.uniform(0.0, self.settings.heartbeat_s)

    def _send_loop(self) -> None:
        with closing(self._client()) as client:
            self._send(client)

    def _send(self, client: HubClient) -> None:
        failures = 0
        retry_at = time.monotonic()
        next_beat = retry_at + self.first_heartbeat_delay()
        while not self.stopping.is_set():
            self.send_now.clear()
            if time.monotonic() >= next_beat:
                self._queue_heartbeat()
                next_beat = time.monotonic() + self.settings.heartbeat_s
            if time.monotonic() < self.quiet_until:
                self.send_now.wait(self.quiet_until - time.monotonic())
                continue
            if time.monotonic() >= retry_at:
                try:
                    self.deliver(client)
                    failures = 0
                except (HubDown, Refused) as exc:
                    failures += 1
                    retry_at = time.monotonic() + self._backoff(failures)
                    log.log(logging.WARNING if failures == 1 else logging.DEBUG,
                            "reports: %s; %d play report(s) queued, retrying with backoff", exc,
                            self.outbox.pending_plays())
            wake_at = next_beat if failures == 0 else min(next_beat, retry_at)
            self.send_now.wait(max(0.0, wake_at - time.monotonic()))

    def deliver(self, client: HubClient) -> None:
        """Send queued play reports, then the newest heartbeat; each is deleted once the hub has it."""
        while batch := self.outbox.plays(self.settings.batch_size):
            try:
                answer = client.plays([body for _id, body in batch])
            except Refused as exc:
                if exc.status not in (413, 422):
                    raise
                self._deliver_one_by_one(client, batch)
            else:
                log.info("delivered %d play report(s): %s", len(batch), answer)
            self.outbox.remove([row_id for row_id, _body in batch])
        beat = self.outbox.heartbeat()
        if beat is not None:
            try:
                client.heartbeat(beat[1])
            except Refused as exc:
                if exc.status != 422:
                    raise
                log.error("the hub refused a heartbeat (%s); dropping it", exc)
            self.outbox.remove([beat[0]])

    def _deliver_one_by_one(self, client: HubClient, batch: list[tuple[int, dict[str, Any]]]) -> None:
        """A batch the hub refused: send each report alone and drop only those it refuses."""
        for row_id, body in batch:
            try:
                client.plays([body])
            except Refused as exc:
                if exc.status not in (413, 422):
                    raise
                log.error("the hub refused play report %s (%s); dropping it", body.get("report_id"), exc)
            self.outbox.remove([row_id])
