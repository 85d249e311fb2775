"""Vietnamese speech text normaliser: makes bulletins readable aloud by any voice.

Turns "Ngày 04/02/2026, HĐND tỉnh khóa XVII họp lúc 7h30" into words a TTS voice reads correctly:
dates, times, numbers, units, phone numbers, document codes, abbreviations and Roman numerals,
and drops web-page clutter and bylines. See docs/speech-normaliser.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, ClassVar, Iterable

from pydantic import field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from hub import hookimpl
from hub.plugin_api import PluginSettings, pronunciations, split_csv
from hub.plugin_types import TextNormalizer

from . import steps
from .lexicon import Lexicon, LexiconError, load_lexicon
from .unread import unread_tokens

__all__ = [
    "Lexicon",
    "LexiconError",
    "NormalizeSettings",
    "build_steps",
    "hub_register_text_normalizers",
    "load_lexicon",
    "normalize",
    "unread_tokens",
]


log = logging.getLogger(__name__)

#: The normaliser's settings were once named ``HUB_SPEECH_*`` (now the speech plugin's prefix);
#: ``HUB_SPEECH_LEXICON`` still works here, for now.
FORMER_PREFIX = "HUB_SPEECH_"


class NormalizeSettings(PluginSettings):
    """Settings of the Vietnamese normaliser, read from ``HUB_NORMALIZE_*``.

    The former name ``HUB_SPEECH_LEXICON`` is still read, below the new one, with a warning.
    """

    model_config = SettingsConfigDict(env_prefix="HUB_NORMALIZE_", extra="ignore")
    former_env_prefix: ClassVar[str | None] = FORMER_PREFIX

    #: Extra lexicon files (comma-separated in the environment), applied after the built-in one.
    lexicon: Annotated[list[Path], NoDecode] = []

    @field_validator("lexicon", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return split_csv(value)


def with_dictionary(lexicon: Lexicon, dictionary: Callable[[], Mapping[str, str]]) -> Callable[[str], str]:
    """The abbreviation step over ``lexicon`` plus the province's dictionary as it is now.

    ``dictionary()`` is asked on every text (the hub caches the database read); the step is
    rebuilt only when the entries changed. Dictionary entries win over every lexicon file.
    """
    built: dict[str, Any] = {"source": None, "key": None, "step": None}
    lock = threading.Lock()

    def expand(text: str) -> str:
        entries = dictionary()
        with lock:
            # The hub hands back the same mapping while its cache holds: compared only when new.
            if entries is not built["source"]:
                key = tuple(sorted(entries.items()))
                if built["key"] != key:
                    merged = replace(lexicon, pronunciations={**lexicon.pronunciations, **entries})
                    built["key"], built["step"] = key, steps.make_abbreviations(merged)
                built["source"] = entries
            step = built["step"]
        return step(text)

    return expand


def build_steps(lexicon_paths: Iterable[str | Path] = (),
                dictionary: Callable[[], Mapping[str, str]] | None = None) -> list[TextNormalizer]:
    """Return the built-in steps, in order, using the built-in lexicon plus ``lexicon_paths`` and,
    when given, the province's pronunciation dictionary (``dictionary()``: written → spoken)."""
    lexicon = load_lexicon(lexicon_paths)
    abbreviations = steps.make_abbreviations(lexicon) if dictionary is None else with_dictionary(lexicon, dictionary)
    return [
        TextNormalizer(name="vi-nfc", order=0, normalize=steps.unicode_nfc),
        TextNormalizer(name="vi-clutter", order=100, normalize=steps.remove_clutter),
        TextNormalizer(name="vi-links", order=150, normalize=steps.speak_links),
        TextNormalizer(name="vi-abbreviations", order=200, normalize=abbreviations),
        TextNormalizer(name="vi-roman-numerals", order=300, normalize=steps.roman_numerals),
        TextNormalizer(name="vi-document-codes", order=400, normalize=steps.make_document_codes(lexicon)),
        TextNormalizer(name="vi-phone-numbers", order=450, normalize=steps.phone_numbers),
        TextNormalizer(name="vi-dates-times", order=500, normalize=steps.dates_and_times),
        TextNormalizer(name="vi-units", order=590, normalize=steps.units),
        TextNormalizer(name="vi-numbers", order=600, normalize=steps.numbers),
        TextNormalizer(name="vi-cleanup", order=900, normalize=steps.cleanup, unread=unread_tokens),
    ]


def normalize(text: str, lexicon_paths: Iterable[str | Path] = (),
              pronunciations: Mapping[str, str] | None = None) -> str:
    """Run the built-in steps in order on ``text``, with the built-in lexicon plus ``lexicon_paths``
    and, when given, dictionary entries (written → spoken) that win over both."""
    dictionary = None if pronunciations is None else (lambda: pronunciations)
    for step in build_steps(lexicon_paths, dictionary):
        text = step.normalize(text)
    return text


@hookimpl
def hub_register_text_normalizers(settings: Any) -> list[TextNormalizer]:
    """Register the Vietnamese steps; extra lexicon files come from ``HUB_NORMALIZE_LEXICON``."""
    own = settings if isinstance(settings, NormalizeSettings) else NormalizeSettings()
    # The hub's own settings name its database: the province's dictionary there is used too, as
    # it is at each text (a change is used by the next render).
    dictionary = (lambda: pronunciations(settings)) if hasattr(settings, "sqlalchemy_url") else None
    return build_steps(own.lexicon, dictionary)
