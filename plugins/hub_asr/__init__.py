"""Checking speech by ear: an offline Vietnamese speech recogniser (viet-asr) as a speech checker.

Optional: installed with the extra ``asr`` (``pip install -e '.[asr]'``) and off unless
``HUB_ASR_ENABLED=true``, because the recogniser's model weights (inside the viet-asr wheel) carry
no stated licence. Enabled, it registers one :class:`~hub.plugin_types.SpeechChecker`: the core
checks each attached recording with it in the worker (hub/recording_check.py), and the speech
renderer checks each voice take (asr_text / asr_wer on the artifact; a take the recogniser hears
nothing in makes the chain fall back). See docs/voices.md, "Checking recordings by ear".
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub import hookimpl
from hub.plugin_types import SpeechCheck, SpeechChecker

__version__ = "1.0.0"
log = logging.getLogger(__name__)


class AsrSettings(BaseSettings):
    """``HUB_ASR_*``: the recording check."""

    model_config = SettingsConfigDict(env_prefix="HUB_ASR_", extra="ignore")

    #: Off by default: the model's weights carry no stated licence.
    enabled: bool = False
    #: A recording whose word error rate against its text is above this does not match.
    max_wer: float = Field(default=0.5, ge=0.0, le=10.0)
    #: Approving a revision whose recording does not match (or is not checked yet) answers 409.
    block: bool = False
    #: A voice take in which the recogniser hears fewer words than this share of the text is not
    #: speech (silence, hum, noise): the chain falls back to the next engine. Word error rate alone
    #: cannot tell, since espeak-ng's robotic speech scores 0.7-1.0 on ordinary sentences.
    min_heard: float = Field(default=0.25, ge=0.0, le=1.0)


class AsrChecker:
    """Transcribe, then measure against the spoken text (hub_asr.recognizer)."""

    def __init__(self, settings: AsrSettings) -> None:
        self.settings = settings

    def check(self, path: Path, spoken_text: str) -> SpeechCheck:
        from hub_asr import recognizer

        transcript = recognizer.transcribe(path)
        rate = recognizer.wer(spoken_text, transcript)
        expected = len(recognizer.words(spoken_text))
        heard = len(recognizer.words(transcript))
        audible = heard >= max(1, math.ceil(self.settings.min_heard * expected)) if expected else True
        return SpeechCheck(transcript=transcript, wer=rate, matches=rate <= self.settings.max_wer, audible=audible)


@hookimpl
def hub_register_speech_checkers() -> list[SpeechChecker]:
    settings = AsrSettings()
    if not settings.enabled:
        return []
    from hub_asr import recognizer

    if not recognizer.available():
        raise RuntimeError("HUB_ASR_ENABLED=true, but viet-asr is not installed: pip install 'grassroots-hub[asr]'")
    checker = AsrChecker(settings)
    return [SpeechChecker(name="asr", check=checker.check, block=settings.block)]
