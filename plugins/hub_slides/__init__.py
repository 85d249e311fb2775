"""Slides for electronic display boards (bảng tin điện tử): PNG pages per bulletin.

Each approved bulletin becomes 1920×1080 and 1080×1920 slides themed by priority, with the
province, communes, approval date, a QR code to its public page and "Trang x/y" on every page.
Layout rules and themes are documented in docs/slides.md.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

from hub import hookimpl
from hub.plugin_types import RenderContext, RenderedMedia, Renderer

from . import fonts, layout
from .draw import draw, to_png
from .settings import SlidesSettings
from .themes import THEMES, Theme, theme_for

__all__ = ["SlidesSettings", "THEMES", "Theme", "render", "plan_bulletin", "preview_slide", "hub_register_renderers",
           "hub_register_routes"]

#: Bump when the pixels for the same input change (part of the render job's identity).
VERSION = "1"
_FREETYPE_LOCK = threading.Lock()


def plan_bulletin(ctx: RenderContext, cfg: SlidesSettings) -> list[layout.Slide]:
    """Every slide of the bulletin, landscape set first, without drawing anything."""
    files = fonts.find_fonts(tuple(cfg.font_families), tuple(cfg.font_dirs), cfg.font_regular, cfg.font_bold)
    styles = layout.Styles.build(cfg, files)
    bulletin = ctx.bulletin
    slides: list[layout.Slide] = []
    for orientation in cfg.orientations:
        slides += layout.plan(
            orientation=orientation,
            title=bulletin.title,
            body=bulletin.body,
            province=ctx.province or getattr(ctx.settings, "province", ""),
            communes=[c.name for c in ctx.communes],
            approved_at=bulletin.approved_at,
            link=layout.public_link(ctx.settings.public_url, bulletin.id),
            theme=theme_for(bulletin.priority),
            styles=styles,
            cfg=cfg,
        )
    return slides


def preview_slide(settings: Any, *, title: str, body: str, priority: str, orientation: str,
                  cfg: SlidesSettings | None = None) -> tuple[bytes, int]:
    """The first slide of a not yet approved text as PNG bytes, and how many slides it makes."""
    cfg = cfg or SlidesSettings()
    with _FREETYPE_LOCK:
        files = fonts.find_fonts(tuple(cfg.font_families), tuple(cfg.font_dirs), cfg.font_regular, cfg.font_bold)
        slides = layout.plan(
            orientation=orientation, title=title, body=body, province=getattr(settings, "province", ""),
            communes=[], approved_at=None, link=getattr(settings, "public_url", "") or "-",
            theme=theme_for(priority), styles=layout.Styles.build(cfg, files), cfg=cfg,
        )
        image = draw(slides[0])
    return to_png(image, cfg.png_compress_level), len(slides)


def render(ctx: RenderContext, cfg: SlidesSettings | None = None) -> list[RenderedMedia]:
    cfg = cfg or SlidesSettings()
    # The cached font objects wrap FreeType faces, which must not be used by two threads at once;
    # render workers may be threads, so layout and drawing are serialised (encoding is not).
    with _FREETYPE_LOCK:
        slides = plan_bulletin(ctx, cfg)
    out: list[RenderedMedia] = []
    for slide in slides:  # one full-size image in memory at a time
        with _FREETYPE_LOCK:
            image = draw(slide)
        # What the core reads goes in the declared fields; meta is only shown on the artifact.
        out.append(RenderedMedia(
            kind="slide", mime="image/png", data=to_png(image, cfg.png_compress_level),
            meta={"width": slide.width, "height": slide.height, "theme": slide.theme.name},
            duration_s=slide.duration_s, orientation=slide.orientation, page=slide.page, pages=slide.pages,
        ))
    return out


@hookimpl
def hub_register_routes() -> list:
    from .routes import build_router

    return [build_router()]


@hookimpl
def hub_register_renderers(settings: Any) -> list[Renderer]:
    # Reading HUB_SLIDES_* here is cheap and validates them at start-up; fonts load on first use.
    cfg = SlidesSettings()
    return [Renderer(name="slides", channel="display", render=partial(render, cfg=cfg), version=VERSION)]
