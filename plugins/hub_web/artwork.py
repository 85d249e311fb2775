"""The feeds' default podcast artwork: a square PNG with the province's name, drawn with Pillow.

Apple Podcasts refuses a show without artwork (square, 1400-3000 px, JPEG or PNG), and most apps
show a blank tile; so when HUB_WEB_PODCAST_IMAGE_URL is unset the hub draws one at the largest
size Apple takes, once per province name, and keeps it in its cache folder.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, features

SIZE = 3000
PATH = "/feeds/artwork.png"
#: Bumped when the drawing changes, so that a cached file of the old design is not served.
DESIGN = "1"
BACKGROUND = (139, 26, 26)
FOREGROUND = (255, 255, 255)
ACCENT = (245, 197, 66)
FONT_FILES = ("/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
              "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    layout = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    for path in FONT_FILES:
        if Path(path).is_file():
            return ImageFont.truetype(path, size, layout_engine=layout)
    return ImageFont.load_default(size)


def _lines(draw: ImageDraw.ImageDraw, text: str, size: int, width: int) -> list[str]:
    font = _font(size)
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(trial, font=font) <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, max_lines: int = 3) -> tuple[int, list[str]]:
    """The largest font size (down to 120 px) at which ``text`` fits ``width`` in ``max_lines``."""
    for size in range(420, 119, -20):
        lines = _lines(draw, text, size, width)
        font = _font(size)
        if len(lines) <= max_lines and all(draw.textlength(line, font=font) <= width for line in lines):
            return size, lines
    return 120, _lines(draw, text, 120, width)


def draw(province: str) -> bytes:
    """The artwork as PNG bytes: a loudspeaker, "BẢN TIN" and the province's name."""
    image = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    pen = ImageDraw.Draw(image)
    # A loudspeaker horn with three sound waves, centred above the text.
    cx, cy = SIZE // 2 - 250, 820
    pen.rectangle((cx - 330, cy - 130, cx - 150, cy + 130), fill=FOREGROUND)
    pen.polygon([(cx - 150, cy - 130), (cx + 150, cy - 330), (cx + 150, cy + 330), (cx - 150, cy + 130)],
                fill=FOREGROUND)
    for step, radius in enumerate((300, 450, 600)):
        box = (cx + 150 - radius + 120, cy - radius, cx + 150 + radius + 120, cy + radius)
        pen.arc(box, start=-40, end=40, fill=ACCENT if step == 0 else FOREGROUND, width=70)
    title = _font(260)
    heading = "BẢN TIN"
    pen.text((SIZE // 2, 1500), heading, font=title, fill=ACCENT, anchor="mm")
    size, lines = _fit(pen, province.strip() or "grassroots-hub", SIZE - 400)
    font = _font(size)
    top = 1850
    for index, line in enumerate(lines):
        pen.text((SIZE // 2, top + index * int(size * 1.2)), line, font=font, fill=FOREGROUND, anchor="ma")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class Artwork:
    """The drawn PNG, kept in memory and in ``cache_dir`` (drawn at most once per name and design)."""

    def __init__(self, province: str, cache_dir: Path) -> None:
        self.province = province
        key = hashlib.sha256(f"{DESIGN}\0{province}".encode()).hexdigest()[:16]
        self.path = Path(cache_dir) / "web" / f"artwork-{key}.png"
        self._data: bytes | None = None
        self._lock = threading.Lock()

    def png(self) -> bytes:
        with self._lock:
            if self._data is None:
                self._data = self._load()
            return self._data

    def _load(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError:
            pass
        data = draw(self.province)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(data)
            os.replace(partial, self.path)
        except OSError:
            pass  # A read-only data folder only costs a redraw at the next start.
        return data
