"""Split text into requests of at most 100 characters, cutting where a speaker would pause.

Google reads each request as a separate utterance, with falling intonation at its end, so where the
text is cut is audible. gTTS's own tokenizer cuts at every comma and, failing that, anywhere; this
one cuts as high in this order as the limit allows:

4. after a sentence end (``. ! ? …``, closing quotes or brackets may follow);
3. after ``;`` or ``:``;
2. after ``,`` or a free-standing dash (``-``, ``–``, ``—``);
1. at any space;
0. inside a word, only for a single "word" longer than the limit (a URL, a run of symbols).

A unit of one level is cut at the next level down only when it does not fit whole; units that fit
are packed greedily into as few requests as possible.
"""

from __future__ import annotations

import unicodedata

#: Google's limit per request, the same as ``gTTS.GOOGLE_TTS_MAX_CHARS``.
MAX_CHARS = 100

_CLOSERS = "\"'”’»)]}"
_DASHES = ("-", "–", "—")


def boundary_strength(word: str) -> int:
    """How strong a pause follows ``word``: 4 sentence, 3 ``;:``, 2 ``,`` or dash, 1 a plain space."""
    if word in _DASHES:
        return 2
    core = word.rstrip(_CLOSERS)
    if not core:
        return 1
    last = core[-1]
    if last in ".!?…":
        return 4
    if last in ";:":
        return 3
    if last == ",":
        return 2
    return 1


def normalize_space(text: str) -> str:
    """Collapse every run of whitespace (newlines, tabs, no-break spaces) to one space."""
    return " ".join(text.split())


def split_text(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Cut ``text`` into chunks of at most ``limit`` characters that join back with single spaces."""
    if limit < 1:
        raise ValueError("limit must be positive")
    words = text.split()
    if not words:
        return []
    return [" ".join(chunk) for chunk in _split(words, 4, limit)]


def _length(words: list[str]) -> int:
    return sum(map(len, words)) + len(words) - 1


def _segments(words: list[str], level: int) -> list[list[str]]:
    """Cut ``words`` after every word followed by a pause of at least ``level``."""
    segments: list[list[str]] = []
    current: list[str] = []
    for word in words:
        current.append(word)
        if level <= 1 or boundary_strength(word) >= level:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    return segments


def _split(words: list[str], level: int, limit: int) -> list[list[str]]:
    if _length(words) <= limit:
        return [words]
    chunks: list[list[str]] = []
    current: list[str] = []
    for segment in _segments(words, level):
        if _length(segment) > limit:
            if current:
                chunks.append(current)
                current = []
            if level > 1:
                chunks.extend(_split(segment, level - 1, limit))
            else:
                chunks.extend([piece] for piece in _hard_split(segment[0], limit))
        elif current and _length(current) + 1 + _length(segment) <= limit:
            current.extend(segment)
        else:
            if current:
                chunks.append(current)
            current = list(segment)
    if current:
        chunks.append(current)
    return chunks


def _hard_split(word: str, limit: int) -> list[str]:
    """Cut an over-long word every ``limit`` characters, never before a combining mark."""
    pieces = []
    while len(word) > limit:
        cut = limit
        while cut > 1 and unicodedata.combining(word[cut]):
            cut -= 1
        pieces.append(word[:cut])
        word = word[cut:]
    pieces.append(word)
    return pieces
