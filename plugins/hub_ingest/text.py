"""Imported text made fit for a bulletin: HTML to clean paragraphs, whitespace tidied, lengths kept.

The stripper is the standard library's ``html.parser`` (BeautifulSoup is not a dependency of the
hub): it never builds a tree, tolerates broken markup, and unescapes entities itself.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

#: Elements whose content is never text for a reader or a listener.
_SKIP = frozenset({"script", "style", "noscript", "template", "iframe", "object", "svg", "math", "head", "title"})
#: Elements that start and end a paragraph.
_BLOCKS = frozenset({
    "p", "div", "section", "article", "header", "footer", "aside", "main", "nav", "blockquote", "pre",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "table", "tr", "figure", "figcaption",
    "form", "fieldset", "address", "hr",
})
#: Elements that end a line without ending the paragraph.
_LINES = frozenset({"br", "li", "dt", "dd"})
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "wbr"})

#: Said (and shown) in place of what was cut from a text over the bulletin limit.
TRUNCATION_NOTE = "[Nội dung dài hơn giới hạn đã được rút gọn.]"


class _Stripper(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP and tag not in _VOID:
            self.skipping.append(tag)
        elif self.skipping:
            return
        elif tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag in _LINES:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs) -> None:
        if self.skipping:
            return
        if tag in _BLOCKS:
            self.parts.append("\n\n")
        elif tag in _LINES:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag == self.skipping[-1]:
                self.skipping.pop()
            elif tag in self.skipping:
                # Unbalanced markup: close back to the matching element rather than skip forever.
                del self.skipping[self.skipping.index(tag):]
            return
        if tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment, with entities unescaped and paragraph breaks kept."""
    stripper = _Stripper()
    stripper.feed(html)
    stripper.close()
    return tidy("".join(stripper.parts))


def tidy(text: str) -> str:
    """NFC, no invisible characters, single spaces, lines trimmed, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[\u200b\u200c\u200d\u2060\ufeff]", "", text)
    text = re.sub(r"[^\S\n]+", " ", text)  # any whitespace but newlines, \xa0 included
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", tidy(text)).strip()


def fit(text: str, limit: int, note: str = TRUNCATION_NOTE) -> tuple[str, bool]:
    """``text`` if it fits in ``limit`` characters, else cut at a word boundary with ``note`` appended."""
    if len(text) <= limit:
        return text, False
    room = limit - len(note) - 2
    cut = text[:room]
    space = cut.rfind(" ")
    if space > room * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…\n" + note, True


def fit_title(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + "…"
