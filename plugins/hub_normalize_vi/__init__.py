"""Vietnamese speech text normaliser: makes bulletins readable aloud by any voice.

Turns "Ngày 04/02/2026, HĐND tỉnh khóa XVII họp lúc 7h30" into words a TTS voice reads correctly:
dates, times, numbers, units, phone numbers, document codes, abbreviations and Roman numerals,
and drops web-page clutter and bylines. See docs/speech-normaliser.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, ClassVar, Iterable

from pydantic import field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from hub import hookimpl
from hub.plugin_api import PluginSettings, split_csv
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


def build_steps(lexicon_paths: Iterable[str | Path] = ()) -> list[TextNormalizer]:
    """Return the built-in steps, in order, using the built-in lexicon plus ``lexicon_paths``."""
    lexicon = load_lexicon(lexicon_paths)
    return [
        TextNormalizer(name="vi-nfc", order=0, normalize=steps.unicode_nfc),
        TextNormalizer(name="vi-clutter", order=100, normalize=steps.remove_clutter),
        TextNormalizer(name="vi-links", order=150, normalize=steps.speak_links),
        TextNormalizer(name="vi-abbreviations", order=200, normalize=steps.make_abbreviations(lexicon)),
        TextNormalizer(name="vi-roman-numerals", order=300, normalize=steps.roman_numerals),
        TextNormalizer(name="vi-document-codes", order=400, normalize=steps.make_document_codes(lexicon)),
        TextNormalizer(name="vi-phone-numbers", order=450, normalize=steps.phone_numbers),
        TextNormalizer(name="vi-dates-times", order=500, normalize=steps.dates_and_times),
        TextNormalizer(name="vi-units", order=590, normalize=steps.units),
        TextNormalizer(name="vi-numbers", order=600, normalize=steps.numbers),
        TextNormalizer(name="vi-cleanup", order=900, normalize=steps.cleanup, unread=unread_tokens),
    ]


def normalize(text: str, lexicon_paths: Iterable[str | Path] = ()) -> str:
    """Run the built-in steps in order on ``text``, with the built-in lexicon plus ``lexicon_paths``."""
    for step in build_steps(lexicon_paths):
        text = step.normalize(text)
    return text


@hookimpl
def hub_register_text_normalizers(settings: Any) -> list[TextNormalizer]:
    """Register the Vietnamese steps; extra lexicon files come from ``HUB_NORMALIZE_LEXICON``."""
    own = settings if isinstance(settings, NormalizeSettings) else NormalizeSettings()
    return build_steps(own.lexicon)
