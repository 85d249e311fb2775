"""Text preparation and measured word wrap, independent of slide geometry."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

#: Vietnamese needs at most two combining marks on a letter (decomposed ệ = e + ◌̂ + ◌̣); more is
#: "zalgo" text whose marks would climb out of the line box, so extras are dropped.
MAX_MARKS = 2
_SPACES = re.compile(r"[^\S\n\u00a0\u202f]+")

Measure = Callable[[str], float]


def clean(text: str) -> str:
    """NFC, one kind of newline, no control/format/private characters, single spaces."""
    text = unicodedata.normalize("NFC", text or "")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    out: list[str] = []
    marks = 0
    for ch in text:
        if ch == "\n":
            out.append(ch)
            marks = 0
            continue
        category = unicodedata.category(ch)
        if ch == "\t" or category in ("Zl", "Zp"):
            ch, category = " ", "Zs"
        # Cf covers bidi overrides (U+202E) that would reorder what readers see; none is needed
        # for Vietnamese.
        if category in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        if category.startswith("M"):
            if marks >= MAX_MARKS:
                continue
            marks += 1
        else:
            marks = 0
        out.append(ch)
    return _SPACES.sub(" ", "".join(out))


def paragraphs(text: str) -> list[list[str]]:
    """Paragraphs (split on blank lines), each a list of its lines (single newlines are kept)."""
    result: list[list[str]] = []
    current: list[str] = []
    for line in clean(text).split("\n"):
        line = line.strip(" ")
        if line:
            current.append(line)
        elif current:
            result.append(current)
            current = []
    if current:
        result.append(current)
    return result


def one_line(text: str) -> str:
    """Text for a single-line field: newlines become spaces."""
    return " ".join(clean(text).split()).strip()


def clusters(text: str) -> list[str]:
    """Split into base letters with their combining marks, so a break never strands a mark."""
    out: list[str] = []
    for ch in text:
        if out and unicodedata.category(ch).startswith("M"):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def _longest_prefix(parts: list[str], fits: Callable[[str], bool]) -> int:
    """How many leading ``parts`` fit (at least one, so progress is always made)."""
    lo, hi = 1, len(parts)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits("".join(parts[:mid])):
            lo = mid
        else:
            hi = mid - 1
    return lo


def wrap(line: str, width: float, measure: Measure) -> list[str]:
    """Greedy word wrap by measured width; a word wider than a line is broken between letters."""
    rows: list[str] = []
    current = ""
    for word in line.split(" "):
        if not word:
            continue
        candidate = f"{current} {word}" if current else word
        if measure(candidate) <= width:
            current = candidate
            continue
        if current:
            rows.append(current)
        current = word
        while measure(current) > width:
            parts = clusters(current)
            n = _longest_prefix(parts, lambda s: measure(s) <= width)
            rows.append("".join(parts[:n]))
            current = "".join(parts[n:])
    if current:
        rows.append(current)
    return rows


def ellipsize(text: str, width: float, measure: Measure) -> str:
    """``text`` if it fits, else the longest prefix that fits followed by an ellipsis."""
    if measure(text) <= width:
        return text
    parts = clusters(text)
    n = _longest_prefix(parts, lambda s: measure(s.rstrip(" ,") + "…") <= width)
    return "".join(parts[:n]).rstrip(" ,") + "…"


def word_count(text: str) -> int:
    return len(text.split())
