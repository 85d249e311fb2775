"""CAP 1.2 out: ``/cap/{id}.xml`` for each approved emergency, and ``/feeds/cap.atom`` listing them.

Only emergency bulletins published on the web channel are alerts here: the web channel is the
department's consent to publish a bulletin on the open internet, and CAP output is public.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from feedgen.feed import FeedGenerator

from hub.plugin_api import NotFound, ReadSession, __version__, local, publication, utcnow

from .caching import cached
from .feeds import EMPTY_UPDATED, new_entry, page_url
from .settings import WebSettings
from .text import xml_safe

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_MIME = "application/cap+xml"
#: CAP recommends headlines under 160 characters (some receivers cut them there).
HEADLINE_MAX = 160


def cap_time(moment: datetime) -> str:
    """CAP 1.2 dateTime: seconds, an explicit offset, never "Z" (local time, +07:00)."""
    return local(moment).replace(microsecond=0).isoformat()


def identifier(bulletin_id: str, revision: int) -> str:
    # Each approved revision is its own message; a later one refers to the earlier as an Update.
    return f"{bulletin_id}-r{revision}"


def cap_url(public_url: str, bulletin_id: str) -> str:
    return f"{public_url.rstrip('/')}/cap/{quote(bulletin_id, safe='')}.xml"


def _headline(title: str) -> str:
    title = " ".join(title.split())
    return title if len(title) <= HEADLINE_MAX else title[: HEADLINE_MAX - 1].rstrip() + "…"


def expires(bulletin: publication.PublicBulletin, web: WebSettings) -> datetime:
    """The bulletin's valid_until, else ``HUB_WEB_CAP_EXPIRES_H`` after it takes effect."""
    if bulletin.valid_until:
        return bulletin.valid_until
    effective = max(bulletin.valid_from or bulletin.approved_at, bulletin.approved_at)
    return effective + timedelta(hours=web.cap_expires_h)


def ready(bulletin: publication.PublicBulletin | None) -> bool:
    """An alert is published once, whole: not while its approved revision's audio is being made.

    CAP receivers de-duplicate on sender + identifier + sent, so a document that later gained its
    <resource> would never reach whoever fetched it first (issue 17). A render that failed is
    finished too: the alert then goes out without audio rather than not at all.
    """
    return bulletin is not None and not bulletin.rendering


def _description(body: str, instruction: str) -> str:
    """The body, without the instruction where the body ends with it (CAP-in puts the instruction in
    the spoken body too, so that the loudspeakers say it): an alert then says it once."""
    if instruction and body.rstrip().endswith(instruction) and body.rstrip() != instruction:
        return body.rstrip()[: -len(instruction)].rstrip()
    return body


def _degrees(value: float) -> str:
    # Six decimals are about 0.1 m: finer than any commune boundary is drawn.
    return f"{float(value):.6f}".rstrip("0").rstrip(".")


def polygons(boundaries: tuple[dict[str, Any], ...]) -> list[str]:
    """CAP <polygon> values for GeoJSON Polygon/MultiPolygon geometries: each outer ring as
    space-separated "lat,lon" pairs, first and last the same (CAP 1.2 §3.3.2.3; GeoJSON, RFC 7946
    §3.1.6, gives positions as [lon, lat]). Holes have no CAP form and are left out."""
    rings = []
    for shape in boundaries:
        parts = [shape["coordinates"]] if shape.get("type") == "Polygon" else shape.get("coordinates", [])
        for polygon in parts:
            outer = polygon[0]
            rings.append(" ".join(f"{_degrees(lat)},{_degrees(lon)}" for lon, lat, *_rest in outer))
    return rings


def cap_document(bulletin: publication.PublicBulletin, settings: Any, web: WebSettings,
                 previous: tuple[int, datetime] | None = None) -> bytes:
    """One CAP 1.2 <alert> for an emergency bulletin, UTF-8 with an XML declaration."""
    sender = web.sender(settings.public_url)
    base = settings.public_url.rstrip("/")

    def add(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
        if text is not None:
            element.text = xml_safe(text)
        return element

    alert = ET.Element(f"{{{CAP_NS}}}alert")
    add(alert, "identifier", identifier(bulletin.id, bulletin.revision))
    add(alert, "sender", sender)
    add(alert, "sent", cap_time(bulletin.approved_at))
    add(alert, "status", "Actual")
    add(alert, "msgType", "Update" if previous else "Alert")
    add(alert, "scope", "Public")
    if previous:
        revision, sent = previous
        add(alert, "references", f"{sender},{identifier(bulletin.id, revision)},{cap_time(sent)}")

    info = add(alert, "info")
    add(info, "language", "vi-VN")
    # The editor's choice for this bulletin, else the department's defaults (HUB_WEB_CAP_*).
    add(info, "category", bulletin.cap_category or web.cap_category)
    add(info, "event", bulletin.cap_event or web.cap_event)
    add(info, "urgency", "Immediate")
    add(info, "severity", web.cap_severity)
    add(info, "certainty", web.cap_certainty)
    effective = max(bulletin.valid_from or bulletin.approved_at, bulletin.approved_at)
    add(info, "effective", cap_time(effective))
    # Always an <expires>: aggregators drop alerts without one (Google Public Alerts requires it).
    add(info, "expires", cap_time(expires(bulletin, web)))
    add(info, "senderName", settings.province)
    add(info, "headline", _headline(bulletin.title))
    instruction = (bulletin.instruction or web.cap_instruction).strip()
    add(info, "description", _description(bulletin.body, instruction))
    if instruction:
        add(info, "instruction", instruction)
    add(info, "web", page_url(base, bulletin.id))
    if web.cap_contact.strip():
        add(info, "contact", web.cap_contact.strip())
    if bulletin.audio is not None:
        resource = add(info, "resource")
        add(resource, "resourceDesc", "Bản tin âm thanh")
        add(resource, "mimeType", bulletin.audio.mime)
        add(resource, "size", str(bulletin.audio.bytes))
        add(resource, "uri", bulletin.audio.url(base))
    area = add(info, "area")
    if bulletin.everywhere:
        add(area, "areaDesc", settings.province)
    else:
        add(area, "areaDesc", ", ".join(name for _code, name in bulletin.communes) or settings.province)
    for ring in polygons(bulletin.boundaries):
        add(area, "polygon", ring)
    for code, _name in bulletin.communes:
        geocode = add(area, "geocode")
        add(geocode, "valueName", "commune")
        add(geocode, "value", code)
    return ET.tostring(alert, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)


def cap_feed(items: list[publication.PublicBulletin], settings: Any, web: WebSettings) -> bytes:
    base = settings.public_url.rstrip("/")
    fg = FeedGenerator()
    fg.id(base + "/feeds/cap.atom")
    fg.title(xml_safe(f"Cảnh báo khẩn cấp — {settings.province}"))
    fg.subtitle("CAP 1.2")
    fg.link(href=base + "/feeds/cap.atom", rel="self")
    fg.link(href=base + "/", rel="alternate")
    fg.language("vi")
    fg.author({"name": xml_safe(web.podcast_author or settings.province)})
    fg.generator("grassroots-hub", version=__version__)
    fg.updated(max((item.approved_at for item in items), default=EMPTY_UPDATED))
    for item in items:
        entry = new_entry(fg)
        entry.id(f"{cap_url(base, item.id)}#r{item.revision}")
        entry.title(xml_safe(item.title))
        entry.link(href=cap_url(base, item.id), rel="alternate", type=CAP_MIME)
        entry.link(href=page_url(base, item.id), rel="related", type="text/html")
        entry.published(item.approved_at)
        entry.updated(item.approved_at)
        entry.summary(xml_safe(_headline(item.title)))
    return fg.atom_str(pretty=True)


def make_router(settings: Any, web: WebSettings) -> APIRouter:
    router = APIRouter(tags=["web"])

    # Declared before the commune feeds' /feeds/{commune}.atom, which it would otherwise match.
    @router.get("/feeds/cap.atom", response_class=Response)
    def cap_atom(request: Request, db: ReadSession) -> Response:
        """An Atom index of the emergency alerts in force, each linking to its CAP 1.2 document."""
        items = [item for item in publication.published(db, now=utcnow(), priority="emergency", limit=web.feed_limit)
                 if ready(item)]
        return cached(request, cap_feed(items, settings, web), "application/atom+xml; charset=utf-8",
                      web.max_age_s)

    @router.get("/cap/{bulletin_id}.xml", response_class=Response)
    def cap_alert(bulletin_id: str, request: Request, db: ReadSession) -> Response:
        """The CAP 1.2 alert of an approved emergency bulletin in force; 404 for anything else."""
        bulletin = publication.published_one(db, bulletin_id, now=utcnow())
        if bulletin is None or bulletin.priority != "emergency":
            raise NotFound("no emergency alert with this id")
        if not ready(bulletin):
            raise NotFound("this alert is published once its audio is ready (in a few seconds)")
        previous = publication.previous_approval(db, bulletin.id, bulletin.revision)
        return cached(request, cap_document(bulletin, settings, web, previous), CAP_MIME, web.max_age_s)

    return router
