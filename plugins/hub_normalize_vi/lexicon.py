"""The speech lexicon: the built-in YAML file merged with a province's own files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import unicodedata
from functools import lru_cache

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

BUILTIN = Path(__file__).with_name("lexicon.yaml")
SECTIONS = ("abbreviations", "pronunciations", "issuers", "document_types")


class LexiconError(ValueError):
    """A lexicon file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class Lexicon:
    """Written form → spoken form, per section; later files override earlier ones."""

    abbreviations: dict[str, str] = field(default_factory=dict)
    pronunciations: dict[str, str] = field(default_factory=dict)
    issuers: dict[str, str] = field(default_factory=dict)
    document_types: dict[str, str] = field(default_factory=dict)

    @property
    def replacements(self) -> dict[str, str]:
        """Everything the abbreviation step replaces in running text."""
        return {**self.abbreviations, **self.pronunciations}

    def issuer(self, code: str) -> str | None:
        return self.issuers.get(code) or self.abbreviations.get(code)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _read(path: Path) -> dict[str, dict[str, str]]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise LexiconError(f"speech lexicon {path} does not exist (check HUB_NORMALIZE_LEXICON)") from None
    except OSError as exc:
        raise LexiconError(f"speech lexicon {path} cannot be read: {exc}") from None
    # The hook runs for every text spoken; a file is parsed again only when it changes.
    return _parse(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _parse(name: str, mtime_ns: int, size: int) -> dict[str, dict[str, str]]:
    path = Path(name)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except FileNotFoundError:
        raise LexiconError(f"speech lexicon {path} does not exist (check HUB_NORMALIZE_LEXICON)") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise LexiconError(f"speech lexicon {path} cannot be read: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LexiconError(f"speech lexicon {path}: expected a mapping with sections {', '.join(SECTIONS)}")
    unknown = set(data) - set(SECTIONS)
    if unknown:
        raise LexiconError(f"speech lexicon {path}: unknown section(s) {', '.join(sorted(map(str, unknown)))}")
    result: dict[str, dict[str, str]] = {}
    for section, entries in data.items():
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise LexiconError(f"speech lexicon {path}: section {section} must map written to spoken forms")
        for key, value in entries.items():
            if not isinstance(key, str) or not key.strip() or not isinstance(value, str):
                raise LexiconError(f"speech lexicon {path}: {section}: entry {key!r} must map text to text")
        # Text is NFC before the abbreviation step runs, so a file saved decomposed must match too.
        result[section] = {_nfc(k): _nfc(v) for k, v in entries.items()}
    return result


def load_lexicon(paths: Iterable[str | Path] = ()) -> Lexicon:
    """Load the built-in lexicon, then each extra file in order (later entries win)."""
    merged: dict[str, dict[str, str]] = {section: {} for section in SECTIONS}
    for path in (BUILTIN, *(Path(p) for p in paths)):
        for section, entries in _read(path).items():
            merged[section].update(entries)
    return Lexicon(**merged)
