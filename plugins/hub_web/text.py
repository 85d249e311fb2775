"""Text helpers shared by the feeds, the page and CAP: XML-safe text, paragraphs, dates."""

from __future__ import annotations

import html
import re
from datetime import datetime

from hub.plugin_api import local

# XML 1.0 cannot carry these at all (not even escaped); lxml refuses them and ElementTree would
# write a document no parser accepts, so they are dropped from anything that goes into XML.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


def paragraphs(body: str) -> list[list[str]]:
    """Blank lines separate paragraphs; single line breaks stay line breaks."""
    text = xml_safe(body).replace("\r\n", "\n").replace("\r", "\n")
    result = []
    for block in _BLANK_LINE.split(text):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if lines:
            result.append(lines)
    return result


def body_html(body: str) -> str:
    """The body as escaped HTML paragraphs: readers render it, and nothing in it is markup."""
    return "".join("<p>" + "<br>".join(html.escape(line) for line in lines) + "</p>"
                   for lines in paragraphs(body))


def local_text(moment: datetime) -> str:
    """Vietnamese reading order: 08:30, 05/12/2026."""
    return local(moment).strftime("%H:%M, %d/%m/%Y")


def duration_text(seconds: float) -> str:
    total = max(0, round(seconds))
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"
