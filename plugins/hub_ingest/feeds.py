"""RSS and Atom sources: stored feeds, polled with conditional GET; each new entry becomes a pending bulletin.

A poll never raises: whatever goes wrong with a feed (unreachable, HTTP error, not a feed, one bad
entry) is stored in the source's ``last_error`` and the poller carries on with the next source.
Entries are deduplicated by ``source = "rss:<source id>"`` and ``source_ref = guid`` (or link), the
same idempotency the bulletins API gives every client, so several pollers may run at once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import feedparser
import httpx

from hub.plugin_api import Hub, HubError, Invalid

from .settings import IngestSettings
from .text import fit, fit_title, html_to_text, one_line, tidy

log = logging.getLogger(__name__)
CHANNELS = ["speaker", "display", "web"]
SOURCE_REF_MAX = 500
ERROR_MAX = 2000
FIRST_POLL_AFTER_S = 10.0
ACCEPT = "application/rss+xml, application/atom+xml, application/feed+xml;q=0.9, application/xml;q=0.8, */*;q=0.5"


class FeedError(Exception):
    """This poll of this feed failed; the message goes to the source's last_error."""


def source_name(source_id: str) -> str:
    return f"rss:{source_id}"


# --- Sources ---------------------------------------------------------------------------------------


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"feed URL must be http:// or https:// with a host, not {url!r}")
    if len(url) > 2000 or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise Invalid("feed URL must be at most 2000 characters, with no spaces or control characters")
    return url


def add_source(hub: Hub, url: str, commune: str | None = None) -> dict[str, Any]:
    """Store a feed to poll; its entries will target ``commune``, or every commune when None."""
    return hub.services.sources.add_feed(check_url(url), commune)


def list_sources(hub: Hub) -> list[dict[str, Any]]:
    return [source.view() for source in hub.services.sources.feeds()]


# --- Polling ---------------------------------------------------------------------------------------


@dataclass
class PollResult:
    source: str
    url: str
    #: "fetched", "not-modified" or "error".
    outcome: str
    created: int = 0
    seen: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def poll_once(hub: Hub, settings: IngestSettings, *, stop: threading.Event | None = None) -> list[PollResult]:
    """Poll every active source once, one after the other."""
    ids = [source.id for source in hub.services.sources.feeds() if source.active]
    results = []
    with http_client(settings) as client:
        for source_id in ids:
            if stop is not None and stop.is_set():
                break
            results.append(poll_source(hub, settings, source_id, client))
    return results


def http_client(settings: IngestSettings) -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(settings.fetch_timeout_s), follow_redirects=True,
                        headers={"User-Agent": settings.user_agent, "Accept": ACCEPT})


def poll_source(hub: Hub, settings: IngestSettings, source_id: str, client: httpx.Client) -> PollResult:
    """Fetch one feed and import its new entries; never raises for anything the feed does."""
    source = hub.services.sources.feed(source_id)
    if source is None:
        return PollResult(source_id, "", "error", error="source not found")
    result = PollResult(source.id, source.url, "fetched")
    etag, modified = source.etag, source.modified
    errors: list[str] = []
    try:
        fetched = _fetch(client, source, settings.max_feed_bytes)
        if fetched is None:
            result.outcome = "not-modified"
        else:
            data, etag, modified, content_type = fetched
            for entry in _entries(data, content_type):
                try:
                    created = _import(hub, source, entry)
                except (HubError, FeedError) as exc:
                    errors.append(f"entry {entry.get('id') or entry.get('link') or '?'}: {getattr(exc, 'detail', exc)}")
                    continue
                result.created += created
                result.seen += not created
    except FeedError as exc:
        errors.insert(0, str(exc))
    except Exception as exc:  # a poller must outlive any feed; the traceback goes to the log
        log.exception("polling %s failed", source.url)
        errors.insert(0, f"unexpected error: {type(exc).__name__}: {exc}")
    if errors and result.created == 0 and result.seen == 0:
        result.outcome = "error"
    result.error = "; ".join(errors)[:ERROR_MAX] or None
    # Validators are kept only after a clean poll, so entries that failed are fetched and tried again.
    etag, modified = (None, None) if errors else (_clip(etag, 500), _clip(modified, 200))
    hub.services.sources.record_poll(source.id, error=result.error, etag=etag, modified=modified)
    if result.created:
        log.info("feed %s: %d new bulletin(s) pending approval", source.url, result.created)
    return result


def _clip(value: str | None, size: int) -> str | None:
    return value if value is None or len(value) <= size else None


def _fetch(client: httpx.Client, source: Any, limit: int) -> tuple[bytes, str | None, str | None, str] | None:
    """The feed's bytes, validators and content type, or None for 304 Not Modified."""
    headers = {}
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.modified:
        headers["If-Modified-Since"] = source.modified
    try:
        with client.stream("GET", source.url, headers=headers) as response:
            if response.status_code == 304:
                return None
            if response.status_code != 200:
                raise FeedError(f"HTTP {response.status_code} from {source.url}")
            chunks, total = [], 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > limit:
                    raise FeedError(f"feed larger than HUB_INGEST_MAX_FEED_BYTES ({limit} bytes)")
                chunks.append(chunk)
            return (b"".join(chunks), response.headers.get("etag"), response.headers.get("last-modified"),
                    response.headers.get("content-type", ""))
    except httpx.HTTPError as exc:
        raise FeedError(f"cannot fetch {source.url}: {type(exc).__name__}: {exc}") from None


def _entries(data: bytes, content_type: str = "") -> list[Any]:
    if re.search(rb"<!ENTITY", data, re.IGNORECASE):
        # feedparser keeps external entities off, but a feed has no business declaring any.
        raise FeedError("the feed declares XML entities; refused")
    # Bytes, never a URL: feedparser would otherwise fetch on its own, without our limits.
    # The HTTP content type goes along so that feedparser honours a charset given only there.
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False,
                              response_headers={"content-type": content_type} if content_type else None)
    if not parsed.entries:
        if parsed.bozo or not parsed.version:
            reason = parsed.get("bozo_exception") or "no RSS or Atom structure found"
            raise FeedError(f"not a readable RSS or Atom feed: {reason}")
        return []
    # Feeds list the newest first; importing oldest first keeps the hub's order the feed's order.
    return list(reversed(parsed.entries))


def _text_of(detail: Any, fallback: str = "") -> str:
    if not detail:
        return fallback
    value = detail.get("value", "") or ""
    if "html" in (detail.get("type") or ""):
        return html_to_text(value)
    return tidy(value)


def entry_content(entry: Any, title_max: int) -> tuple[str, str, str] | None:
    """(title, body, source_ref) of a feed entry, as clean text; None when it has neither title nor body."""
    title = one_line(_text_of(entry.get("title_detail"), entry.get("title", "")))
    # The full content when the feed gives it (RSS content:encoded, Atom content), else the summary.
    bodies = [_text_of(item) for item in entry.get("content") or []]
    body = max(bodies, key=len) if any(bodies) else _text_of(entry.get("summary_detail"), entry.get("summary", ""))
    if not title and not body:
        return None
    title = fit_title(title or one_line(body.split("\n", 1)[0]), title_max)
    ref = entry.get("id") or entry.get("guid") or entry.get("link") or \
        "sha256:" + hashlib.sha256(f"{title}\n{body}".encode()).hexdigest()
    if len(ref) > SOURCE_REF_MAX:
        ref = "sha256:" + hashlib.sha256(ref.encode()).hexdigest()
    return title, body or title, ref


def _import(hub: Hub, source: Any, entry: Any) -> bool:
    """Create and submit the entry's bulletin (the same ingest CAP uses); False when it was imported
    before, by this poller or another hub process's."""
    found = entry_content(entry, hub.services.bulletins.TITLE_MAX)
    if found is None:
        raise FeedError("the entry has neither a title nor text")
    title, body, ref = found
    bulletins = hub.services.bulletins
    # Over-long texts are cut with a note rather than refused: a feed cannot be asked to shorten.
    body, _truncated = fit(body, bulletins.BODY_MAX)
    content = bulletins.Content(title=title, body=body, priority="normal", channels=list(CHANNELS),
                                targets=[source.commune] if source.commune else ["*"])
    with hub.services.transaction() as tx:
        author = hub.services.sources.system_principal(source_name(source.id), tx=tx)
        _view, created = bulletins.ingest(author, content, source=source_name(source.id), source_ref=ref, tx=tx)
    return created


# --- The background poller -------------------------------------------------------------------------


class Poller:
    """A daemon thread that polls every source every ``HUB_INGEST_POLL_S`` seconds."""

    def __init__(self, hub: Hub, settings: IngestSettings) -> None:
        self.hub = hub
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "Poller":
        if self.settings.poll_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hub-ingest-poller", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.settings.fetch_timeout_s + 1 if timeout is None else timeout)

    def _run(self) -> None:
        # A short pause first: start-up (migrations, the first requests) goes before feed traffic.
        self._stop.wait(min(self.settings.poll_s, FIRST_POLL_AFTER_S))
        while not self._stop.is_set():
            try:
                poll_once(self.hub, self.settings, stop=self._stop)
            except Exception:
                log.exception("feed poll failed")
            self._stop.wait(self.settings.poll_s)


def start_poller(hub: Hub, settings: IngestSettings | None = None) -> Poller:
    """Start polling feeds in the background (nothing when ``HUB_INGEST_POLL_S=0``); stop() it on shutdown."""
    return Poller(hub, settings or IngestSettings()).start()
