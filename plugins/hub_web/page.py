"""The public page of one bulletin, ``/b/{id}``: what feeds and the slides' QR codes link to."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hub.plugin_api import NotFound, ReadSession, publication, utcnow

from .caching import SECURITY_HEADERS, cached
from .feeds import PRIORITY_LABELS, page_url
from .settings import WebSettings
from .text import local_text, paragraphs, xml_safe

TEMPLATES = Path(__file__).parent / "templates"


def environment() -> Environment:
    # Autoescape everything: every field of a bulletin is untrusted text.
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                       trim_blocks=True, lstrip_blocks=True)


def _policy(public_url: str) -> str:
    """Nothing runs on the page; images and audio come from the hub (or its public address)."""
    parts = urlsplit(public_url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    sources = f"'self' {origin}".strip()
    return (f"default-src 'none'; img-src {sources}; media-src {sources}; style-src 'unsafe-inline'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _where(bulletin: publication.PublicBulletin, province: str) -> str:
    if bulletin.everywhere:
        return f"Toàn {province[0].lower() + province[1:]}" if province else "Tất cả các xã"
    return ", ".join(name for _code, name in bulletin.communes)


def _summary(body: str, limit: int = 200) -> str:
    text = " ".join(xml_safe(body).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_page(env: Environment, bulletin: publication.PublicBulletin, settings: Any) -> str:
    public_url = settings.public_url.rstrip("/")
    label = PRIORITY_LABELS.get(bulletin.priority) if bulletin.priority != "normal" else None
    return env.get_template("bulletin.html").render(
        bulletin=bulletin, province=settings.province, public_url=public_url,
        page_url=page_url(public_url, bulletin.id), approved=local_text(bulletin.approved_at),
        # Whole seconds: HTML's <time datetime> takes at most three fraction digits, Python writes six.
        approved_iso=bulletin.approved_at.isoformat(timespec="seconds"),
        valid_until=local_text(bulletin.valid_until) if bulletin.valid_until else None,
        where=_where(bulletin, settings.province), paragraphs=paragraphs(bulletin.body),
        summary=_summary(bulletin.body), priority_label=label,
    )


def make_router(settings: Any, web: WebSettings) -> APIRouter:
    router = APIRouter(tags=["web"])
    env = environment()
    policy = _policy(settings.public_url)

    @router.get("/b/{bulletin_id}", response_class=HTMLResponse)
    def bulletin_page(bulletin_id: str, request: Request, db: ReadSession) -> Response:
        """The public page of an approved, current, web-channel bulletin; 404 for anything else."""
        bulletin = publication.published_one(db, bulletin_id, now=utcnow())
        if bulletin is None:
            # A person following a QR code gets a page; a program gets the hub's JSON error.
            if "text/html" in request.headers.get("accept", ""):
                page = env.get_template("not_found.html").render(
                    province=settings.province, public_url=settings.public_url.rstrip("/"))
                return HTMLResponse(page, status_code=404,
                                    headers={"Cache-Control": "no-store", "Content-Security-Policy": policy,
                                             **SECURITY_HEADERS})
            raise NotFound("bulletin not found")
        body = render_page(env, bulletin, settings).encode("utf-8", "replace")
        return cached(request, body, "text/html; charset=utf-8", web.max_age_s,
                      headers={"Content-Security-Policy": policy, "Referrer-Policy": "no-referrer"})

    return router
