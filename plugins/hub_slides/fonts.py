"""Find fonts that cover Vietnamese on this machine and load them with the best layout engine."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont, features

log = logging.getLogger(__name__)

#: Letters whose glyphs a font must have: stacked marks (Ệ, Ẫ, Ặ), horn letters, đ, dot below.
VIETNAMESE_SAMPLE = "ĐđƠơƯưẠạẶặẪẫỆệỄễỊịỘộỢợỤụỮữỲỳỸỹ"
# A code point no font has, so its mask is the font's ".notdef" box.
_MISSING = "\U0010fffd"


class FontNotFoundError(RuntimeError):
    """No usable Vietnamese font was found; the message says what was tried."""


@functools.cache
def layout_engine() -> ImageFont.Layout:
    """Raqm shapes combining marks properly; basic layout is a degraded fallback."""
    if features.check("raqm"):
        return ImageFont.Layout.RAQM
    log.warning(
        "Pillow cannot load libraqm (PIL.features.check('raqm') is False): slides use basic text "
        "layout, so Vietnamese text that is not fully precomposed may show misplaced marks. "
        "Install libraqm0 (Debian) so Pillow finds libraqm.so.0 at run time."
    )
    return ImageFont.Layout.BASIC


@dataclass(frozen=True)
class FontFiles:
    regular: Path
    bold: Path


@functools.cache
def _index(dirs: tuple[Path, ...]) -> dict[str, Path]:
    """File name → path for every font under ``dirs``; the first in sorted walk order wins."""
    found: dict[str, Path] = {}
    for root in dirs:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.lower().endswith((".ttf", ".otf")):
                    found.setdefault(name, Path(dirpath) / name)
    return found


def missing_vietnamese(path: Path) -> str:
    """The sample letters ``path`` has no glyph for (empty when it covers Vietnamese)."""
    font = ImageFont.truetype(str(path), 32, layout_engine=layout_engine())
    notdef = bytes(font.getmask(_MISSING))
    return "".join(ch for ch in VIETNAMESE_SAMPLE if bytes(font.getmask(ch)) == notdef)


@functools.cache
def find_fonts(
    families: tuple[str, ...],
    dirs: tuple[Path, ...],
    regular: Path | None = None,
    bold: Path | None = None,
) -> FontFiles:
    """Explicit files if given, else the first family with both weights that covers Vietnamese."""
    if regular is not None and bold is not None:
        for path in (regular, bold):
            if not path.is_file():
                raise FontNotFoundError(f"slide font file {path} does not exist")
            if gaps := missing_vietnamese(path):
                raise FontNotFoundError(f"slide font {path} lacks Vietnamese letters: {gaps}")
        return FontFiles(regular, bold)

    index = _index(dirs)
    tried: list[str] = []
    for family in families:
        reg = index.get(f"{family}-Regular.ttf") or index.get(f"{family}.ttf")
        bld = index.get(f"{family}-Bold.ttf")
        if reg is None or bld is None:
            tried.append(f"{family} (regular or bold file not found)")
            continue
        gaps = missing_vietnamese(reg) + missing_vietnamese(bld)
        if gaps:
            tried.append(f"{family} (no glyphs for {''.join(sorted(set(gaps)))})")
            continue
        return FontFiles(reg, bld)
    raise FontNotFoundError(
        "no font for Vietnamese slides under "
        + ", ".join(str(d) for d in dirs)
        + "; tried "
        + "; ".join(tried)
        + ". Install fonts-noto-core or fonts-dejavu-core, or set HUB_SLIDES_FONT_REGULAR and "
        "HUB_SLIDES_FONT_BOLD."
    )


@functools.cache
def load(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size, layout_engine=layout_engine())
