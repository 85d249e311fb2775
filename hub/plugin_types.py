"""The small typed objects that plugins hand to the core, and the context the core hands back.

Everything here is a frozen dataclass or a Protocol: plugins depend on this module, never on the
store or the web layer, so a third-party plugin can be written against it alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

CHANNELS = ("speaker", "display", "web")
ARTIFACT_KINDS = ("audio", "slide", "feed")
#: Circular 39/2020/TT-BTTTT's three levels, lowest first.
PRIORITIES = ("normal", "priority", "emergency")
#: Sort key: emergencies first (render jobs, slides, overlaps).
PRIORITY_RANK = {"emergency": 0, "priority": 1, "normal": 2}


@dataclass(frozen=True)
class CommuneInfo:
    """A commune as renderers see it."""

    code: str
    name: str
    voice: str | None = None


@dataclass(frozen=True)
class BulletinSnapshot:
    """One approved revision of a bulletin: the exact content that was approved."""

    id: str
    revision: int
    content_hash: str
    title: str
    body: str
    priority: str
    channels: tuple[str, ...]
    targets: tuple[str, ...]
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    approved_at: datetime | None = None
    voice: str | None = None
    #: sha256 of an uploaded recording to air instead of synthesised speech, if any.
    recording_sha256: str | None = None


@dataclass(frozen=True)
class RenderedMedia:
    """One file a renderer produced; the pipeline stores it by its sha256 and records an artifact.

    The declared fields below are what the core reads (to schedule audio, to pick a board's
    slides); ``meta`` is the plugin's own and is only shown (on the artifact in the API).
    """

    kind: str
    mime: str
    data: bytes
    #: The plugin's own fields, shown on the artifact (engine, voice, spoken_text, loudness_lufs …).
    meta: dict[str, Any] = field(default_factory=dict)
    #: Playing time in seconds: audio without it cannot be scheduled; a slide's time on screen.
    duration_s: float | None = None
    #: Made for these communes only (a commune's own voice); empty: for every targeted commune.
    communes: tuple[str, ...] = ()
    #: For display boards: "landscape" or "portrait"; None: any board.
    orientation: str | None = None
    #: A slide's page number and page count.
    page: int | None = None
    pages: int | None = None

    def declared(self) -> dict[str, Any]:
        """The declared fields that are set, as the artifact records them beside ``meta``."""
        values = {"duration_s": self.duration_s, "communes": list(self.communes) or None,
                  "orientation": self.orientation, "page": self.page, "pages": self.pages}
        return {name: value for name, value in values.items() if value is not None}


@runtime_checkable
class MediaReader(Protocol):
    """Read-only access to the content-addressed media store."""

    def path(self, sha256: str) -> Path | None: ...


@dataclass(frozen=True)
class RenderContext:
    """What a renderer gets: the approved content and read-only access to the hub."""

    bulletin: BulletinSnapshot
    #: Communes the bulletin targets ("*" already expanded to every commune).
    communes: tuple[CommuneInfo, ...]
    settings: Any
    #: What plugins registered (hub.plugins.Registrations): ``hook.tts_engines()``,
    #: ``hook.text_normalizers()``, ``hook.renderers()``, collected once per process.
    hook: Any
    media: MediaReader
    #: A private scratch folder for this job, removed after the job.
    work_dir: Path
    province: str = ""


@dataclass(frozen=True)
class Renderer:
    """Turns an approved bulletin revision into artifacts for one channel."""

    name: str
    channel: str
    render: Callable[[RenderContext], list[RenderedMedia]]
    #: Informational: bump when output for the same input changes.
    version: str = "1"
    #: Further channels that need this renderer's output (speech also feeds the web's enclosures).
    extra_channels: tuple[str, ...] = ()

    @property
    def channels(self) -> tuple[str, ...]:
        return (self.channel, *self.extra_channels)


@dataclass(frozen=True)
class SynthesisResult:
    """Audio a TTS engine made for one text."""

    audio: bytes
    #: Container of ``audio``: "wav" or "mp3".
    format: str
    voice: str


class TTSError(Exception):
    """A TTS engine could not speak this text now; the chain falls through to the next engine."""


@runtime_checkable
class TTSEngine(Protocol):
    """A voice. ``name`` appears in ``HUB_TTS_ENGINES``; ``version`` is part of the cache key."""

    name: str
    version: str

    def available(self) -> bool:
        """Say cheaply whether the engine can be tried now (binary present, breaker closed)."""
        ...

    def synthesize(self, text: str, *, voice: str | None, speed: float) -> SynthesisResult:
        """Speak already-normalised text; raise TTSError when it cannot."""
        ...


@dataclass(frozen=True)
class TextNormalizer:
    """One step of the speech text chain; steps run by ascending ``order``.

    Built-in steps use multiples of 100 (NFC 0, clutter 100, abbreviations 200, Roman numerals 300,
    document codes 400, dates and times 500, numbers 600, cleanup 900) so a province can slot its
    own step between them.
    """

    name: str
    order: int
    normalize: Callable[[str], str]
    #: Optional: given the finished spoken text, the words this plugin could not make readable,
    #: as ``[{"token": …, "kind": …}]`` (the speech preview lists them for the editor).
    unread: Callable[[str], list[dict[str, str]]] | None = None


@dataclass(frozen=True)
class SpeechCheck:
    """What a speech checker heard in one recording, measured against the text it should say."""

    #: What the recogniser heard.
    transcript: str
    #: Word error rate of ``transcript`` against the expected spoken text (1.0: nothing heard).
    wer: float
    #: ``wer`` is at most the checker's threshold (``HUB_ASR_MAX_WER``): the audio says the text.
    matches: bool
    #: The recogniser heard speech at all (not silence, hum or noise): a voice engine whose take
    #: is not audible has failed, and the speech chain falls back to the next engine.
    audible: bool


@dataclass(frozen=True)
class SpeechChecker:
    """Listens to audio and says whether it speaks a text (a speech recogniser, for example).

    ``check(path, spoken_text)`` reads any audio file the hub handles (WAV, MP3, M4A, OGG); it may
    take seconds, so the core and the speech renderer call it only in the worker, never in a request.
    """

    name: str
    check: Callable[[Path, str], SpeechCheck]
    #: Approval of a revision whose recording does not match (or is not yet checked) answers 409.
    block: bool = False
