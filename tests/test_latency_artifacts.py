"""artifact_ops reads the operators of exported files as torch_ops records them for the PyTorch model.

Each model is exported four ways (ONNX fp32, ONNX int8 QDQ, TFLite fp32, TFLite int8). Compute ops (conv,
pointwise, depthwise, linear) must agree in count and MACs, exactly; eltwise and pool counts too; copies differ
only as artifact_ops documents (TFLite's explicit PADs and int8 requantize/dequantize ops).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from edgeprune.errors import ConfigError, InputFileError
from edgeprune.latency.artifact_ops import artifact_ops, module_name
from edgeprune.latency.ops import COMPUTE_KINDS, KINDS, Op, torch_ops

ARTIFACTS = ("model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite")
TFLITE_EXTRA_COPIES = ("PAD#", "QUANTIZE#", "DEQUANTIZE#")  # documented: not in the torch graph


class HeadNet(nn.Module):
    """What example_net lacks: max pool, a grouped conv, a sigmoid gate, a concat, a flatten of a 2x2 map (a real
    copy), softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.fc = nn.Linear(16 * 2 * 2, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.grouped(self.pool(self.conv(x)))
        y = torch.cat([y, y * torch.sigmoid(y)], 1)
        return torch.softmax(self.fc(torch.flatten(y, 1)), -1)


def _example() -> nn.Module:
    from edgeprune.models.example import example_net

    return example_net(width=0.5)


MODELS = {"example": (_example, (1, 28, 28)), "head": (HeadNet, (3, 8, 8))}


@pytest.fixture(scope="module", params=sorted(MODELS))
def exported(request, tmp_path_factory, one_torch_thread) -> dict:
    """The model's torch_ops and its four artifacts, exported once per model."""
    from edgeprune.export.onnx import export_onnx
    from edgeprune.export.quantize import quantize_onnx_int8
    from edgeprune.export.tflite import export_tflite_fp32, export_tflite_int8

    factory, shape = MODELS[request.param]
    torch.manual_seed(0)
    model = factory().eval()
    example = torch.zeros((1, *shape))
    calibration = np.random.default_rng(0).standard_normal((16, *shape)).astype(np.float32)
    folder = tmp_path_factory.mktemp(request.param)
    export_onnx(model, example, folder / "model.onnx")
    quantize_onnx_int8(folder / "model.onnx", folder / "model.int8.onnx", calibration)
    export_tflite_fp32(model, example, folder / "model.tflite")
    export_tflite_int8(model, example, folder / "model.int8.tflite", calibration)
    return {"name": request.param, "folder": folder, "torch": torch_ops(model, shape)}


class _Reader:
    """onnxruntime's calibration reader protocol over prepared feeds."""

    def __init__(self, feeds) -> None:
        self._feeds = feeds

    def get_next(self):
        return next(self._feeds, None)


def _totals(ops: list[Op]) -> dict[str, tuple[int, int]]:
    """(op count, MACs) per kind."""
    return {k: (sum(o.kind == k for o in ops), sum(o.macs for o in ops if o.kind == k)) for k in KINDS}


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_compute_ops_and_macs_match_torch(exported, artifact):
    ops, expected = artifact_ops(exported["folder"] / artifact), _totals(exported["torch"])
    got = _totals(ops)
    for kind in KINDS:
        assert got[kind][1] == expected[kind][1], f"{artifact}: {kind} MACs"
    for kind in COMPUTE_KINDS:
        assert got[kind][0] == expected[kind][0], f"{artifact}: {kind} count"
    assert ops[0].name == "(input)" and ops[0] == exported["torch"][0]


@pytest.mark.parametrize("artifact", ARTIFACTS)
def test_data_ops_differ_only_as_documented(exported, artifact):
    ops, reference = artifact_ops(exported["folder"] / artifact), exported["torch"]
    for kind in ("eltwise", "activation", "sigmoid", "pool"):
        assert sum(o.kind == kind for o in ops) == sum(o.kind == kind for o in reference), f"{artifact}: {kind}"
    copies = [o for o in ops if o.kind == "copy"]
    if artifact.endswith(".tflite"):
        extra = [o for o in copies if o.name.startswith(TFLITE_EXTRA_COPIES)]
        assert any(o.name.startswith("PAD#") for o in extra)  # both models have a stride-2 conv on an even map
        copies = [o for o in copies if o not in extra]
    assert len(copies) == sum(o.kind == "copy" for o in reference)


@pytest.mark.parametrize("artifact", ("model.onnx", "model.int8.onnx"))
def test_onnx_ops_are_torch_ops_under_module_names(exported, artifact):
    """ONNX keeps the graph as torch ran it: op for op, with the same sizes, channels and module names."""
    ops = artifact_ops(exported["folder"] / artifact)
    assert [replace(o, name=module_name(o.name)) for o in ops[1:]] == exported["torch"][1:]


def test_tflite_stem_with_one_input_channel_is_a_stem(exported):
    """litert-torch writes a 1-input-channel conv as DEPTHWISE_CONV_2D with a multiplier: still a "stem", as in torch."""
    if exported["name"] != "example":
        pytest.skip("only example_net has a 1-channel input")
    first = next(o for o in artifact_ops(exported["folder"] / "model.tflite") if o.macs)
    assert first.name.startswith("DEPTHWISE_CONV_2D#") and first.kind == "stem"
    assert (first.in_channels, first.out_channels) == (1, exported["torch"][1].out_channels)


def test_onnx_qoperator_and_dynamic_batch_read_alike(exported):
    """QLinearConv/QLinearAdd/QGemm (whose shapes only ONNX Runtime infers) and a dynamic batch axis."""
    if exported["name"] != "example":
        pytest.skip("one model is enough for these formats")
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edgeprune.export.onnx import export_onnx

    folder, reference = exported["folder"], [replace(o, name="") for o in exported["torch"]]
    quant_pre_process(str(folder / "model.onnx"), str(folder / "pre.onnx"))
    samples = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    reader = iter([{"input": sample[None]} for sample in samples])
    quantize_static(str(folder / "pre.onnx"), str(folder / "model.qop.onnx"), _Reader(reader),
                    quant_format=QuantFormat.QOperator, per_channel=True, weight_type=QuantType.QInt8)
    qop = artifact_ops(folder / "model.qop.onnx")
    assert any(o.name.endswith("_quant") for o in qop)  # really QOperator nodes
    assert [replace(o, name="") for o in qop] == reference

    torch.manual_seed(0)
    export_onnx(_example().eval(), torch.zeros(1, 1, 28, 28), folder / "dynamic.onnx", dynamic_batch=True)
    assert [replace(o, name="") for o in artifact_ops(folder / "dynamic.onnx")] == reference


def test_module_name_is_the_exporters():
    from edgeprune.export import localize

    assert module_name is localize.module_name
    assert module_name("/features/features.0/Conv") == "features.0"
    assert module_name("/features/features.3/body/body.0/Conv") == "features.3.body.0"


def test_unknown_ops_are_copies(tmp_path):
    """An op with no latency kind of its own still moves its tensors: a copy of their sizes."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Cos", ["x"], ["y"], name="cos"), helper.make_node("Relu", ["y"], ["z"], name="relu")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 3, 3])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 3, 3])])
    onnx.save(helper.make_model(graph), tmp_path / "cos.onnx")
    assert artifact_ops(tmp_path / "cos.onnx") == [Op("(input)", "copy", 0, 36, 36, 0, 4, 4),
                                                   Op("cos", "copy", 0, 36, 36, 0, 4, 4)]


@pytest.mark.parametrize("suffix", (".onnx", ".tflite"))
def test_missing_or_malformed_files_are_input_errors(tmp_path, suffix):
    missing = tmp_path / f"absent{suffix}"
    with pytest.raises(InputFileError, match="absent") as info:
        artifact_ops(missing)
    assert "\n" not in str(info.value)
    garbage = tmp_path / f"garbage{suffix}"
    garbage.write_bytes(b"not a model at all" * 8)
    with pytest.raises(InputFileError, match="garbage") as info:
        artifact_ops(garbage)
    assert "\n" not in str(info.value)


def test_unknown_suffix_is_a_config_error(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"\.onnx, \.tflite"):
        artifact_ops(path)

