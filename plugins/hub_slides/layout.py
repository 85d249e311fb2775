"""Where everything goes on each slide: a plan of rectangles, shapes, a QR code and text lines.

The plan is plain data so tests can check it (every text line's ink box lies in the safe area)
and the drawing step stays a dumb loop over it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import qrcode
from PIL import ImageFont

from hub.plugin_api import LOCAL_TZ

from . import fonts as fontlib
from . import text as textlib
from .settings import SlidesSettings
from .themes import RGB, Theme

SIZES = {"landscape": (1920, 1080), "portrait": (1080, 1920)}
#: Title-safe area (SMPTE): text keeps 5 % of each dimension clear, in case a TV overscans.
SAFE_FRACTION = 0.05
#: Seconds to notice a slide changed before reading starts.
NOTICE_S = 4
RULE_PX = 4
FOOTER_CAPTION = "Quét mã QR để xem toàn văn"
# Drawn with and without raqm alike; the extremes of Vietnamese ink set each line's box.
_TALL = "ẶỆẪỸỖÁÀẢÃẠĐƠƯ"
_DEEP = "gjpqyỵạẹịọụ"

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Style:
    """A font with the vertical extent of its Vietnamese ink, relative to the ascender line."""

    font: ImageFont.FreeTypeFont
    ink_top: int
    ink_bottom: int
    leading: int

    @property
    def pitch(self) -> int:
        return self.ink_bottom - self.ink_top + self.leading

    def measure(self, text: str) -> float:
        """Advance width: cheap enough to call for every word while wrapping."""
        return self.font.getlength(text, **shaping()) if text else 0.0

    def ink_width(self, text: str) -> float:
        """Right edge of the ink, which can pass the advance width (overhanging letters)."""
        return max(self.measure(text), ink_box(self.font, text)[2]) if text else 0.0

    def wrap(self, line: str, width: int) -> list[str]:
        """Wrap by advance width, then re-wrap by ink the rare row whose ink sticks out."""
        rows: list[str] = []
        for row in textlib.wrap(line, width, self.measure):
            rows += [row] if self.ink_width(row) <= width else textlib.wrap(row, width, self.ink_width)
        return rows


@dataclass(frozen=True)
class TextItem:
    """One line of text; ``x, y`` is its left-ascender anchor, ``box`` its measured ink."""

    text: str
    role: str
    font: ImageFont.FreeTypeFont
    x: int
    y: int
    fill: RGB
    box: Box


@dataclass(frozen=True)
class Shape:
    kind: str  # "rect" or "polygon"
    points: tuple[tuple[int, int], ...]
    fill: RGB


@dataclass(frozen=True)
class QRCodeItem:
    x: int
    y: int
    module_px: int
    matrix: tuple[tuple[bool, ...], ...]

    @property
    def size(self) -> int:
        return self.module_px * len(self.matrix)


@dataclass
class Slide:
    orientation: str
    width: int
    height: int
    page: int
    pages: int
    theme: Theme
    safe: Box
    shapes: list[Shape] = field(default_factory=list)
    texts: list[TextItem] = field(default_factory=list)
    qr: QRCodeItem | None = None
    words: int = 0
    duration_s: int = 0


@functools.lru_cache(maxsize=8192)
def ink_box(font: ImageFont.FreeTypeFont, text: str) -> Box:
    """Ink box relative to the left-ascender anchor; cached as wrapping and placing both ask."""
    return font.getbbox(text, anchor="la", **shaping())


def shaping() -> dict[str, str]:
    # Pillow refuses language hints without raqm; with it, "vi" selects Vietnamese glyph forms.
    return {"language": "vi"} if fontlib.layout_engine() == ImageFont.Layout.RAQM else {}


def make_style(path: Path, size: int, leading_em: float) -> Style:
    font = fontlib.load(path, size)
    ascent, descent = font.getmetrics()
    tall = font.getbbox(_TALL, anchor="la", **shaping())
    deep = font.getbbox(_DEEP, anchor="la", **shaping())
    return Style(
        font=font,
        ink_top=min(0, tall[1]),
        ink_bottom=max(ascent + descent, deep[3], tall[3]),
        leading=round(size * leading_em),
    )


@dataclass(frozen=True)
class Styles:
    province: Style
    sub: Style
    banner: Style
    title: Style
    body: Style
    running: Style
    footer: Style

    @classmethod
    def build(cls, cfg: SlidesSettings, files: fontlib.FontFiles) -> Styles:
        sub_px = max(36, cfg.header_px - 4)
        return cls(
            province=make_style(files.bold, cfg.header_px, 0.05),
            sub=make_style(files.regular, sub_px, 0.05),
            banner=make_style(files.bold, cfg.banner_px, 0.0),
            title=make_style(files.bold, cfg.title_px, 0.08),
            body=make_style(files.regular, cfg.body_px, 0.12),
            running=make_style(files.bold, cfg.body_px, 0.0),
            footer=make_style(files.regular, sub_px, 0.0),
        )


def _text(style: Style, role: str, text: str, x: int, top: int, fill: RGB) -> TextItem:
    """A line whose ink starts no higher than ``top``."""
    y = top - style.ink_top
    left, t, right, bottom = ink_box(style.font, text)
    return TextItem(text, role, style.font, x, y, fill, (x + left, y + t, x + right, y + bottom))


def _rect(box: Box, fill: RGB) -> Shape:
    return Shape("rect", ((box[0], box[1]), (box[2], box[3])), fill)


def public_link(public_url: str, bulletin_id: str) -> str:
    return public_url.rstrip("/") + "/b/" + quote(bulletin_id, safe="")


def qr_matrix(data: str) -> tuple[tuple[bool, ...], ...]:
    # Medium error correction survives glare and a dirty screen; border 4 is the quiet zone the
    # standard asks for, drawn white so the code also reads on the dark header band.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(data)
    code.make(fit=True)
    return tuple(tuple(bool(v) for v in row) for row in code.get_matrix())


def format_date(approved_at: datetime | None, with_time: bool) -> str:
    """Vietnamese style: ``Ngày 05/03/2026`` (with ``07:30`` in front for emergencies)."""
    if approved_at is None:
        return ""
    if approved_at.tzinfo is None:  # the hub stores UTC
        approved_at = approved_at.replace(tzinfo=timezone.utc)
    local = approved_at.astimezone(LOCAL_TZ)
    day = f"ngày {local:%d/%m/%Y}"
    return f"{local:%H:%M} {day}" if with_time else day[0].upper() + day[1:]


def communes_line(names: list[str], width: float, measure: textlib.Measure) -> str:
    """All commune names if they fit, else the first few and how many more."""
    if not names:
        return ""
    full = ", ".join(names)
    if measure(full) <= width:
        return full
    for keep in range(len(names) - 1, 0, -1):
        candidate = f"{', '.join(names[:keep])} và {len(names) - keep} xã, phường khác"
        if measure(candidate) <= width:
            return candidate
    return textlib.ellipsize(f"{len(names)} xã, phường", width, measure)


@dataclass(frozen=True)
class Row:
    """One unit of the text flow: a line of text, a gap, or a rule under the title."""

    kind: str  # "title", "body", "gap", "rule"
    height: int
    text: str = ""


@dataclass
class _Frame:
    """What every slide of one orientation shares: background, header, banner, geometry."""

    width: int
    height: int
    safe: Box
    gap: int
    shapes: list[Shape]
    texts: list[TextItem]
    qr: QRCodeItem
    content_top: int
    content_bottom: int
    footer_top: int
    left: int
    right: int


def _frame(
    orientation: str,
    province: str,
    communes: list[str],
    approved_at: datetime | None,
    link: str,
    theme: Theme,
    styles: Styles,
    cfg: SlidesSettings,
) -> _Frame:
    width, height = SIZES[orientation]
    mx, my = round(width * SAFE_FRACTION), round(height * SAFE_FRACTION)
    safe: Box = (mx, my, width - mx, height - my)
    gap = round(cfg.body_px * 0.5)

    # Header: province, communes and date on the left; the QR code on the right.
    matrix = qr_matrix(link)
    header_lines = styles.province.pitch + 2 * styles.sub.pitch
    module_px = max(2, header_lines // len(matrix))
    qr_size = module_px * len(matrix)
    header_inner = max(header_lines, qr_size)
    header_bottom = my + header_inner + round(my * 0.6)
    qr = QRCodeItem(safe[2] - qr_size, my + (header_inner - qr_size) // 2, module_px, matrix)
    text_width = safe[2] - safe[0] - qr_size - gap

    province = textlib.one_line(province)
    names = [n for n in (textlib.one_line(c) for c in communes) if n]
    lines = (
        (styles.province, textlib.ellipsize(province.upper(), text_width, styles.province.ink_width)),
        (styles.sub, communes_line(names, text_width, styles.sub.ink_width)),
        (styles.sub, format_date(approved_at, with_time=theme.name == "emergency")),
    )
    shapes = [
        _rect((0, 0, width, height), theme.background),
        _rect((0, 0, width, header_bottom), theme.header_background),
    ]
    texts: list[TextItem] = []
    top = my + (header_inner - header_lines) // 2
    for style, value in lines:
        if value:
            texts.append(_text(style, "header", value, mx, top, theme.header_text))
            top += style.pitch

    content_top = header_bottom + gap
    if theme.banner_label:
        band = styles.banner.pitch + round(cfg.banner_px * 0.4)
        shapes.append(_rect((0, header_bottom, width, header_bottom + band), theme.banner_background))
        label_w = round(styles.banner.ink_width(theme.banner_label))
        x = (width - label_w) // 2
        label_top = header_bottom + (band - styles.banner.pitch) // 2
        texts.append(_text(styles.banner, "banner", theme.banner_label, x, label_top, theme.banner_text))
        if theme.banner_warning_signs:
            size = round(cfg.banner_px * 0.9)
            offset = gap + size // 2 + size // 3
            for cx in (x - offset, x + label_w + offset):
                shapes.extend(_warning_sign(cx, header_bottom + band // 2, size, theme))
        content_top = header_bottom + band + gap

    # The footer sits on the bottom edge of the safe area.
    footer_top = safe[3] - (styles.footer.ink_bottom - styles.footer.ink_top)
    pad = cfg.body_px // 10  # air for letters whose ink starts left of their origin
    return _Frame(
        width, height, safe, gap, shapes, texts, qr,
        content_top=content_top,
        content_bottom=footer_top - gap,
        footer_top=footer_top,
        left=mx + pad,
        right=safe[2] - pad,
    )


def _flow(title: str, body: str, column: int, gap: int, styles: Styles) -> list[Row]:
    """Title lines, a rule, then body lines with a gap between paragraphs."""
    rows = [Row("title", styles.title.pitch, line) for line in styles.title.wrap(title, column)] if title else []
    body_paragraphs = textlib.paragraphs(body)
    if rows and body_paragraphs:
        rows.append(Row("rule", gap // 2 + RULE_PX + gap))
    for i, para in enumerate(body_paragraphs):
        if i:
            rows.append(Row("gap", gap))
        for line in para:
            rows += [Row("body", styles.body.pitch, piece) for piece in styles.body.wrap(line, column)]
    return rows


def _paginate(rows: list[Row], first_top: int, next_top: int, bottom: int) -> list[list[tuple[Row, int]]]:
    """Fill slides top-down; gaps and rules never start or end a slide."""
    pages: list[list[tuple[Row, int]]] = [[]]
    y = first_top
    for row in rows:
        spacer = row.kind in ("gap", "rule")
        if spacer and not pages[-1]:
            continue
        if y + row.height > bottom and pages[-1]:
            pages.append([])
            y = next_top
            if spacer:
                continue
        pages[-1].append((row, y))
        y += row.height
    for page_rows in pages:
        while page_rows and page_rows[-1][0].kind in ("gap", "rule"):
            page_rows.pop()
    return pages


def plan(
    *,
    orientation: str,
    title: str,
    body: str,
    province: str,
    communes: list[str],
    approved_at: datetime | None,
    link: str,
    theme: Theme,
    styles: Styles,
    cfg: SlidesSettings,
) -> list[Slide]:
    """Lay out one orientation's slides; text is paginated, never shrunk."""
    f = _frame(orientation, province, communes, approved_at, link, theme, styles, cfg)
    column = f.right - f.left
    title_text = textlib.one_line(title)
    # Continuation slides repeat the title on one line so a passer-by knows the topic.
    running_h = styles.running.pitch + f.gap + RULE_PX if title_text else 0
    if f.content_bottom - (f.content_top + running_h) < max(styles.title.pitch, styles.body.pitch):
        raise ValueError(f"HUB_SLIDES_* text sizes leave no room for a line of text on a {orientation} slide")

    pages = _paginate(
        _flow(title_text, body, column, f.gap, styles), f.content_top, f.content_top + running_h, f.content_bottom
    )
    total = len(pages)
    running_text = textlib.ellipsize(title_text, column, styles.running.ink_width) if title_text else ""
    slides: list[Slide] = []
    for number, page_rows in enumerate(pages, start=1):
        slide = Slide(orientation, f.width, f.height, number, total, theme, f.safe, list(f.shapes), list(f.texts), f.qr)
        if number > 1 and running_text:
            slide.texts.append(_text(styles.running, "running", running_text, f.left, f.content_top, theme.accent))
            rule_y = f.content_top + styles.running.pitch + f.gap // 2
            slide.shapes.append(_rect((f.left, rule_y, f.right, rule_y + RULE_PX), theme.accent))
        for row, row_y in page_rows:
            if row.kind == "rule":
                rule_y = row_y + f.gap // 2
                slide.shapes.append(_rect((f.left, rule_y, f.left + min(column, 240), rule_y + RULE_PX), theme.accent))
            elif row.kind in ("title", "body"):
                style = styles.title if row.kind == "title" else styles.body
                slide.texts.append(_text(style, row.kind, row.text, f.left, row_y, theme.text))
                slide.words += textlib.word_count(row.text)
        _footer(slide, f, number, total, styles, theme)
        seconds = NOTICE_S + slide.words / cfg.reading_words_per_s
        slide.duration_s = int(min(cfg.max_duration_s, max(cfg.min_duration_s, round(seconds))))
        slides.append(slide)
    return slides


def _footer(slide: Slide, f: _Frame, number: int, total: int, styles: Styles, theme: Theme) -> None:
    label = f"Trang {number}/{total}"
    label_w = math.ceil(styles.footer.ink_width(label))
    caption = textlib.ellipsize(FOOTER_CAPTION, f.safe[2] - f.safe[0] - label_w - f.gap, styles.footer.ink_width)
    slide.texts.append(_text(styles.footer, "footer", caption, f.safe[0], f.footer_top, theme.footer_text))
    slide.texts.append(_text(styles.footer, "page", label, f.safe[2] - label_w, f.footer_top, theme.footer_text))


def _warning_sign(cx: int, cy: int, size: int, theme: Theme) -> list[Shape]:
    """A road-sign style triangle with an exclamation mark, drawn as shapes (no font needed)."""
    h = round(size * 0.87)
    top, bottom = cy - h // 2, cy + h - h // 2
    bar_w = max(4, size // 9)
    x0, x1 = cx - bar_w // 2, cx + bar_w - bar_w // 2
    dot = top + h * 31 // 40
    return [
        Shape("polygon", ((cx, top), (cx + size // 2, bottom), (cx - size // 2, bottom)), theme.banner_text),
        _rect((x0, top + h * 3 // 10, x1, top + h * 7 // 10), theme.banner_background),
        _rect((x0, dot, x1, dot + bar_w), theme.banner_background),
    ]
