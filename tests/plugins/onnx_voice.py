"""A tiny Piper-shaped voice model the tests build themselves with the ``onnx`` package's helper:
the same inputs and output as a Piper/VITS export (``input`` int64 [1, T], ``input_lengths`` int64
[1], ``scales`` float32 [3], optional ``sid`` int64 [1] → ``output`` float32 [1, 1, T × HOP]), so
the engine's loading, feeding, sample-rate handling and errors are exercised without a real voice.

Each phoneme id becomes HOP samples of a sine whose pitch follows the id, scaled by
``scales[0]`` (noise_scale), so the audio depends on the text and on what the engine feeds.
"""

from __future__ import annotations

import json
import subprocess
import unicodedata
from pathlib import Path

import numpy as np

HOP = 256


def build_model(path: Path, *, with_sid: bool = False, without: str | None = None) -> Path:
    import onnx
    from onnx import TensorProto, helper

    inputs = [
        helper.make_tensor_value_info("input", TensorProto.INT64, [1, "T"]),
        helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
        helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
    ]
    if with_sid:
        inputs.append(helper.make_tensor_value_info("sid", TensorProto.INT64, [1]))
    inputs = [i for i in inputs if i.name != without]
    ramp = np.arange(HOP, dtype=np.float32).reshape(1, 1, HOP)
    nodes = [
        helper.make_node("Cast", ["input"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["ids_f", "axis2"], ["ids3"]),
        helper.make_node("Mul", ["ids3", "step"], ["freq"]),        # [1, T, 1] radians per sample
        helper.make_node("Mul", ["freq", "ramp"], ["phase"]),       # [1, T, HOP]
        helper.make_node("Sin", ["phase"], ["wave"]),
        helper.make_node("Gather", ["scales" if without != "scales" else "one3", "zero"], ["noise"], axis=0),
        helper.make_node("Mul", ["wave", "noise"], ["loud"]),
        helper.make_node("Reshape", ["loud", "out_shape"], ["output"]),
    ]
    inits = [
        helper.make_tensor("axis2", TensorProto.INT64, [1], [2]),
        helper.make_tensor("step", TensorProto.FLOAT, [], [0.01]),
        helper.make_tensor("ramp", TensorProto.FLOAT, ramp.shape, ramp.flatten().tolist()),
        helper.make_tensor("zero", TensorProto.INT64, [], [0]),
        helper.make_tensor("out_shape", TensorProto.INT64, [3], [1, 1, -1]),
    ]
    if without == "scales":
        inits.append(helper.make_tensor("one3", TensorProto.FLOAT, [3], [1.0, 1.0, 1.0]))
    graph = helper.make_graph(nodes, "tiny-piper", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, "S"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def phoneme_map(texts: list[str], voice: str = "vi") -> dict[str, list[int]]:
    """Every IPA codepoint espeak-ng gives for ``texts``, plus Piper's pad, start, end and space."""
    ipa = subprocess.run(["espeak-ng", "-q", "--ipa", "-b", "1", "-v", voice, "--stdin"],
                         input="\n".join(texts).encode(), capture_output=True, check=True).stdout.decode()
    symbols = sorted(set(unicodedata.normalize("NFD", ipa)) - {"\n"} | {" ", ","})
    table = {"_": [0], "^": [1], "$": [2]}
    table.update({s: [n + 3] for n, s in enumerate(s for s in symbols if s not in table)})
    return table


def install_voice(folder: Path, texts: list[str], *, name: str = "vi_VN-tiny-x_low", sample_rate: int = 16000,
                  with_sid: bool = False, config: dict | None = None, without: str | None = None) -> Path:
    """A model folder as an administrator would install a Piper voice: <name>.onnx + <name>.onnx.json."""
    folder.mkdir(parents=True, exist_ok=True)
    build_model(folder / f"{name}.onnx", with_sid=with_sid, without=without)
    data = config if config is not None else {
        "audio": {"sample_rate": sample_rate, "quality": "x_low"},
        "espeak": {"voice": "vi"},
        "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_id_map": phoneme_map(texts),
        "num_speakers": 2 if with_sid else 1,
        "language": {"code": "vi_VN"},
    }
    (folder / f"{name}.onnx.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return folder
