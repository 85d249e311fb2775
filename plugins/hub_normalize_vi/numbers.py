"""Vietnamese number words: cardinals, decimals, ordinals, dates, digit strings, Roman numerals.

Written here rather than taken from num2words: num2words 0.5.14 (lang="vi") reads 2026 as
"hai nghìn lẻ hai mươi sáu", 1010 as "một nghìn lẻ mười", 3.5 as "ba phẩy năm mươi" and 24 as
"hai mươi bốn"; see docs/speech-normaliser.md for the comparison.
"""

from __future__ import annotations

import re

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")

_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}

#: A well-formed Roman numeral from 1 to 89 (I, V, X, L only): bulletins never need more, and
#: allowing C, D, M would turn words such as "MC" or "CD" into numbers.
ROMAN = r"(?:XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_ROMAN_FULL = re.compile(rf"^{ROMAN}$")


def _triple(n: int, full: bool) -> list[str]:
    """Read 0 < n < 1000; ``full`` says a higher group came first, so hundreds are always read."""
    hundreds, tens, units = n // 100, n // 10 % 10, n % 10
    words: list[str] = []
    if full or hundreds:
        words += [DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units:
            if full or hundreds:
                words.append("linh")
            words.append(DIGITS[units])
        return words
    words += ["mười"] if tens == 1 else [DIGITS[tens], "mươi"]
    if units == 1 and tens >= 2:
        words.append("mốt")
    elif units == 4 and tens >= 2:
        words.append("tư")
    elif units == 5:
        words.append("lăm")
    elif units:
        words.append(DIGITS[units])
    return words


def _words(n: int, full: bool) -> list[str]:
    if n >= 1_000_000_000:
        high, low = divmod(n, 1_000_000_000)
        words = _words(high, full) + ["tỷ"]
        return words + _words(low, True) if low else words
    words: list[str] = []
    started = full
    for value, scale in (((n // 1_000_000) % 1000, "triệu"), ((n // 1000) % 1000, "nghìn"), (n % 1000, "")):
        if value == 0:
            continue
        words += _triple(value, started)
        if scale:
            words.append(scale)
        started = True
    return words


def cardinal(n: int) -> str:
    """Read an integer: 21 "hai mươi mốt", 105 "một trăm linh năm", 2026 "hai nghìn không trăm hai mươi sáu"."""
    if n < 0:
        return "âm " + cardinal(-n)
    if n == 0:
        return "không"
    return " ".join(_words(n, False))


def ordinal(n: int) -> str:
    """Read the word after "thứ": 1 "nhất", 4 "tư", otherwise the cardinal."""
    return {1: "nhất", 4: "tư"}.get(n, cardinal(n))


def digits(text: str) -> str:
    """Read every ASCII digit of ``text`` on its own, ignoring anything else."""
    return " ".join(DIGITS[int(c)] for c in text if "0" <= c <= "9")


def integer(text: str) -> str:
    """Read a run of digits; leading zeros are dropped ("05" "năm"), very long runs read digit by digit."""
    text = text.lstrip("0") or "0"
    if len(text) > 15:
        return digits(text)
    return cardinal(int(text))


def fraction_part(text: str) -> str:
    """Read the digits after "phẩy": leading zeros one by one, then up to three digits as a number."""
    stripped = text.lstrip("0")
    words = ["không"] * (len(text) - len(stripped))
    if len(stripped) > 3:
        words.append(digits(stripped))
    elif stripped:
        words.append(cardinal(int(stripped)))
    return " ".join(words)


def decimal(int_part: str, frac_part: str | None) -> str:
    """Read "3,5" as "ba phẩy năm"; ``int_part`` may carry "." thousands separators."""
    spoken = integer(int_part.replace(".", ""))
    if frac_part is None:
        return spoken
    return f"{spoken} phẩy {fraction_part(frac_part)}"


def day(n: int) -> str:
    """Read a day of the month: "mồng" before one to ten."""
    return f"mồng {cardinal(n)}" if 1 <= n <= 10 else cardinal(n)


def month(n: int) -> str:
    """Read a month number as it follows "tháng": 4 is "tư"."""
    return "tư" if n == 4 else cardinal(n)


def roman_value(token: str) -> int | None:
    """Return the value of a well-formed Roman numeral (I to LXXXIX), else None."""
    if not token or not _ROMAN_FULL.match(token):
        return None
    total = 0
    for i, char in enumerate(token):
        value = _ROMAN_VALUES[char]
        following = _ROMAN_VALUES[token[i + 1]] if i + 1 < len(token) else 0
        total += -value if value < following else value
    return total
