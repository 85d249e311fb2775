"""The steps that turn a written Vietnamese bulletin into text a voice reads correctly.

Each step is a plain ``str -> str`` function. Steps are written so that their output is left
alone by every step (a fixed point), which makes the whole chain idempotent.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable, Iterable, Match, Pattern

from . import numbers as num
from .lexicon import Lexicon

#: A letter in any script (``\w`` without digits and underscore).
L = r"[^\W\d_]"
NOT_AFTER_LETTER = rf"(?<!{L})"
NOT_BEFORE_LETTER = rf"(?!{L})"

Replacer = Callable[[Match[str]], "str | None"]


def _sub(pattern: Pattern[str], replace: Replacer, text: str) -> str:
    """Substitute, keeping the match when ``replace`` gives None, and spacing words from neighbours."""

    def repl(m: Match[str]) -> str:
        spoken = replace(m)
        if spoken is None:
            return m.group(0)
        s, start, end = m.string, m.start(), m.end()
        if spoken and start > 0 and s[start - 1].isalnum() and spoken[0].isalnum():
            spoken = " " + spoken
        if spoken and end < len(s) and s[end].isalnum() and spoken[-1].isalnum():
            spoken += " "
        return spoken

    return pattern.sub(repl, text)


# --- 0: Unicode ----------------------------------------------------------------------------------

_SPACES = re.compile(r"[^\S\n]")
#: Zero-width characters, soft hyphens and control characters other than whitespace.
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
_LINE_BREAKS = re.compile(r"\r\n|[\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def unicode_nfc(text: str) -> str:
    """NFC, with odd spaces made plain, every line break a "\\n" and invisible characters dropped."""
    text = _LINE_BREAKS.sub("\n", _INVISIBLE.sub("", text))
    return unicodedata.normalize("NFC", _SPACES.sub(" ", text))


# --- 100: web clutter and bylines ----------------------------------------------------------------

#: Between the words of a clutter phrase: spaces, or symbols that the cleanup step turns into
#: spaces (so a second pass finds nothing new).
_GAP = r"(?:[^\w\n]|_)+"
_LEAD = r"^(?:[^\w\n]|_)*"


def _phrases(words: Iterable[str]) -> str:
    return "|".join(re.escape(w).replace(r"\ ", _GAP) for w in sorted(words, key=len, reverse=True))


_INLINE_CLUTTER = re.compile(
    rf"A-(?:[^\w\n]|_)*A(?:[^\w\n]|_)*A\+"
    rf"|{NOT_AFTER_LETTER}(?i:(?:tăng|giảm){_GAP}(?:độ{_GAP})?tương{_GAP}phản){NOT_BEFORE_LETTER}"
)
#: Words of share bars, toolbars and breadcrumbs; a line made only of these is dropped.
_TOOLBAR_WORDS = (
    "chia sẻ", "in bài", "in trang", "in", "bản in", "lưu bài", "lưu tin", "lưu", "gửi bài",
    "gửi email", "gửi e-mail", "email", "e-mail", "facebook", "zalo", "twitter", "tweet",
    "like", "share", "print", "copy link", "sao chép liên kết", "sao chép", "về đầu trang",
    "lên đầu trang", "đầu trang", "quay lại", "trở lại", "xem thêm", "tin liên quan",
    "bài liên quan", "tin khác", "các tin khác", "bình luận", "ý kiến bạn đọc", "cỡ chữ",
    "nghe đọc bài", "nghe bài viết", "đọc bài", "nghe", "trang chủ", "tải về", "download",
    "thích", "theo dõi", "phóng to", "thu nhỏ", "mặc định",
)
_TOOLBAR = re.compile(rf"{NOT_AFTER_LETTER}(?:{_phrases(_TOOLBAR_WORDS)}){NOT_BEFORE_LETTER}", re.IGNORECASE)
_NO_WORD = re.compile(r"(?:[^\w]|_)*")
_BREADCRUMB = re.compile(rf"{_LEAD}trang{_GAP}chủ\s*[>»/|]", re.IGNORECASE)

_BYLINE_WORDS = (
    "tác giả", "phóng viên", "pv", "ctv", "btv", "nguồn", "nguồn tin", "người đăng", "người viết",
    "người duyệt", "biên tập", "biên tập viên", "ảnh", "ảnh minh họa", "ảnh minh hoạ", "video",
    "clip", "cập nhật", "cập nhật lúc", "ngày đăng", "ngày cập nhật", "đăng lúc", "đăng ngày",
    "thời gian đăng", "tin, ảnh", "bài, ảnh", "bài và ảnh", "tin và ảnh", "tin ảnh", "bài ảnh",
    "từ khóa", "từ khoá", "tag", "tags", "thẻ", "chuyên mục", "danh mục", "tệp đính kèm",
    "file đính kèm", "lượt xem", "lượt đọc", "số lượt xem",
)
_BYLINE_WITH_COLON = re.compile(rf"{_LEAD}(?:{_phrases(_BYLINE_WORDS)})(?:[^\w\n]|_)*?:", re.IGNORECASE)
_BYLINE_BARE = re.compile(
    rf"{_LEAD}(?:ảnh{_GAP}minh{_GAP}(?:họa|hoạ)|(?:theo|nguồn){NOT_BEFORE_LETTER}[^()\n]*\))(?:[^\w\n]|_)*$",
    re.IGNORECASE,
)
#: Lines such as "Cập nhật lúc 10:30 04/02/2026" or "Lượt xem 1.234": a prefix, then only a time.
_DATELINE_PREFIX = re.compile(
    rf"{_LEAD}(?:{_phrases(('cập nhật', 'cập nhật lúc', 'cập nhật ngày', 'đăng lúc', 'đăng ngày', 'ngày đăng', 'lượt xem', 'lượt đọc', 'số lượt xem'))}){NOT_BEFORE_LETTER}",
    re.IGNORECASE,
)
_DATETIME_ONLY = re.compile(
    r"^(?:[\W0-9_hgHG]|(?i:thứ|hai|ba|tư|năm|sáu|bảy|chủ|nhật|ngày|lúc|giờ|gmt|am|pm|sáng|chiều|tối)(?![^\W\d_]))*$"
)
#: Photo and video credits inside a line: "(Ảnh: TTXVN)", "(ảnh minh họa)", "(Nguồn: Sở Y tế)",
#: and a credit that closes a line after its last sentence ("… ra đồng. Ảnh: Minh Anh").
_CREDIT_WORDS = (
    "ảnh", "ảnh minh họa", "ảnh minh hoạ", "nguồn", "nguồn ảnh", "video", "clip", "tin, ảnh",
    "bài, ảnh", "tin và ảnh", "bài và ảnh", "tin ảnh", "bài ảnh", "đồ họa", "đồ hoạ", "ảnh, video",
)
_CREDIT = rf"(?:{_phrases(_CREDIT_WORDS)})(?:[^\w\n]|_)*?:"
_CREDIT_IN_BRACKETS = re.compile(
    rf"[^\S\n]*\((?:[^\w\n()]|_)*(?:{_CREDIT}[^()\n]*|ảnh{_GAP}minh{_GAP}(?:họa|hoạ)(?:[^\w\n()]|_)*)\)",
    re.IGNORECASE,
)
_CREDIT_AFTER_SENTENCE = re.compile(rf"(?<=[.!?…])[^\S\n]+(?:[^\w\n]|_)*{_CREDIT}[^\n]{{0,120}}$", re.IGNORECASE | re.MULTILINE)
#: "Ảnh minh họa." opening a line that goes on ("Ảnh minh họa. Nguồn: internet").
_CAPTION_OPENING = re.compile(rf"^(?:[^\w\n]|_)*ảnh{_GAP}minh{_GAP}(?:họa|hoạ)[^\S\n]*[.:]+[^\S\n]*", re.IGNORECASE | re.MULTILINE)
#: A numbered photo caption: "Ảnh 1: Lãnh đạo tỉnh dự lễ".
_NUMBERED_CAPTION = re.compile(rf"{_LEAD}(?:ảnh|hình|video|clip){_GAP}[0-9]{{1,2}}(?:[^\w\n]|_)*:", re.IGNORECASE)
_GMT_LINE = re.compile(r"^[^\n]{0,60}GMT\s*\+\s*0?7\W*$", re.IGNORECASE)
_SIGNATURE_TAG = re.compile(r"\((?:PV|CTV|BTV|TTXVN|TH|ST|st|tổng hợp|Tổng hợp|sưu tầm|Sưu tầm)$")
_SIGNATURE_PREFIX = re.compile(r"(?:Nhóm PV|Nhóm phóng viên|PV|CTV|BTV)(?![^\W\d_])")
_EDGE_SYMBOLS = re.compile(r"^[\W_]+|[\W_]+$")


def _is_name(text: str) -> bool:
    """One to six capitalised words, as a person's name is written ("Thu Hà", "Minh Anh")."""
    # Symbols between the words do not count: the cleanup step removes them.
    words = [w for w in re.split(r"[\W_]+", text) if w]
    return 1 <= len(words) <= 6 and all(w.isalpha() and w[0].isupper() for w in words)


def _is_signature(line: str) -> bool:
    """Say whether a line is a signature: "Thu Hà (PV)", "PV Hồng Nhung"."""
    body = _EDGE_SYMBOLS.sub("", line)
    tag = _SIGNATURE_TAG.search(body)
    if tag:
        return _is_name(body[: tag.start()])
    prefix = _SIGNATURE_PREFIX.match(body)
    return bool(prefix and _is_name(body[prefix.end() :]))


_SCHEME = re.compile(r"(?i)(?:https?|ftp)://")


def _is_toolbar(line: str) -> bool:
    if _BREADCRUMB.match(line):
        return True
    if not _TOOLBAR.search(line):
        return False
    return _NO_WORD.fullmatch(_TOOLBAR.sub("", line)) is not None


def _is_dateline(line: str) -> bool:
    m = _DATELINE_PREFIX.match(line)
    if m and _DATETIME_ONLY.match(line[m.end() :]):
        return True
    return bool(_GMT_LINE.match(line) and _DATETIME_ONLY.match(re.sub(r"(?i)gmt", "", line)))


def _is_byline(line: str) -> bool:
    return bool(_BYLINE_WITH_COLON.match(line) or _BYLINE_BARE.match(line) or _NUMBERED_CAPTION.match(line)
                or _is_dateline(line))


def remove_clutter(text: str) -> str:
    """Drop font and contrast buttons, share bars, breadcrumbs, bylines, photo credits and view counts."""
    text = _INLINE_CLUTTER.sub(" ", text)
    # A scheme that starts no readable address ("http://", "http://localhost") is dropped here,
    # before bylines are looked for, so that a second pass finds the same lines.
    text = _SCHEME.sub(lambda m: m.group(0) if _URL.match(m.string, m.start()) else "", text)
    # Photo and video credits inside a line, then a caption opening a line, so what is left of
    # it ("Nguồn: internet") is judged as a line of its own below.
    text = _CREDIT_IN_BRACKETS.sub("", text)
    text = _CREDIT_AFTER_SENTENCE.sub("", text)
    text = _CAPTION_OPENING.sub("", text)
    kept = [line for line in text.split("\n") if not (_is_toolbar(line) or _is_byline(line))]
    # Short signatures at the end ("Thu Hà (PV)", "PV Hồng Nhung") are bylines too; lines with no
    # word at all are skipped over, since the cleanup step removes them anyway.
    i = len(kept) - 1
    while i >= 0:
        if _NO_WORD.fullmatch(kept[i]):
            i -= 1
        elif _is_signature(kept[i]):
            del kept[i]
            i -= 1
        else:
            break
    return "\n".join(kept)


# --- 150: links --------------------------------------------------------------------------------

_TLDS = r"vn|com|net|org|info|gov|edu|int|io|biz|asia"
# An address does not start right after a letter, a dot or a hyphen; a digit before it, or a
# letter before an address that starts with a digit, is a boundary, because the numbers step will
# put a space there and a second pass must find the same address. Labels are at most 63
# characters, as in DNS, which also keeps matching linear on long runs of digits.
_URL = re.compile(
    rf"(?:(?:https?|ftp)://|(?<![.\-])(?:(?<!{L})|(?=[0-9])))(?:www\.)?"
    rf"(?:[a-z0-9](?:[a-z0-9\-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS})"
    rf"(?!{L}|-)(?::[0-9]+(?![0-9.]))?(?:[/?#][^\s<>\"'()\[\]{{}}]*)?",
    re.IGNORECASE,
)
_EMAIL = re.compile(rf"(?<![\w.+\-])[A-Za-z0-9._%+\-]+@(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{{2,}}(?!{L}|-)")


def _spell_label(label: str) -> str:
    out = []
    for part in re.split(r"([0-9]+|[-_])", label.lower()):
        if not part:
            continue
        if part.isdigit():
            out.append(num.digits(part))
        elif part == "-":
            out.append("gạch ngang")
        elif part == "_":
            out.append("gạch dưới")
        else:
            out.append(part)
    return " ".join(out)


def _spell_host(host: str) -> str:
    return " chấm ".join(_spell_label(label) for label in host.split(".") if label)


def _url(m: Match[str]) -> str:
    raw = m.group(0)
    trail = len(raw) - len(raw.rstrip(".,;:!?"))
    url = raw[: len(raw) - trail]
    host = re.sub(r"(?i)^(?:https?|ftp)://", "", url)
    host = re.split(r"[/?#:]", host, maxsplit=1)[0]
    host = re.sub(r"(?i)^www\.", "", host)
    return _spell_host(host) + raw[len(raw) - trail :]


def _email(m: Match[str]) -> str:
    local, _, host = m.group(0).partition("@")
    local_spoken = " chấm ".join(_spell_label(p) for p in local.split(".") if p)
    return f"{local_spoken} a còng {_spell_host(host)}"


def speak_links(text: str) -> str:
    """Read e-mail addresses and the host of web addresses ("langson chấm gov chấm vn"), dropping paths."""
    text = _sub(_EMAIL, _email, text)
    return _sub(_URL, _url, text)


# Document codes, needed by the abbreviation step (which must leave them whole) and step 400.
_SEG = r"[A-ZĐ][^\W_]*"
_SEGS = rf"{_SEG}(?:[\-&]{_SEG})*"
_CODE = re.compile(
    rf"(?<![\w/.\-])(?:"
    rf"(?P<pn>[0-9]+)-(?P<ptype>{_SEG})/(?P<pissuer>{_SEGS})"  # party style: 57-NQ/TW
    rf"|(?P<n>[0-9]+)(?:/(?P<year>[0-9]{{4}}))?/(?P<segs>{_SEGS})"  # 49/2024/NĐ-CP, 123/QĐ-UBND
    rf")(?![\w/]|-\w)"
)

# --- 200: abbreviations and pronunciations --------------------------------------------------------


def _token_pattern(keys: list[str]) -> Pattern[str] | None:
    if not keys:
        return None
    parts = []
    for key in sorted(keys, key=len, reverse=True):
        # A letter next to the key means it is part of a longer word; a digit does not ("QL1A").
        head = rf"(?<!{L})" if key[0].isalnum() else ""
        tail = rf"(?!{L})" if key[-1].isalnum() else ""
        parts.append(f"{head}{re.escape(key)}{tail}")
    return re.compile("|".join(parts))


def make_abbreviations(lexicon: Lexicon) -> Callable[[str], str]:
    table = lexicon.replacements
    pattern = _token_pattern(list(table))

    def expand_abbreviations(text: str) -> str:
        """Expand abbreviations and fix pronunciations from the lexicon."""
        if pattern is None:
            return text
        # Document codes (49/2024/NĐ-CP) are left whole for the document-code step, which reads
        # their issuer and drops the rest.
        pieces, pos = [], 0
        for code in _CODE.finditer(text):
            pieces += [_sub(pattern, lambda m: table[m.group(0)], text[pos : code.start()]), code.group(0)]
            pos = code.end()
        pieces.append(_sub(pattern, lambda m: table[m.group(0)], text[pos:]))
        return "".join(pieces)

    return expand_abbreviations


# --- 300: Roman numerals in context ------------------------------------------------------------

_ROMAN_KEYWORDS = (
    r"khóa|khoá|đại\s+hội|thế\s+kỷ|thế\s+kỉ|chương|điều|quý|phần|mục|phụ\s+lục|tập|đợt|giai\s+đoạn"
    r"|loại|hạng|cấp|khu\s+vực|vùng|quân\s+khu|học\s+kỳ|học\s+kì|kỳ|kì|nhóm|thứ"
)
_ROMAN_TOKEN = rf"(?=[IVXL]){num.ROMAN}(?!{L})"
_ROMAN_SEP = r"\s*(?:,|và|hoặc|đến|tới|-|–)\s*"
_ROMAN = re.compile(
    rf"{NOT_AFTER_LETTER}(?P<kw>(?i:{_ROMAN_KEYWORDS}))(?P<sp>\s+)"
    rf"(?P<list>{_ROMAN_TOKEN}(?:{_ROMAN_SEP}{_ROMAN_TOKEN})*)(?:/(?P<year>[0-9]{{4}})(?![0-9]))?"
)
_ROMAN_SPLIT = re.compile(rf"({_ROMAN_SEP})")


def roman_numerals(text: str) -> str:
    """Read Roman numerals after words that take them (khóa XVI, lần thứ IV, thế kỷ XXI, Quý III/2026)."""

    def replace(m: Match[str]) -> str | None:
        is_ordinal = m.group("kw").lower() == "thứ"
        spoken = []
        for i, piece in enumerate(_ROMAN_SPLIT.split(m.group("list"))):
            if i % 2:
                sep = piece.strip()
                spoken.append(", " if sep == "," else f" {'đến' if sep in '-–' else sep} ")
                continue
            value = num.roman_value(piece)
            if value is None:
                return None
            spoken.append(num.ordinal(value) if is_ordinal else num.cardinal(value))
        year = f" năm {num.cardinal(int(m.group('year')))}" if m.group("year") else ""
        return m.group("kw") + m.group("sp") + "".join(spoken) + year

    return _sub(_ROMAN, replace, text)


# --- 400: document codes -----------------------------------------------------------------------

_ISSUER_WITH_TERM = re.compile(r"^(?P<base>[^\W\d_]+)(?P<term>[0-9]+)$")


def make_document_codes(lexicon: Lexicon) -> Callable[[str], str]:
    types = lexicon.document_types
    type_words = sorted({v for v in types.values()}, key=len, reverse=True)
    number_year = re.compile(
        rf"{NOT_AFTER_LETTER}(?P<kw>(?i:số|{'|'.join(re.escape(w) for w in type_words) or 'số'}))"
        rf"(?P<sp>\s+)(?:(?P<so>(?i:số))\s+)?(?P<n>[0-9]+)/(?P<year>[0-9]{{4}})(?![\w/]|-\w)"
    )

    def issuer(code: str) -> str | None:
        spoken = lexicon.issuer(code)
        if spoken is None and (m := _ISSUER_WITH_TERM.match(code)):
            base = lexicon.issuer(m.group("base"))
            # "QH15" is the 15th National Assembly.
            if base:
                spoken = f"{base} khóa {num.cardinal(int(m.group('term')))}"
        return spoken

    def replace(m: Match[str]) -> str:
        before = m.string[max(0, m.start() - 40) : m.start()].lower().rstrip()
        if m.group("pn"):
            number, year, type_code, issuer_codes = m.group("pn"), None, m.group("ptype"), m.group("pissuer").split("-")
        else:
            number, year = m.group("n"), m.group("year")
            segs = re.split(r"[\-&]", m.group("segs"))
            type_code = segs[0] if segs[0] in types else None
            issuer_codes = segs[1:] if type_code else segs
        joint = type_code is not None and types.get(type_code, "").lower().endswith("liên tịch")
        issuers = [s for s in (issuer(c) for c in (issuer_codes if joint else issuer_codes[:1])) if s]
        words = []
        has_so = re.search(rf"{NOT_AFTER_LETTER}số$", before) is not None
        type_name = types.get(type_code or "")
        if type_name and not has_so and not before.endswith(type_name.lower()):
            words.append(type_name)
        if not has_so:
            words.append("số")
        words.append(num.integer(number))
        if year:
            words.append(f"năm {num.cardinal(int(year))}")
        if issuers:
            words.append("của " + " và ".join(issuers))
        return " ".join(w for w in words if w)

    def replace_number_year(m: Match[str]) -> str:
        # "Kế hoạch 05/2025", "số 12/2025": a number and a year with no issuer.
        so = f"{m.group('so')} " if m.group("so") else "" if m.group("kw").lower() == "số" else "số "
        return f"{m.group('kw')}{m.group('sp')}{so}{num.integer(m.group('n'))} năm {num.cardinal(int(m.group('year')))}"

    def document_codes(text: str) -> str:
        """Read document codes as a broadcaster does: "Nghị định số 49/2024/NĐ-CP" → "… số bốn mươi chín năm … của Chính phủ"."""
        return _sub(number_year, replace_number_year, _sub(_CODE, replace, text))

    return document_codes


# --- 450: telephone numbers ----------------------------------------------------------------------

_PHONE = re.compile(
    r"(?:(?<![^\W\d_])(?P<dt>ĐTDĐ|ĐT|Đt|Tel|tel|SĐT)(?P<dtsep>\s*[:.]?\s*))?"
    r"(?<![\w.,/+\-])(?P<num>(?:\+84[ .\-]?[0-9]{1,10}|\(0[0-9]{2,3}\)[ .\-]?[0-9]{2,8}|0[0-9]{1,10}|1[89]00[0-9]{0,6})"
    r"(?:[ .\-][0-9]{2,4}){0,4})"
    r"(?![0-9]|[.,:/\-][0-9]|[ ][0-9]|[\w])"
)
_SHORT_LINE = re.compile(
    r"(?P<kw>(?<!\w)(?i:gọi|đường dây nóng|tổng đài|hotline)\s*:?\s*(?:(?i:số)\s+)?)(?P<n>11[1-5])(?![0-9\w])"
)


def _phone(m: Match[str]) -> str | None:
    raw = m.group("num")
    all_digits = re.sub(r"[^0-9]", "", raw)
    if raw.startswith("+84"):
        ok = len(all_digits) in (11, 12)
    elif raw.startswith("(") or raw.startswith("0"):
        ok = len(all_digits) in (10, 11) and all_digits.startswith("0")
        first_group = re.split(r"[ .\-)]", raw.lstrip("("))[0]
        ok = ok and (len(first_group) >= 3 or first_group == raw)
    elif raw.startswith(("1800", "1900")):
        ok = len(all_digits) in (8, 10)
    else:
        ok = False
    if not ok:
        return None
    groups = [g for g in re.split(r"[ .\-()]+", raw) if g]
    if groups[0].startswith("+84") and len(groups[0]) > 3:
        groups[:1] = ["+84", groups[0][3:]]
    if len(groups) == 2 and groups[0] == "+84":
        g = groups[1]
        groups[1:] = [g[:3], g[3:6], g[6:]] if len(g) == 9 else [g[:3], g[3:7], g[7:]] if len(g) == 10 else [g]
    if len(groups) == 1:
        # Unseparated numbers are grouped as they are usually said: 0912 345 678, 0205 3812 345.
        g = groups[0]
        groups = [g[:4], g[4:7], g[7:]] if len(g) == 10 else [g[:4], g[4:8], g[8:]] if len(g) == 11 else [g]
    spoken = []
    for g in groups:
        if g.startswith("+"):
            spoken.append("cộng " + num.digits(g))
        else:
            spoken.append(num.digits(g))
    prefix = ""
    if m.group("dt"):
        prefix = ("số điện thoại" if m.group("dt") == "SĐT" else "điện thoại") + m.group("dtsep")
    return prefix + ", ".join(s for s in spoken if s)


def phone_numbers(text: str) -> str:
    """Read telephone numbers digit by digit, group by group (0912 345 678, 0205.3812.345, 1900 1234, 113)."""
    text = _sub(_PHONE, _phone, text)
    return _sub(_SHORT_LINE, lambda m: m.group("kw") + num.digits(m.group("n")), text)


# --- 500: dates and times ----------------------------------------------------------------------

_NB = r"(?<![0-9.,/:])"  # not inside another number
_NA = r"(?![0-9]|[.,/:][0-9])"
_DMY = re.compile(rf"{_NB}(?P<d>[0-9]{{1,2}})(?P<s>[/.\-])(?P<m>[0-9]{{1,2}})(?P=s)(?P<y>[0-9]{{4}}){_NA}")
_DM = re.compile(rf"{_NB}(?P<d>[0-9]{{1,2}})/(?P<m>[0-9]{{1,2}}){_NA}")
_DAY_RANGE = re.compile(
    rf"{_NB}(?P<d1>[0-9]{{1,2}})(?:/(?P<m1>[0-9]{{1,2}}))?\s*[-–]\s*"
    rf"(?P<d2>[0-9]{{1,2}})/(?P<m2>[0-9]{{1,2}})(?:/(?P<y>[0-9]{{4}}))?{_NA}"
)
_MY = re.compile(rf"{_NB}(?P<m>[0-9]{{1,2}})/(?P<y>[0-9]{{4}}){_NA}")
_DAY_MONTH_WORDS = re.compile(
    rf"(?P<kw>{NOT_AFTER_LETTER}(?i:ngày)\s+)(?P<d>[0-9]{{1,2}})(?P<sp>\s+(?i:tháng)\s+)(?P<m>[0-9]{{1,2}}){_NA}"
)
_MONTH_WORD = re.compile(rf"(?P<kw>{NOT_AFTER_LETTER}(?i:tháng)\s+)(?P<m>[0-9]{{1,2}}){_NA}")
_DATE_CONTEXT = re.compile(
    r"(?i:ngày|hôm|sáng|trưa|chiều|tối|đêm|từ|đến|tới|và|hạn|trước|sau|hết|đầu|cuối|giữa|vào|lúc|dịp|nay|qua|mai|,)\s*$"
)
#: Words around a bare day/month that make it a share, not a date: "chiếm 1/2", "2/3 số hộ".
_FRACTION_BEFORE = re.compile(
    rf"{NOT_AFTER_LETTER}(?i:chiếm|khoảng|gần|hơn|đạt|được|còn|bằng|tỷ lệ|tỉ lệ|quá|trên|dưới|tới|lên|giảm|tăng)\s*$"
)
_FRACTION_AFTER = re.compile(
    rf"\s*(?i:số|tổng|diện\s+tích|dân\s+số|lượng|khối\s+lượng|giá\s+trị|kinh\s+phí|phần|trong){NOT_BEFORE_LETTER}"
)
_TIME_HM = r"(?P<h{0}>[0-9]{{1,2}})(?:\s?[hH](?P<m{0}>[0-9]{{2}})?(?:\s?(?:'|p\b|phút))?|g(?P<g{0}>[0-9]{{2}})|:(?P<c{0}>[0-9]{{2}})(?::(?P<s{0}>[0-9]{{2}}))?)"
_TIME = re.compile(
    rf"(?<![\w.,/:]){_TIME_HM.format(1)}(?:\s*[-–]\s*{_TIME_HM.format(2)})?(?![\w]|[.,:/][0-9])"
)


#: The most days of each month (February 29: a day/month pair has no year to check leap years).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_dm(d: int, m: int) -> bool:
    return 1 <= m <= 12 and 1 <= d <= _MONTH_DAYS[m - 1]


def _date_words(d: int, m: int | None, y: int | None) -> str:
    out = num.day(d)
    if m is not None:
        out += f" tháng {num.month(m)}"
    if y is not None:
        out += f" năm {num.cardinal(y)}"
    return out


def _needs_ngay(m: Match[str]) -> bool:
    before = m.string[max(0, m.start() - 6) : m.start()].lower()
    return not re.search(rf"{NOT_AFTER_LETTER}(?:ngày|mồng|mùng)\s*$", before)


def _time_words(m: Match[str], i: int) -> str | None:
    h = int(m.group(f"h{i}"))
    minute = m.group(f"m{i}") or m.group(f"g{i}") or m.group(f"c{i}")
    second = m.group(f"s{i}")
    if h > 24 or (minute and int(minute) > 59) or (second and int(second) > 59):
        return None
    out = f"{num.cardinal(h)} giờ"
    if minute and int(minute):
        out += f" {num.cardinal(int(minute))} phút"
    if second and int(second):
        out += f" {num.cardinal(int(second))} giây"
    return out


def dates_and_times(text: str) -> str:
    """Read dates (04/02/2026, 4-10/2, tháng 12/2026, ngày 5 tháng 4) and times (7h30, 07:30, 14h)."""

    def day_range(m: Match[str]) -> str | None:
        d1, d2, m2 = int(m.group("d1")), int(m.group("d2")), int(m.group("m2"))
        m1 = int(m.group("m1")) if m.group("m1") else None
        y = int(m.group("y")) if m.group("y") else None
        if not _valid_dm(d2, m2) or not _valid_dm(d1, m1 or m2):
            return None
        prefix = "ngày " if _needs_ngay(m) else ""
        return f"{prefix}{_date_words(d1, m1, None)} đến ngày {_date_words(d2, m2, y)}"

    def dmy(m: Match[str]) -> str | None:
        d, mo = int(m.group("d")), int(m.group("m"))
        if not _valid_dm(d, mo):
            return None
        return ("ngày " if _needs_ngay(m) else "") + _date_words(d, mo, int(m.group("y")))

    def dm(m: Match[str]) -> str | None:
        d, mo = int(m.group("d")), int(m.group("m"))
        padded = len(m.group("d")) == 2 and len(m.group("m")) == 2
        before = m.string[max(0, m.start() - 12) : m.start()]
        after = m.string[m.end() : m.end() + 16]
        if not _valid_dm(d, mo):
            return None
        # Bulletins carry dates far more often than fractions: a valid bare day/month ("kỷ niệm
        # 30/4") is a date, unless a share is plainly meant ("chiếm 1/2", "2/3 số hộ").
        if not (padded or _DATE_CONTEXT.search(before)) and (
                _FRACTION_BEFORE.search(before) or _FRACTION_AFTER.match(after)):
            return None
        return ("ngày " if _needs_ngay(m) else "") + _date_words(d, mo, None)

    def my(m: Match[str]) -> str | None:
        mo = int(m.group("m"))
        if not 1 <= mo <= 12:
            return None
        before = m.string[max(0, m.start() - 8) : m.start()].lower()
        prefix = "" if re.search(rf"{NOT_AFTER_LETTER}tháng\s*$", before) else "tháng "
        return f"{prefix}{num.month(mo)} năm {num.cardinal(int(m.group('y')))}"

    def time(m: Match[str]) -> str | None:
        first = _time_words(m, 1)
        # A bare number ("5") is not a time; it needs an h, g or colon part.
        if first is None or m.group(0).strip().isdigit():
            return None
        if m.group("h2") is None:
            return first
        second = _time_words(m, 2)
        return None if second is None else f"{first} đến {second}"

    def day_month_words(m: Match[str]) -> str | None:
        d, mo = int(m.group("d")), int(m.group("m"))
        if not _valid_dm(d, mo):
            return None
        return f"{m.group('kw')}{num.day(d)}{m.group('sp')}{num.month(mo)}"

    def month_word(m: Match[str]) -> str | None:
        mo = int(m.group("m"))
        return m.group("kw") + num.month(mo) if 1 <= mo <= 12 else None

    text = _sub(_DAY_RANGE, day_range, text)
    text = _sub(_DMY, dmy, text)
    text = _sub(_MY, my, text)
    text = _sub(_DM, dm, text)
    text = _sub(_DAY_MONTH_WORDS, day_month_words, text)
    text = _sub(_MONTH_WORD, month_word, text)
    return _sub(_TIME, time, text)


# --- 590: units, percentages and money ---------------------------------------------------------

UNITS: dict[str, str] = {
    "km/h": "ki lô mét trên giờ",
    "m/s": "mét trên giây",
    "kWh": "ki lô oát giờ",
    "km²": "ki lô mét vuông",
    "km2": "ki lô mét vuông",
    "m²": "mét vuông",
    "m2": "mét vuông",
    "m³": "mét khối",
    "m3": "mét khối",
    "cm²": "xăng ti mét vuông",
    "cm2": "xăng ti mét vuông",
    "ha": "héc ta",
    "km": "ki lô mét",
    "cm": "xăng ti mét",
    "mm": "mi li mét",
    "m": "mét",
    "kg": "ki lô gam",
    "mg": "mi li gam",
    "g": "gam",
    "ml": "mi li lít",
    "l": "lít",
    "kW": "ki lô oát",
    "MW": "mê ga oát",
    "W": "oát",
    "kV": "ki lô vôn",
    "V": "vôn",
    "MB": "mê ga bai",
    "GB": "ghi ga bai",
    "°C": "độ C",
    "ºC": "độ C",
    "℃": "độ C",
    "oC": "độ C",
    "°": "độ",
    "%": "phần trăm",
    "đ": "đồng",
    "tr": "triệu",
    "h": "giờ",
}
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_UNIT = re.compile(rf"(?<=[0-9])\s?(?P<unit>{_UNIT_ALT})(?!{L}|[²³0-9])")
#: "đồng/kg", "tấn/ha", "lần/ngày": what may follow the slash, and how it is said.
#: After these the slash is "một" ("đồng/tháng" "đồng một tháng"); after units it is "trên".
_PER_ONE = {"ngày", "tháng", "năm", "tuần", "quý", "người", "hộ", "lượt", "suất", "con", "lần"}
_PER_WORDS = {
    **{u: s for u, s in UNITS.items() if u[0].isalpha() and u not in ("tr", "đ")},
    **{w: w for w in (*_PER_ONE, "giờ")},
}
_PER_ALT = "|".join(re.escape(w) for w in sorted(_PER_WORDS, key=len, reverse=True))
_PER = re.compile(rf"(?<={L})/(?P<per>{_PER_ALT})(?!{L}|[²³0-9])")
_MONEY_BEFORE = re.compile(r"(?:đồng|Mỹ|triệu|nghìn|tỷ)$")
_DOLLAR = re.compile(r"\$\s?(?P<n>[0-9][0-9.,]*[0-9]|[0-9])")
_PERCENT_RANGE = re.compile(r"(?<=[0-9])\s?%\s*[-–]\s*(?=[0-9])")


def units(text: str) -> str:
    """Say units after numbers (km, ha, kg, m², °C, km/h, %, đ …); "đ/kg" is "đồng một ki lô gam"."""
    text = _sub(_DOLLAR, lambda m: f"{m.group('n')} đô la Mỹ", text)
    text = _PERCENT_RANGE.sub(" đến ", text)
    text = _UNIT.sub(lambda m: " " + UNITS[m.group("unit")], text)

    def per(m: Match[str]) -> str:
        word = m.group("per")
        money = _MONEY_BEFORE.search(m.string, 0, m.start()) is not None
        joiner = "một" if money or word in _PER_ONE else "trên"
        return f" {joiner} {_PER_WORDS[word]}"

    return _PER.sub(per, text)


# --- 600: numbers ------------------------------------------------------------------------------

_NUM = (
    r"[0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]+)?(?![0-9]|[.,][0-9])"
    r"|[0-9]{1,3}(?:,[0-9]{3}){2,}(?![0-9]|[.,][0-9])"
    r"|[0-9]+,[0-9]+(?![0-9]|,[0-9])"
    r"|[0-9]+(?:\.[0-9]+)+(?![0-9])"
    r"|[0-9]+"
)
_ORDINAL = re.compile(rf"(?P<kw>{NOT_AFTER_LETTER}(?i:thứ)\s+)(?P<n>[0-9]{{1,3}})(?![0-9]|[.,][0-9])")
_RANGE = re.compile(rf"(?<![0-9.,])(?P<a>{_NUM})\s*[-–—]\s*(?P<b>{_NUM})")
_COLON = re.compile(rf"(?<![0-9.,])(?P<a>{_NUM}):(?P<b>{_NUM})")
_SLASH = re.compile(rf"(?<![0-9.,])(?P<a>{_NUM})/(?P<b>{_NUM})")
_NEGATIVE = re.compile(rf"(?<![\w.,\-])-(?P<n>{_NUM})")
_NUMBER = re.compile(_NUM)


def read_number(token: str) -> str:
    """Read one number token as written in Vietnamese (1.000.000, 3,5, 05, 1.2.3)."""
    if re.fullmatch(r"[0-9]{1,3}(?:,[0-9]{3}){2,}", token):
        return num.integer(token.replace(",", ""))
    if re.fullmatch(r"[0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]+)?", token) or re.fullmatch(r"[0-9]+,[0-9]+", token):
        whole, _, frac = token.partition(",")
        return num.decimal(whole, frac or None)
    if "." in token:
        return " chấm ".join(num.integer(p) for p in token.split("."))
    return num.integer(token)


def numbers(text: str) -> str:
    """Read every remaining number: ordinals after "thứ", ranges with "đến", negatives, decimals, the rest."""
    text = _sub(_ORDINAL, lambda m: m.group("kw") + num.ordinal(int(m.group("n"))), text)
    text = _sub(_RANGE, lambda m: f"{read_number(m.group('a'))} đến {read_number(m.group('b'))}", text)
    # Not a time (the dates and times step took those): a score or a ratio, "2:1".
    text = _sub(_COLON, lambda m: f"{read_number(m.group('a'))} {read_number(m.group('b'))}", text)
    text = _sub(_SLASH, lambda m: f"{read_number(m.group('a'))} trên {read_number(m.group('b'))}", text)
    text = _sub(_NEGATIVE, lambda m: "âm " + read_number(m.group("n")), text)
    return _sub(_NUMBER, lambda m: read_number(m.group(0)), text)


# --- 900: cleanup --------------------------------------------------------------------------------

_SYMBOLS = {
    "&": " và ",
    "%": " phần trăm ",
    "@": " a còng ",
    "/": " ",
    "\\": " ",
    "|": ", ",
    "•": ", ",
    "·": ", ",
    "►": ", ",
    "▪": ", ",
    "■": ", ",
    "●": ", ",
    "»": " ",
    "«": " ",
    "*": " ",
    "#": " ",
    "~": " ",
    "^": " ",
    "_": " ",
    "=": " ",
    "<": " ",
    ">": " ",
    "[": " ",
    "]": " ",
    "{": " ",
    "}": " ",
    "`": " ",
}
_SYMBOL_RE = re.compile("|".join(re.escape(k) for k in _SYMBOLS))
_DIGITS_LEFT = re.compile(r"[0-9]+")
_SPACE_DASH = re.compile(r"(?<=\S)[ \t]+[-–—]+[ \t]+(?=\S)")
_DASH_AFTER_COMMA = re.compile(r"(?<=,)[ \t]*[-–—]+(?=[ \t]|$)", re.MULTILINE)
_BULLET = re.compile(r"^[ \t]*[-–—+]+[ \t]+", re.MULTILINE)
_HSPACE = re.compile(r"[ \t]+")
#: Only before punctuation that ends something: " .vn" must not become ".vn" (an address).
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+(?=[,.;:!?)…]+(?:\s|$))")
_SPACE_AFTER_OPEN = re.compile(r"(?<=\()[ \t]+")
_EMPTY_PARENS = re.compile(r"\([ \t,;]*\)")
_REPEATED_COMMA = re.compile(r"[ \t]*,(?:[ \t]*,)+")
_LEADING_COMMA = re.compile(r"^[ \t]*[,;:][ \t]*", re.MULTILINE)
_TRAILING_COMMA = re.compile(r"[ \t]*,[ \t]*$", re.MULTILINE)
_COMMA_BEFORE_STOP = re.compile(r",[ \t]*(?=[.;:!?]+(?:\s|$))")
_SPACE_AFTER_COMMA = re.compile(r"([,;:])(?=[^\W\d_(])")
_BLANK_LINES = re.compile(r"\n{3,}")


def cleanup(text: str) -> str:
    """Say or drop leftover symbols, tidy spaces and punctuation; leave no ASCII digit."""
    text = _SYMBOL_RE.sub(lambda m: _SYMBOLS[m.group(0)], text)
    # Steps from other plugins run after the numbers step; their digits must still be spoken.
    text = _sub(_DIGITS_LEFT, lambda m: num.integer(m.group(0)), text)
    # Tidying one thing can expose another (", - ,"); repeat until nothing changes.
    for _ in range(10):
        before = text
        text = _SPACE_DASH.sub(", ", text)
        text = _DASH_AFTER_COMMA.sub("", text)
        text = _BULLET.sub("", text)
        text = _HSPACE.sub(" ", text)
        text = _EMPTY_PARENS.sub(" ", text)
        text = _SPACE_BEFORE_PUNCT.sub("", text)
        text = _SPACE_AFTER_OPEN.sub("", text)
        text = _REPEATED_COMMA.sub(",", text)
        text = _COMMA_BEFORE_STOP.sub("", text)
        text = _LEADING_COMMA.sub("", text)
        text = _TRAILING_COMMA.sub("", text)
        text = _SPACE_AFTER_COMMA.sub(r"\1 ", text)
        # Removing a symbol can bring a keyword next to a numeral ("khóa /I").
        text = roman_numerals(text)
        if text == before:
            break
    lines = [line.strip() for line in text.split("\n")]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return unicodedata.normalize("NFC", text)
