"""Colour themes, one per bulletin priority (Circular 39/2020: normal, priority, emergency)."""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Theme:
    """Everything that changes with priority; layout code reads colours only from here."""

    name: str
    background: RGB
    text: RGB
    header_background: RGB
    header_text: RGB
    #: Thin rule under the title and the running head.
    accent: RGB
    footer_text: RGB
    #: A full-width band under the header; ``None`` for no band.
    banner_label: str | None = None
    banner_background: RGB = (0, 0, 0)
    banner_text: RGB = (255, 255, 255)
    #: Draw warning triangles either side of the banner label.
    banner_warning_signs: bool = False


THEMES: dict[str, Theme] = {
    "normal": Theme(
        name="normal",
        background=(250, 250, 246),
        text=(20, 24, 32),
        header_background=(11, 61, 145),
        header_text=(255, 255, 255),
        accent=(11, 61, 145),
        footer_text=(70, 76, 90),
    ),
    "priority": Theme(
        name="priority",
        background=(255, 247, 228),
        text=(28, 20, 8),
        header_background=(154, 72, 0),
        header_text=(255, 255, 255),
        accent=(196, 98, 0),
        footer_text=(90, 62, 20),
        banner_label="ƯU TIÊN",
        banner_background=(245, 158, 11),
        banner_text=(28, 20, 8),
    ),
    # Red everywhere with a yellow-and-black band: unmistakable even from across a square.
    "emergency": Theme(
        name="emergency",
        background=(176, 0, 24),
        text=(255, 255, 255),
        header_background=(110, 0, 14),
        header_text=(255, 255, 255),
        accent=(255, 212, 0),
        footer_text=(255, 230, 230),
        banner_label="KHẨN CẤP",
        banner_background=(255, 212, 0),
        banner_text=(0, 0, 0),
        banner_warning_signs=True,
    ),
}


def theme_for(priority: str) -> Theme:
    """The theme for a priority; an unknown priority is a bug upstream, so it fails loudly."""
    try:
        return THEMES[priority]
    except KeyError:
        raise ValueError(f"no slide theme for priority {priority!r}; known: {', '.join(THEMES)}") from None
