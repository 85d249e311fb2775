"""The hooks a plugin may implement.

Every hook is called with keyword arguments; an implementation declares only the ones it uses.
Registration hooks are cheap and free of side effects: slow work (speech, encoding, drawing) runs
later in the render pipeline. Each hook is documented in docs/plugins.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from fastapi import APIRouter

    from hub.config import Settings
    from hub.plugin_types import BulletinSnapshot, Renderer, SpeechChecker, TextNormalizer, TTSEngine

hookspec = pluggy.HookspecMarker("hub")


# --- Registration -------------------------------------------------------------------------------


@hookspec
def hub_register_renderers(settings: Settings) -> list[Renderer]:
    """Return the renderers this plugin provides.

    A renderer turns one approved bulletin revision into artifacts for one channel; the pipeline
    runs each renderer whose channel the bulletin uses as a durable job.

    :param settings: the hub's settings; a plugin reads its own section with ``settings.section(MySettings)``.
    :returns: a list of :class:`hub.plugin_types.Renderer`.

    Example::

        @hookimpl
        def hub_register_renderers():
            return [Renderer(name="sms", channel="web", render=render_sms)]
    """


@hookspec
def hub_register_tts_engines(settings: Settings) -> list[TTSEngine]:
    """Return the text-to-speech engines this plugin provides.

    ``HUB_TTS_ENGINES`` names which of them the speech chain uses, in order of preference.

    :param settings: the hub's settings; a plugin reads its own section with ``settings.section(MySettings)``.
    :returns: a list of objects following :class:`hub.plugin_types.TTSEngine`.

    Example::

        @hookimpl
        def hub_register_tts_engines(settings):
            return [PiperEngine(model=settings.data_dir / "piper.onnx")]
    """


@hookspec
def hub_register_text_normalizers(settings: Settings) -> list[TextNormalizer]:
    """Return steps of the chain that turns written text into what a voice should read.

    Steps from every plugin run in ascending ``order``; see
    :class:`hub.plugin_types.TextNormalizer` for the slots the built-ins take.

    :param settings: the hub's settings; a plugin reads its own section with ``settings.section(MySettings)``.
    :returns: a list of :class:`hub.plugin_types.TextNormalizer`.

    Example::

        @hookimpl
        def hub_register_text_normalizers():
            return [TextNormalizer(name="xa-lang-son", order=150,
                                   normalize=lambda t: t.replace("Xã Lộc Bình", "xã Lộc Bình"))]
    """


@hookspec
def hub_register_routes(settings: Settings) -> list[APIRouter]:
    """Return FastAPI routers to mount on the hub's application.

    :param settings: the hub's settings; a plugin reads its own section with ``settings.section(MySettings)``.
    :returns: a list of :class:`fastapi.APIRouter` (with their own prefixes).

    Example::

        @hookimpl
        def hub_register_routes():
            router = APIRouter(prefix="/api/v1/weather")
            router.add_api_route("", get_weather)
            return [router]
    """


@hookspec
def hub_register_commands(subparsers: Any, settings: Settings) -> None:
    """Add subcommands to the ``hub`` command line.

    Each subcommand sets ``func`` (called as ``func(args, settings)``, returning the exit status)
    with ``set_defaults``.

    :param subparsers: the ``hub`` parser's ``argparse`` subparsers object.
    :param settings: the hub's settings; a plugin reads its own section with ``settings.section(MySettings)``.

    Example::

        @hookimpl
        def hub_register_commands(subparsers):
            p = subparsers.add_parser("weather", help="print today's forecast")
            p.set_defaults(func=lambda args, settings: print_forecast() or 0)
    """


@hookspec
def hub_register_speech_checkers(settings: Settings) -> list[SpeechChecker]:
    """Return checkers that listen to audio and say whether it speaks a given text.

    With one registered, a recording attached to a bulletin is checked in the worker before anyone
    approves it (``recording_check`` on the bulletin), each rendered speech take is checked before
    mastering (``asr_text``/``asr_wer`` on the artifact; a take that is not ``audible`` makes the
    voice chain fall back to the next engine), and a checker with ``block`` makes approving a
    recording that does not match answer 409.

    :param settings: the hub's settings; a plugin reads its own section with ``settings.section(MySettings)``.
    :returns: a list of :class:`hub.plugin_types.SpeechChecker`.

    Example::

        @hookimpl
        def hub_register_speech_checkers():
            return [SpeechChecker(name="asr", check=lambda path, text: my_recogniser.check(path, text))]
    """


# --- Notifications ------------------------------------------------------------------------------


@hookspec
def hub_on_bulletin_approved(bulletin: BulletinSnapshot, settings: Settings) -> None:
    """React to a bulletin revision having been approved (after the approval is committed).

    Called in the request that approved it: hand slow work to a thread or a job, do not do it here.

    :param bulletin: the approved revision.
    :param settings: the hub's settings; a plugin reads its own section with ``settings.section(MySettings)``.

    Example::

        @hookimpl
        def hub_on_bulletin_approved(bulletin):
            log.info("approved %s r%d", bulletin.id, bulletin.revision)
    """


@hookspec
def hub_on_artifact_stored(artifact: dict[str, Any], bulletin: BulletinSnapshot, settings: Settings) -> None:
    """React to an artifact having been stored and recorded (after the commit).

    Called only for published artifacts: revisions are rendered when submitted, and the artifacts
    of one not yet approved never leave the hub through this hook. Artifacts rendered before the
    approval are published by it (``hub_on_bulletin_approved``), not announced here.

    :param artifact: the artifact as the API shows it (kind, url, sha256, bytes, mime, published, …).
    :param bulletin: the revision it was rendered from.
    :param settings: the hub's settings; a plugin reads its own section with ``settings.section(MySettings)``.

    Example::

        @hookimpl
        def hub_on_artifact_stored(artifact):
            if artifact["kind"] == "audio" and artifact["published"]:
                push_to_cdn(artifact["sha256"])
    """
