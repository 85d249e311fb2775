"""The local neural voice (hub_tts_onnx) with a tiny Piper-shaped model the test builds itself:
loading, phoneme ids, sample rates, speed, speakers; a missing or malformed model folder is a clear
error at start-up and the chain falls back."""

from __future__ import annotations

import io
import json
import logging
import wave

import pytest

from hub.plugin_types import TTSError
from hub.plugins import Registrations, make_plugin_manager
from hub_tts_onnx import OnnxEngine, OnnxSettings
from tests.plugins.rendering import rendered_audio
from tests.plugins.onnx_voice import HOP, install_voice

TEXTS = ["Xin chào bà con, hôm nay xã họp.", "Thông báo Hội đồng nhân dân xã."]


def frames(audio: bytes) -> tuple[int, int, int]:
    with wave.open(io.BytesIO(audio)) as w:
        return w.getframerate(), w.getnchannels(), w.getnframes()


@pytest.mark.parametrize("rate", [16000, 22050])
def test_speaks_through_the_model_at_its_sample_rate(tmp_path, rate):
    engine = OnnxEngine(OnnxSettings(model_dir=install_voice(tmp_path / "voice", TEXTS, sample_rate=rate)))
    assert engine.problem is None and engine.available()
    ids = engine.ids(engine.phonemes(TEXTS[0]))
    # Piper's own order: ^, then each phoneme followed by _, then $.
    assert ids[0] == 1 and ids[-1] == 2 and set(ids[2:-1:2]) == {0} and 0 not in ids[1:-1:2] and len(ids) > 20
    result = engine.synthesize(TEXTS[0], voice="vi-VN-x-south", speed=1.0)
    assert result.format == "wav" and result.voice == "vi_VN-tiny-x_low"
    assert frames(result.audio) == (rate, 1, len(ids) * HOP)
    assert engine.version.startswith("onnx voice vi_VN-tiny-x_low ")


def test_speed_and_speaker_are_fed_to_the_model(tmp_path, monkeypatch):
    engine = OnnxEngine(OnnxSettings(model_dir=install_voice(tmp_path / "v", TEXTS, with_sid=True), speaker=1))
    session = engine._open()
    fed = {}
    real_run = session.run

    class Spy:
        def __getattr__(self, name):
            return getattr(session, name)

        def run(self, outputs, feeds):
            fed.update(feeds)
            return real_run(outputs, feeds)

    engine._session = Spy()
    engine.synthesize(TEXTS[1], voice=None, speed=1.25)
    assert fed["sid"].tolist() == [1]
    assert fed["scales"].tolist() == pytest.approx([0.667, 0.8, 0.8])
    assert fed["input_lengths"].tolist() == [fed["input"].shape[1]]


def test_text_changes_the_audio(tmp_path):
    engine = OnnxEngine(OnnxSettings(model_dir=install_voice(tmp_path / "v", TEXTS)))
    a = engine.synthesize(TEXTS[0], voice=None, speed=1.0).audio
    b = engine.synthesize(TEXTS[1], voice=None, speed=1.0).audio
    assert a != b


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", "does not exist"),
    ("empty", "holds no .onnx file"),
    ("no-config", "has no vi_VN-tiny-x_low.onnx.json beside it"),
    ("bad-json", "cannot be read"),
    ("not-piper", "is not a Piper voice config"),
    ("two-models", "name one with HUB_ONNX_MODEL"),
])
def test_a_bad_folder_is_a_clear_error_when_the_engine_is_made(tmp_path, caplog, setup, message):
    folder = tmp_path / "voice"
    if setup != "missing":
        install_voice(folder, TEXTS)
    if setup == "empty":
        for f in folder.iterdir():
            f.unlink()
    elif setup == "no-config":
        (folder / "vi_VN-tiny-x_low.onnx.json").unlink()
    elif setup == "bad-json":
        (folder / "vi_VN-tiny-x_low.onnx.json").write_text("{not json")
    elif setup == "not-piper":
        (folder / "vi_VN-tiny-x_low.onnx.json").write_text(json.dumps({"audio": {}}))
    elif setup == "two-models":
        install_voice(folder, TEXTS, name="vi_VN-other-low")
    with caplog.at_level(logging.ERROR, logger="hub_tts_onnx.engine"):
        engine = OnnxEngine(OnnxSettings(model_dir=folder))
    assert message in engine.problem and not engine.available()
    assert any(message in r.getMessage() for r in caplog.records), "logged when the engine is made"
    with pytest.raises(TTSError, match=message.split(" (")[0][:20]):
        engine.synthesize("Xin chào.", voice=None, speed=1.0)


@pytest.mark.parametrize(("damage", "message"), [
    ("garbage", "cannot be loaded"), ("no-scales", "lacks the input(s) scales")])
def test_a_malformed_model_file_is_a_clear_error(tmp_path, damage, message):
    folder = install_voice(tmp_path / "v", TEXTS, without="scales" if damage == "no-scales" else None)
    if damage == "garbage":
        (folder / "vi_VN-tiny-x_low.onnx").write_bytes(b"this is not an onnx model")
    engine = OnnxEngine(OnnxSettings(model_dir=folder))
    assert not engine.available() and message in engine.problem
    with pytest.raises(TTSError, match="voice model"):
        engine.synthesize("Xin chào bà con.", voice=None, speed=1.0)


@pytest.mark.sqlite_only  # a voice never touches the store: one lane is enough
def test_unset_means_not_installed_and_nothing_is_fetched(monkeypatch, settings):
    monkeypatch.delenv("HUB_ONNX_MODEL_DIR", raising=False)
    engines = Registrations(make_plugin_manager(settings), settings).tts_engines()
    assert not engines["onnx"].available() and "HUB_ONNX_MODEL_DIR is not set" in engines["onnx"].problem


def render(settings, monkeypatch, folder) -> list[dict]:
    monkeypatch.setenv("HUB_ONNX_MODEL_DIR", str(folder))
    return rendered_audio(settings, engines=["onnx", "espeak"], body=TEXTS[0])


@pytest.mark.sqlite_only  # a voice never touches the store: one lane is enough
def test_the_installed_voice_speaks_through_the_chain(settings, monkeypatch, tmp_path):
    audio = render(settings, monkeypatch, install_voice(tmp_path / "voice", ["Thông báo.", *TEXTS]))
    assert audio[0]["engine"] == "onnx" and audio[0]["voice"] == "vi_VN-tiny-x_low" and audio[0]["fallback"] is False
    assert audio[0]["loudness_lufs"] == pytest.approx(-16, abs=1.5)


@pytest.mark.sqlite_only  # a voice never touches the store: one lane is enough
def test_a_missing_model_folder_falls_back_on_record(settings, monkeypatch, tmp_path):
    audio = render(settings, monkeypatch, tmp_path / "not-installed")
    assert audio[0]["engine"] == "espeak" and audio[0]["fallback"] is True
    assert audio[0]["fallback_from"] == ["onnx: unavailable"]


def test_the_check_command_speaks_or_names_the_problem(tmp_path, monkeypatch, capsys):
    from hub.cli import main as hub_cli

    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HUB_ONNX_MODEL_DIR", str(install_voice(tmp_path / "voice", TEXTS, sample_rate=22050)))
    assert hub_cli(["onnx-voice", "--text", TEXTS[0]]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["sample_rate"] == 22050 and report["seconds"] > 0
    monkeypatch.setenv("HUB_ONNX_MODEL_DIR", str(tmp_path / "nowhere"))
    assert hub_cli(["onnx-voice"]) == 1
    captured = capsys.readouterr()
    assert "does not exist" in captured.err and json.loads(captured.out)["ok"] is False


@pytest.mark.sqlite_only  # a voice never touches the store: one lane is enough
def test_a_missing_model_folder_is_logged_as_the_hub_starts(settings, monkeypatch, tmp_path, caplog):
    from fastapi.testclient import TestClient

    from hub.app import create_app

    monkeypatch.setenv("HUB_ONNX_MODEL_DIR", str(tmp_path / "not-installed"))
    with caplog.at_level(logging.ERROR, logger="hub_tts_onnx.engine"):
        with TestClient(create_app(settings, pm=make_plugin_manager(settings))):
            logged = [r.getMessage() for r in caplog.records]
    assert any("local neural voice disabled" in m and "not-installed does not exist" in m for m in logged), logged
