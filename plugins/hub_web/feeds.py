"""Web feeds: RSS 2.0 with iTunes podcast tags and Atom (feedgen), JSON Feed 1.1 (by hand)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from hub.plugin_api import NotFound, ReadSession, __version__, publication, utcnow

from . import artwork
from .caching import cached
from .settings import WebSettings
from .text import body_html, duration_text, xml_safe

MEDIA_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
PRIORITY_LABELS = {"normal": "Thông thường", "priority": "Ưu tiên", "emergency": "Khẩn cấp"}
#: Atom's category scheme and RSS's category domain: the taxonomy of the terms above.
PRIORITY_SCHEME = "urn:grassroots-hub:priority"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
#: The "updated" date of a feed with no entries: fixed, so that its ETag stays stable.
EMPTY_UPDATED = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class FeedInfo:
    """Who the feed is for; ``path`` is its own path under the public URL."""

    title: str
    description: str
    path: str
    author: str


def image_url(public_url: str, web: WebSettings) -> str:
    """The podcast artwork: the configured one, else the hub's own drawing."""
    return web.podcast_image_url or public_url.rstrip("/") + artwork.PATH


def page_url(public_url: str, bulletin_id: str) -> str:
    return f"{public_url.rstrip('/')}/b/{quote(bulletin_id, safe='')}"


def guid(bulletin_id: str) -> str:
    """Stable across revisions and across a change of the hub's address."""
    try:
        return uuid.UUID(hex=bulletin_id).urn
    except ValueError:
        return f"urn:grassroots-hub:bulletin:{quote(bulletin_id, safe='')}"


class AtomEntry(FeedEntry):
    """A feed entry whose Atom links keep their rel, type and length.

    feedgen 1.0.0 writes them without these attributes (a shadowed variable in
    ``FeedEntry.atom_entry``), which turns an enclosure into a second alternate link.
    """

    def atom_entry(self, extensions: bool = True):
        entry = super().atom_entry(extensions)
        written = [child for child in entry if str(child.tag).rsplit("}", 1)[-1] == "link"]
        for element, link in zip(written, self.link() or []):
            for name in ("rel", "type", "hreflang", "title", "length"):
                if link.get(name):
                    element.set(name, str(link[name]))
        return entry


class AtomPodcast(BaseExtension):
    """itunes:author and itunes:image in Atom: feedgen's podcast extension writes them in RSS only."""

    def __init__(self) -> None:
        self.author: str | None = None
        self.image: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"itunes": ITUNES}

    def extend_atom(self, feed):
        if self.author:
            etree.SubElement(feed, f"{{{ITUNES}}}author").text = self.author
        if self.image:
            etree.SubElement(feed, f"{{{ITUNES}}}image", href=self.image)
        return feed


class AtomPodcastEntry(BaseEntryExtension):
    """An Atom entry's itunes:duration, as the RSS item has it."""

    def __init__(self) -> None:
        self.duration: str | None = None

    def extend_atom(self, entry):
        if self.duration:
            etree.SubElement(entry, f"{{{ITUNES}}}duration").text = self.duration
        return entry


def new_entry(fg: FeedGenerator) -> FeedEntry:
    return fg.add_entry(AtomEntry(), order="append")


def _generator(info: FeedInfo, items: list[publication.PublicBulletin], public_url: str, web: WebSettings,
               fmt: str) -> FeedGenerator:
    base = public_url.rstrip("/")
    image = image_url(public_url, web)
    fg = FeedGenerator()
    if fmt == "rss":
        fg.load_extension("podcast", atom=False, rss=True)
    else:
        fg.register_extension("atom_podcast", AtomPodcast, AtomPodcastEntry, atom=True, rss=False)
        fg.atom_podcast.author = xml_safe(info.author)
        fg.atom_podcast.image = image
        # <icon> is square by RFC 4287 (as is the artwork) and is what podcastparser reads as the
        # cover; <logo> is meant to be twice as wide as tall, so it is left out.
        fg.icon(image)
    fg.id(base + info.path)
    fg.title(xml_safe(info.title))
    fg.description(xml_safe(info.description))
    # Self first: feedgen gives RSS's single channel <link> the last link set.
    fg.link(href=base + info.path, rel="self")
    # With its type: podcast apps (gPodder's podcastparser) take only a text/html link as the home page.
    fg.link(href=base + "/", rel="alternate", type="text/html")
    fg.language("vi")
    fg.author({"name": xml_safe(info.author)})
    fg.generator("grassroots-hub", version=__version__)
    # The newest approval, not "now": the document then changes only when its content does.
    fg.updated(max((item.approved_at for item in items), default=EMPTY_UPDATED))
    fg.ttl(max(1, web.max_age_s // 60))
    fg.image(url=image, title=xml_safe(info.title), link=base + "/")
    if fmt == "rss":
        podcast = fg.podcast
        podcast.itunes_author(xml_safe(info.author))
        category = {"cat": web.podcast_category}
        if web.podcast_subcategory:
            category["sub"] = web.podcast_subcategory
        podcast.itunes_category(category)
        podcast.itunes_explicit("no")
        podcast.itunes_summary(xml_safe(info.description))
        podcast.itunes_type("episodic")
        podcast.itunes_image(image)
        if web.podcast_email:
            podcast.itunes_owner(name=xml_safe(info.author), email=web.podcast_email)
    for item in items:
        entry = fg.add_entry(order="append") if fmt == "rss" else new_entry(fg)
        entry.guid(guid(item.id), permalink=False)
        entry.title(xml_safe(item.title))
        entry.link(href=page_url(base, item.id), rel="alternate", type="text/html")
        entry.published(item.approved_at)
        entry.updated(item.approved_at)
        # Atom: the machine term with the Vietnamese label; RSS has room for the label only (feedgen
        # writes the label as the text and the scheme as the domain); JSON Feed's tags say the same.
        entry.category(term=item.priority, label=PRIORITY_LABELS.get(item.priority, item.priority),
                       scheme=PRIORITY_SCHEME)
        html = body_html(item.body) or "<p></p>"
        # Escaped HTML, then XML-escaped by lxml: a reader that renders it shows "<script>" as text.
        if fmt == "rss":
            entry.description(html)
        else:
            entry.content(html, type="html")
        if item.audio is not None:
            entry.enclosure(item.audio.url(base), str(item.audio.bytes), item.audio.mime)
        if fmt == "rss":
            entry.podcast.itunes_author(xml_safe(info.author))
            entry.podcast.itunes_explicit("no")
            # No itunes:summary: apps render it as HTML although Apple says text, so a body
            # holding markup would turn into markup there; <description> carries the text safely.
            if item.audio is not None and item.audio.duration_s is not None:
                entry.podcast.itunes_duration(duration_text(item.audio.duration_s))
        elif item.audio is not None and item.audio.duration_s is not None:
            entry.atom_podcast.duration = duration_text(item.audio.duration_s)
    return fg


def rss(info: FeedInfo, items: list[publication.PublicBulletin], public_url: str, web: WebSettings) -> bytes:
    return _generator(info, items, public_url, web, "rss").rss_str(pretty=True)


def atom(info: FeedInfo, items: list[publication.PublicBulletin], public_url: str, web: WebSettings) -> bytes:
    return _generator(info, items, public_url, web, "atom").atom_str(pretty=True)


def json_feed(info: FeedInfo, items: list[publication.PublicBulletin], public_url: str, web: WebSettings) -> bytes:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1), which feedgen does not write."""
    base = public_url.rstrip("/")
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": info.title,
        "home_page_url": base + "/",
        "feed_url": base + info.path,
        "description": info.description,
        "language": "vi",
        "authors": [{"name": info.author}],
        "items": [],
    }
    feed["icon"] = image_url(public_url, web)
    for item in items:
        entry: dict[str, Any] = {
            "id": guid(item.id),
            "url": page_url(base, item.id),
            "title": item.title,
            "content_text": item.body,
            "content_html": body_html(item.body),
            "date_published": item.approved_at.isoformat(),
            "date_modified": item.approved_at.isoformat(),
            "tags": [PRIORITY_LABELS.get(item.priority, item.priority)],
            "language": "vi",
        }
        if item.slides:
            entry["image"] = item.slides[0].image.url(base)
        if item.audio is not None:
            attachment: dict[str, Any] = {"url": item.audio.url(base), "mime_type": item.audio.mime,
                                          "size_in_bytes": item.audio.bytes, "title": item.title}
            if item.audio.duration_s is not None:
                attachment["duration_in_seconds"] = round(item.audio.duration_s, 3)
            entry["attachments"] = [attachment]
        feed["items"].append(entry)
    text = json.dumps(feed, ensure_ascii=False, indent=1)
    # Plain text by the spec; "<" and ">" are escaped too so that no content sniffer ever finds markup.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode("utf-8", "replace")


WRITERS: dict[str, Callable[[FeedInfo, list[publication.PublicBulletin], str, WebSettings], bytes]] = {
    "rss": rss, "atom": atom, "json": json_feed}


def make_router(settings: Any, web: WebSettings) -> APIRouter:
    router = APIRouter(tags=["web"])
    author = web.podcast_author or settings.province

    def info_for(db, commune: str, fmt: str) -> FeedInfo:
        path = f"/feeds/{quote(commune, safe='')}.{fmt}"
        if commune == "all":
            return FeedInfo(title=f"Bản tin {settings.province}", path=path, author=author,
                            description=f"Các bản tin đã được phê duyệt của {settings.province}")
        name = publication.commune_name(db, commune)
        if name is None:
            raise NotFound("no commune with this code")
        return FeedInfo(title=f"Bản tin {name}", path=path, author=author,
                        description=f"Các bản tin đã được phê duyệt gửi tới {name} ({settings.province})")

    def handler_for(fmt: str):
        def feed(commune: str, request: Request, db: ReadSession) -> Response:
            info = info_for(db, commune, fmt)
            items = publication.published(db, now=utcnow(), commune=None if commune == "all" else commune,
                              limit=web.feed_limit)
            body = WRITERS[fmt](info, items, settings.public_url, web)
            return cached(request, body, MEDIA_TYPES[fmt], web.max_age_s)

        feed.__name__ = f"feed_{fmt}"
        feed.__doc__ = f"The public {fmt} feed of a commune (or 'all'): approved, valid, web-channel bulletins."
        return feed

    drawn = artwork.Artwork(settings.province, settings.cache_dir)

    @router.get(artwork.PATH, response_class=Response)
    def podcast_artwork(request: Request) -> Response:
        """The default podcast artwork (3000x3000 PNG with the province's name)."""
        return cached(request, drawn.png(), "image/png", 86400)

    for fmt in WRITERS:
        router.add_api_route(f"/feeds/{{commune}}.{fmt}", handler_for(fmt), methods=["GET"],
                             response_class=Response)
    return router
