"""What the normaliser could not read: tokens a voice would spell out letter by letter.

Run on the *spoken* text (after every step). Two kinds are reported, so an editor fixes the text
or adds a dictionary entry before approving instead of hearing the voice spell it on air:

- ``abbreviation``: a word of two or more capitals that is not a Vietnamese syllable ("QLTTBCGĐ",
  "BQLDA"): an abbreviation neither lexicon knows (a known one would have been expanded);
- ``letters``: any other word of two or more letters that cannot be a Vietnamese syllable
  ("Facebook", "xyz"), which a Vietnamese voice reads letter by letter or mangles.

Single letters ("độ C", "quốc lộ một A") and the labels of a web address read aloud ("langson
chấm gov chấm vn") are not reported: they are meant to be said as letters.
"""

from __future__ import annotations

import re
import unicodedata

#: Tone marks, removed before the syllable check (the vowel letters ă â ê ô ơ ư stay).
_TONES = dict.fromkeys(map(ord, "\u0300\u0301\u0303\u0309\u0323"))
_SYLLABLE = re.compile(
    r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|th|tr|qu|[bcdđghklmnprstvx])?"
    r"(?:[aăâeêioôơuưy]{1,3})"
    # k closes Central Highlands syllables as they are written: Đắk Lắk, Kon Plông's Đắk Tô.
    r"(?:ch|ng|nh|[cmnptk])?"
)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
#: Words that join the labels of an address read aloud (speak_links).
_LINK_JOINERS = {"chấm", "còng", "gạch"}


def is_syllable(word: str) -> bool:
    """Whether ``word`` (any case) is spelled as one Vietnamese syllable can be."""
    base = unicodedata.normalize("NFC", unicodedata.normalize("NFD", word.lower()).translate(_TONES))
    return _SYLLABLE.fullmatch(base) is not None


def unread_tokens(spoken: str) -> list[dict[str, str]]:
    """``[{"token": …, "kind": "abbreviation"|"letters"}]`` for each distinct unread word, in order."""
    found: dict[str, str] = {}
    words = list(_WORD.finditer(spoken))
    for n, m in enumerate(words):
        word = m.group(0)
        parts = re.split(r"['’]", word)
        if len(word) < 2 or word in found or all(len(p) < 2 or is_syllable(p) for p in parts):
            continue
        near = {w.group(0).lower() for w in words[max(0, n - 2) : n + 3]} - {word.lower()}
        if near & _LINK_JOINERS:
            continue
        found[word] = "abbreviation" if word.isupper() else "letters"
    return [{"token": token, "kind": kind} for token, kind in found.items()]
