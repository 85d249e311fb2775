"""Settings of the slide renderer, read from ``HUB_SLIDES_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hub.plugin_api import split_csv

Orientation = Literal["landscape", "portrait"]


class SlidesSettings(BaseSettings):
    """Sizes are pixels on a 1080-pixel short side; minimums keep text readable from metres away."""

    model_config = SettingsConfigDict(env_prefix="HUB_SLIDES_", extra="ignore")

    #: Which slide sets to produce, e.g. ``landscape`` alone for boards mounted sideways only.
    orientations: Annotated[list[Orientation], NoDecode] = ["landscape", "portrait"]

    #: Font families tried in order; each must have ``<family>-Regular.ttf`` (or ``<family>.ttf``)
    #: and ``<family>-Bold.ttf`` somewhere under ``font_dirs`` and cover Vietnamese.
    font_families: Annotated[list[str], NoDecode] = ["NotoSans", "DejaVuSans"]
    font_dirs: Annotated[list[Path], NoDecode] = [
        Path("/usr/share/fonts"),
        Path("/usr/local/share/fonts"),
    ]
    #: Explicit font files; when set they win over ``font_families`` (both must be given).
    font_regular: Path | None = None
    font_bold: Path | None = None

    # The floors are the readability rule: text is paginated, never shrunk below them.
    body_px: int = Field(default=56, ge=48, le=160)
    title_px: int = Field(default=72, ge=56, le=200)
    header_px: int = Field(default=40, ge=36, le=120)
    banner_px: int = Field(default=84, ge=60, le=240)

    #: Words a passer-by reads per second; sets each slide's suggested display time.
    reading_words_per_s: float = Field(default=2.5, gt=0)
    min_duration_s: int = Field(default=8, ge=1)
    max_duration_s: int = Field(default=120, ge=1)

    #: zlib level for the PNGs: 9 is smallest; lower is faster on a weak worker.
    png_compress_level: int = Field(default=9, ge=0, le=9)

    @field_validator("orientations", "font_families", "font_dirs", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return split_csv(value)

    @model_validator(mode="after")
    def _check(self) -> SlidesSettings:
        if not self.orientations:
            raise ValueError("HUB_SLIDES_ORIENTATIONS needs at least one of landscape, portrait")
        if (self.font_regular is None) != (self.font_bold is None):
            raise ValueError("set both HUB_SLIDES_FONT_REGULAR and HUB_SLIDES_FONT_BOLD, or neither")
        if self.min_duration_s > self.max_duration_s:
            raise ValueError("HUB_SLIDES_MIN_DURATION_S is above HUB_SLIDES_MAX_DURATION_S")
        # Keep the order stable and drop repeats so output does not depend on how it was typed.
        self.orientations = [o for o in ("landscape", "portrait") if o in self.orientations]
        return self
