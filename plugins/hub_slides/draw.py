"""Turn a slide plan into PNG bytes."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from .layout import Slide, shaping

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def draw(slide: Slide) -> Image.Image:
    image = Image.new("RGB", (slide.width, slide.height), slide.theme.background)
    pen = ImageDraw.Draw(image)
    for shape in slide.shapes:
        if shape.kind == "rect":
            (x0, y0), (x1, y1) = shape.points
            pen.rectangle((x0, y0, x1 - 1, y1 - 1), fill=shape.fill)
        else:
            pen.polygon(list(shape.points), fill=shape.fill)
    if slide.qr is not None:
        qr, m = slide.qr, slide.qr.module_px
        pen.rectangle((qr.x, qr.y, qr.x + qr.size - 1, qr.y + qr.size - 1), fill=WHITE)
        for r, row in enumerate(qr.matrix):
            for c, dark in enumerate(row):
                if dark:
                    x, y = qr.x + c * m, qr.y + r * m
                    pen.rectangle((x, y, x + m - 1, y + m - 1), fill=BLACK)
    for item in slide.texts:
        # The text is drawn as-is: nothing in it is markup, so "<script>" shows as those letters.
        pen.text((item.x, item.y), item.text, font=item.font, fill=item.fill, anchor="la", **shaping())
    return image


def to_png(image: Image.Image, compress_level: int = 9) -> bytes:
    """An indexed PNG with no timestamps or metadata, so identical slides give identical bytes.

    A slide is a few flat colours plus anti-aliasing, so 256 octree colours without dithering
    differ from the RGB original by at most a few levels per channel and halve the file size.
    """
    indexed = image.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    indexed.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()
