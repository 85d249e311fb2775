"""A local neural Vietnamese voice (Piper/VITS with ONNX Runtime) from a model folder the
administrator installs (``HUB_ONNX_MODEL_DIR``); nothing is downloaded. See docs/voices.md."""

from __future__ import annotations

from hub import hookimpl

from .engine import PLUGIN_VERSION, ModelError, OnnxEngine, OnnxSettings, find_model, read_config

__all__ = ["ModelError", "OnnxEngine", "OnnxSettings", "PLUGIN_VERSION", "find_model", "hub_register_tts_engines",
           "read_config"]


@hookimpl
def hub_register_tts_engines() -> list[OnnxEngine]:
    # Checks the folder and its config (cheap, and a clear error in the log at start-up); the
    # model itself is loaded on first use. Without HUB_ONNX_MODEL_DIR the engine is unavailable.
    return [OnnxEngine(OnnxSettings())]


@hookimpl
def hub_register_commands(subparsers) -> None:
    p = subparsers.add_parser(
        "onnx-voice", help="check the installed local neural voice (HUB_ONNX_MODEL_DIR) and speak a test sentence",
        description="Load the model folder as the hub will, speak a sentence, and print what was found; "
                    "exit 1 with the reason when the folder or model is not usable.")
    p.add_argument("--text", default="Xin chào bà con.", help="the sentence to speak")
    p.set_defaults(func=_check)


def _check(args, _settings) -> int:
    import io
    import json
    import sys
    import wave

    from hub.plugin_types import TTSError

    engine = OnnxEngine(OnnxSettings())
    report = {"model_dir": str(engine.settings.model_dir) if engine.settings.model_dir else None,
              "model": str(engine.model_path) if engine.model_path else None, "version": engine.version}
    try:
        if engine.problem:
            raise TTSError(engine.problem)
        result = engine.synthesize(args.text, voice=None, speed=1.0)
        with wave.open(io.BytesIO(result.audio)) as w:
            report.update(ok=True, voice=result.voice, sample_rate=w.getframerate(),
                          seconds=round(w.getnframes() / w.getframerate(), 2))
    except TTSError as exc:
        report.update(ok=False, problem=str(exc))
        print(json.dumps(report, ensure_ascii=False))
        print(f"hub onnx-voice: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, ensure_ascii=False))
    return 0
