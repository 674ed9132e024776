"""Export round trips on a tiny trained CNN: ONNX / TFLite, fp32 parity and int8 agreement."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from edgeprune.errors import StageError  # noqa: E402
from edgeprune.export.onnx import export_onnx  # noqa: E402
from edgeprune.export.parity import fp32_parity, int8_parity  # noqa: E402
from edgeprune.export.quantize import quantize_onnx_int8  # noqa: E402
from edgeprune.export.runtime import run_onnx, run_tflite, tensor_io_info  # noqa: E402
from edgeprune.export.tflite import export_tflite_fp32, export_tflite_int8  # noqa: E402

CLASSES = 10


def _stripes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noisy sine gratings whose orientation is the class: learnable, translation invariant (fits GAP)."""
    labels = rng.integers(0, CLASSES, n)
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
    images = np.empty((n, 1, 28, 28), np.float32)
    for i, k in enumerate(labels):
        theta = np.pi * k / CLASSES
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / 6 + phase)
        images[i, 0] = 0.5 + 0.5 * wave + rng.normal(0, 0.2, (28, 28))
    return images, labels


class _Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.pw = nn.Conv2d(c, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: Any) -> Any:
        return torch.relu(x + self.bn2(self.pw(torch.relu(self.bn1(self.dw(x))))))


class _TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.block = _Block(16)
        self.down = nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, CLASSES)

    def forward(self, x: Any) -> Any:
        return self.fc(torch.flatten(self.pool(self.down(self.block(self.stem(x)))), 1))


def _fit(model: Any, x: np.ndarray, y: np.ndarray, *, steps: int, rng: np.random.Generator) -> Any:
    """A few Adam steps on random batches of 32; returns the model in eval mode."""
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(steps):
        idx = rng.integers(0, len(x), 32)
        loss = nn.functional.cross_entropy(model(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained() -> dict[str, Any]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = _stripes(512, rng)
    x_test, y_test = _stripes(200, rng)
    model = _fit(_TinyNet(), x_train, y_train, steps=100, rng=rng)
    with torch.no_grad():
        reference = model(torch.from_numpy(x_test)).numpy()
    assert (reference.argmax(1) == y_test).mean() > 0.8, "tiny model failed to learn the synthetic task"
    return {
        "model": model,
        "example": torch.from_numpy(x_train[:1]),
        "calibration": x_train[:64],
        "x": x_test,
        "y": y_test,
        "reference": reference,
    }


@pytest.fixture(scope="module")
def artifacts(trained: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("export")
    model, example, calib = trained["model"], trained["example"], trained["calibration"]
    paths = {
        "onnx": out / "model.onnx",
        "onnx_int8": out / "model_int8.onnx",
        "tflite": out / "model.tflite",
        "tflite_int8": out / "model_int8.tflite",
    }
    timings: dict[str, float] = {}
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.train()  # the exporters must neither need eval mode from the caller nor change the caller's mode

    start = time.perf_counter()
    export_onnx(model, example, paths["onnx"])
    timings["onnx"] = time.perf_counter() - start
    start = time.perf_counter()
    quantize_onnx_int8(paths["onnx"], paths["onnx_int8"], calib)
    timings["onnx_int8"] = time.perf_counter() - start
    start = time.perf_counter()
    export_tflite_fp32(model, example, paths["tflite"])
    timings["tflite"] = time.perf_counter() - start
    start = time.perf_counter()
    export_tflite_int8(model, example, paths["tflite_int8"], calib)
    timings["tflite_int8"] = time.perf_counter() - start

    was_training = model.training
    model.eval()
    after = {k: v.detach().clone() for k, v in model.state_dict().items()}
    print("export timings (s):", {k: round(v, 2) for k, v in timings.items()})
    return {"dir": out, "paths": paths, "before": before, "after": after, "was_training": was_training}


def test_files_written_atomically(artifacts: dict[str, Any]) -> None:
    for path in artifacts["paths"].values():
        assert path.is_file() and path.stat().st_size > 0
    leftovers = [p.name for p in Path(artifacts["dir"]).iterdir() if ".partial" in p.name]
    assert leftovers == []
    assert not any(p.suffix == ".data" for p in Path(artifacts["dir"]).iterdir()), "ONNX must be a single file"


def test_caller_model_unchanged(artifacts: dict[str, Any]) -> None:
    before, after = artifacts["before"], artifacts["after"]
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key
    assert artifacts["was_training"] is True


def test_onnx_fp32_parity(trained: dict[str, Any], artifacts: dict[str, Any]) -> None:
    logits = run_onnx(artifacts["paths"]["onnx"], trained["x"])
    assert logits.shape == (len(trained["x"]), CLASSES) and logits.dtype == np.float32
    parity = fp32_parity(trained["reference"], logits)
    assert parity["samples"] == len(trained["x"])
    assert parity["max_abs_diff"] < 1e-4, parity


def test_onnx_io_info(artifacts: dict[str, Any]) -> None:
    info = tensor_io_info(artifacts["paths"]["onnx"])
    assert info["format"] == "onnx"
    assert info["input"]["name"] == "input" and info["input"]["shape"] == [1, 1, 28, 28]
    assert info["output"]["name"] == "logits" and info["output"]["shape"] == [1, CLASSES]
    assert info["input"]["dtype"] == "float32"


def test_tflite_fp32_parity(trained: dict[str, Any], artifacts: dict[str, Any]) -> None:
    logits = run_tflite(artifacts["paths"]["tflite"], trained["x"])
    parity = fp32_parity(trained["reference"], logits)
    assert parity["max_abs_diff"] < 1e-4, parity
    info = tensor_io_info(artifacts["paths"]["tflite"])
    assert info["input"]["dtype"] == "float32" and info["input"]["scale"] is None


def test_onnx_int8(trained: dict[str, Any], artifacts: dict[str, Any]) -> None:
    import onnx

    ops = {node.op_type for node in onnx.load(str(artifacts["paths"]["onnx_int8"])).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    logits = run_onnx(artifacts["paths"]["onnx_int8"], trained["x"])
    parity = int8_parity(trained["reference"], logits, trained["y"])
    assert parity["top1_agreement"] >= 0.9, parity


def test_tflite_int8(trained: dict[str, Any], artifacts: dict[str, Any]) -> None:
    path = artifacts["paths"]["tflite_int8"]
    info = tensor_io_info(path)
    assert info["input"]["dtype"] == "int8" and info["output"]["dtype"] == "int8"
    assert info["input"]["scale"] > 0 and isinstance(info["input"]["zero_point"], int)
    assert path.stat().st_size < artifacts["paths"]["tflite"].stat().st_size
    logits = run_tflite(path, trained["x"])
    assert logits.dtype == np.float32
    parity = int8_parity(trained["reference"], logits, trained["y"])
    assert parity["top1_agreement"] >= 0.9, parity


def test_quantize_rejects_bad_activation_type(artifacts: dict[str, Any], tmp_path: Path) -> None:
    calib = np.zeros((2, 1, 28, 28), np.float32)
    with pytest.raises(StageError, match="activations"):
        quantize_onnx_int8(artifacts["paths"]["onnx"], tmp_path / "bad.onnx", calib, activations="bogus")
    assert not (tmp_path / "bad.onnx").exists()


def test_onnx_int8_signed_activations(trained: dict[str, Any], artifacts: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "s8.onnx"
    quantize_onnx_int8(artifacts["paths"]["onnx"], out, trained["calibration"][:16], activations="int8")
    parity = int8_parity(trained["reference"], run_onnx(out, trained["x"]), trained["y"])
    assert parity["top1_agreement"] >= 0.9, parity
    assert [p.name for p in tmp_path.iterdir()] == ["s8.onnx"]


def test_parity_math() -> None:
    ref = np.array([[1.0, 2.0, 0.0], [3.0, 0.0, 1.0]], np.float32)
    cand = np.array([[1.0, 2.5, 0.0], [0.0, 4.0, 1.0]], np.float32)
    fp = fp32_parity(ref, cand)
    assert fp == {"max_abs_diff": 4.0, "max_rel_diff": pytest.approx(4.0 / 1e-6), "samples": 2}
    q = int8_parity(ref, cand, np.array([1, 1]))
    assert q["top1_agreement"] == 0.5 and q["accuracy"] == 1.0 and q["reference_accuracy"] == 0.5
    assert q["max_abs_logit_error"] == 4.0 and q["samples"] == 2
    with pytest.raises(StageError):
        fp32_parity(ref, cand[:1])


def test_missing_model_file_is_stage_error(tmp_path: Path) -> None:
    with pytest.raises(StageError, match="does not exist"):
        run_onnx(tmp_path / "nope.onnx", np.zeros((1, 1, 28, 28), np.float32))


def test_op_inventory_of_real_artifacts(artifacts: dict[str, Any]) -> None:
    from edgeprune.export.ops import inventory

    paths = artifacts["paths"]
    tflite_int8 = inventory(paths["tflite_int8"], int8=True)
    assert tflite_int8["float_ops"] == {} and tflite_int8["runtime_issues"] == []
    assert "CONV_2D" in tflite_int8["ops"] and tflite_int8["total"] == sum(tflite_int8["ops"].values())
    # the same check on the fp32 file flags every compute op as float: the detector is not blind
    mislabelled = inventory(paths["tflite"], int8=True)
    assert mislabelled["float_ops"].get("CONV_2D", 0) >= 1
    onnx_int8 = inventory(paths["onnx_int8"], int8=True)
    assert onnx_int8["float_ops"] == {} and onnx_int8["ops"]["DequantizeLinear"] >= 1
    assert inventory(paths["onnx"], int8=True)["float_ops"].get("Conv", 0) >= 1
    assert inventory(paths["onnx"], int8=False)["float_ops"] == {}


def test_int8_tflite_quantizes_in_place_residual_adds(tmp_path: Path) -> None:
    """torchvision's BasicBlock adds in place (`out += identity`); with two in a row, non-strict export left both
    ADDs float between DEQUANTIZE and QUANTIZE."""
    from torchvision.models.resnet import BasicBlock

    from edgeprune.export.ops import inventory

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), BasicBlock(8, 8), BasicBlock(8, 8), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, CLASSES)).eval()
    x = np.random.default_rng(0).standard_normal((32, 1, 16, 16)).astype(np.float32)
    export_tflite_int8(model, torch.from_numpy(x[:1]), tmp_path / "m.int8.tflite", x)
    ops = inventory(tmp_path / "m.int8.tflite", int8=True)
    assert ops["ops"]["ADD"] == 2 and ops["float_ops"] == {} and "DEQUANTIZE" not in ops["ops"], ops
    reference = model(torch.from_numpy(x)).detach().numpy()
    parity = int8_parity(reference, run_tflite(tmp_path / "m.int8.tflite", x), reference.argmax(1))
    assert parity["top1_agreement"] >= 0.8, parity


def test_op_inventory_flags_foreign_onnx_domains(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from edgeprune.export.ops import inventory

    node = helper.make_node("MyOp", ["x"], ["y"], domain="org.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "custom.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                      helper.make_opsetid("org.example", 1)]), str(path))
    assert inventory(path, int8=False)["runtime_issues"] == ["MyOp (domain org.example): not an ONNX Runtime domain"]
    with pytest.raises(StageError, match="cannot list ops of a .bin file"):
        inventory(tmp_path / "x.bin", int8=False)


def test_metadata_is_embedded_read_back_and_changes_no_output(trained: dict[str, Any], artifacts: dict[str, Any],
                                                               tmp_path: Path) -> None:
    import shutil

    from edgeprune.export.metadata import describe, embed, read

    norm = {"mean": [0.5], "std": [0.25], "note": "x = (pixel / 255 - mean) / std"}
    for key, run in (("tflite_int8", run_tflite), ("onnx_int8", run_onnx), ("tflite", run_tflite), ("onnx", run_onnx)):
        path = tmp_path / artifacts["paths"][key].name
        shutil.copy(artifacts["paths"][key], path)
        assert read(path) is None
        before = run(path, trained["x"][:20])
        document = describe(path, version="9.9", build_digest="d" * 64, sample_shape=trained["x"].shape[1:],
                            normalization=norm, labels=("a", "b"))
        embed(path, document)
        embed(path, {**document, "labels": ["x", "y"]})  # a second embed replaces, never duplicates
        meta = read(path)
        assert meta["labels"] == ["x", "y"] and meta["normalization"] == norm and meta["build_digest"] == "d" * 64
        assert meta["input"]["layout"] == "NCHW" and meta["input"]["shape"][1:] == list(trained["x"].shape[1:])
        if key.endswith("int8") and key.startswith("tflite"):
            assert meta["input"]["dtype"] == "int8" and meta["input"]["scale"] > 0
        assert np.array_equal(run(path, trained["x"][:20]), before)
        assert not list(tmp_path.glob(".*partial*"))


class _ThreeConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x))))))
        return self.head(x.mean(dim=(2, 3)))


@pytest.mark.parametrize("hostile", ["conv1", "conv2"])
def test_localiser_ranks_a_planted_quantisation_hostile_layer_first(hostile: str, tmp_path: Path) -> None:
    """One output channel of `hostile` is scaled up 300x and the next layer's weights down 300x: the float
    model computes the same function, but that layer's activation range now crushes its other channels."""
    from edgeprune.export.localize import layer_sqnr, module_name

    torch.manual_seed(0)
    model = _ThreeConvNet().eval()
    following = {"conv1": "conv2", "conv2": "conv3"}[hostile]
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((40, 1, 12, 12)).astype(np.float32))
    with torch.no_grad():
        reference = model(x)
        getattr(model, hostile).weight[0] *= 300.0
        getattr(model, hostile).bias[0] *= 300.0
        getattr(model, following).weight[:, 0] /= 300.0
        assert torch.allclose(model(x), reference, atol=1e-4)  # the float function is unchanged
    export_onnx(model, x[:1], tmp_path / "m.onnx")
    quantize_onnx_int8(tmp_path / "m.onnx", tmp_path / "m.int8.onnx", x[:32].numpy())
    rows = layer_sqnr(tmp_path / "m.onnx", tmp_path / "m.int8.onnx", x[32:].numpy())
    assert rows[0]["module"] == hostile, rows
    assert rows[0]["sqnr_lost_db"] > rows[1]["sqnr_lost_db"] + 3
    assert {r["module"] for r in rows} >= {"conv1", "conv2", "conv3"}
    assert module_name("/features/features.3/body/body.0/Conv") == "features.3.body.0"


class _StripesNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 2, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 2, 1)
        self.conv3 = nn.Conv2d(16, 16, 3, 1, 1)
        self.head = nn.Linear(16, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x))))))
        return self.head(x.mean(dim=(2, 3)))


def _planted_stripes_net(factor: float) -> dict[str, Any]:
    """A trained classifier with one conv2 channel scaled `factor`x (conv3 compensates, so the float function is
    unchanged): a quantisation-hostile layer, as real models get from unlucky training or BN folding."""
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    x_train, y_train = _stripes(768, rng)
    x_test, y_test = _stripes(300, rng)
    model = _fit(_StripesNet(), x_train, y_train, steps=150, rng=rng)
    with torch.no_grad():
        reference = model(torch.from_numpy(x_test))
        model.conv2.weight[0] *= factor
        model.conv2.bias[0] *= factor
        model.conv3.weight[:, 0] /= factor
        assert torch.allclose(model(torch.from_numpy(x_test)), reference, atol=1e-3)
    accuracy = float((reference.argmax(1).numpy() == y_test).mean())
    assert accuracy > 0.8
    return {"model": model, "x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
            "accuracy": accuracy}


def test_fallback_keeps_the_planted_layer_in_float_and_restores_accuracy(tmp_path: Path) -> None:
    """1000x on one conv2 channel: full int8 loses many points; the fallback names conv2 first and gets back
    within P."""
    from edgeprune.export.fallback import onnx_accuracy, restore_float_layers
    from edgeprune.export.localize import layer_sqnr

    planted = _planted_stripes_net(1000.0)
    model, x_train, x_test, y_test = planted["model"], planted["x_train"], planted["x_test"], planted["y_test"]
    float_accuracy = planted["accuracy"]
    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m.int8.onnx"
    export_onnx(model, torch.from_numpy(x_test[:1]), fp32)

    def quantize(out: Path, keep_float: Any) -> None:
        quantize_onnx_int8(fp32, out, x_train[:128], activations="int8", keep_float=keep_float)

    quantize(int8, [])
    full_drop = 100 * (float_accuracy - onnx_accuracy(int8, x_test, y_test))
    print("float accuracy", float_accuracy, "full int8 drop (points)", full_drop)
    assert full_drop > 10
    ranking = layer_sqnr(fp32, int8, x_test[:64])
    assert ranking[0]["module"] == "conv2"
    record = restore_float_layers(int8, ranking, quantize, x_test, y_test, reference_accuracy=float_accuracy,
                                  max_drop=2.0, measure=lambda a, b: {"compared": [a.name, b.name]})
    print(record["steps"])
    assert record["needed"] and record["float_layers"][0]["module"] == "conv2"
    assert record["steps"][-1]["drop_pp"] <= 2.0 < record["steps"][0]["drop_pp"]
    assert len(record["float_layers"]) < len(ranking)
    assert 100 * (float_accuracy - onnx_accuracy(int8, x_test, y_test)) <= 2.0  # the file itself was replaced
    assert record["latency_cost"]["compared"] == ["full.m.int8.onnx", "m.int8.onnx"]
    assert not list(tmp_path.glob(".edgeprune-fallback-*"))
    with pytest.raises(StageError, match="cannot be met by mixed precision"):
        restore_float_layers(int8, ranking[:0], quantize, x_test, y_test, reference_accuracy=1.5, max_drop=1.0)


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_calibration_methods(trained: dict[str, Any], artifacts: dict[str, Any], tmp_path: Path, method: str) -> None:
    out = tmp_path / f"{method}.onnx"
    quantize_onnx_int8(artifacts["paths"]["onnx"], out, trained["calibration"], method=method)
    agreement = int8_parity(trained["reference"], run_onnx(out, trained["x"]), trained["y"])["top1_agreement"]
    assert agreement >= 0.9
    with pytest.raises(StageError, match="calibration method must be one of minmax, entropy, percentile"):
        quantize_onnx_int8(artifacts["paths"]["onnx"], out, trained["calibration"], method="kl")
    with pytest.raises(StageError, match="no node named 'nope' to keep in float"):
        quantize_onnx_int8(artifacts["paths"]["onnx"], out, trained["calibration"], keep_float=["nope"])


@pytest.mark.parametrize("variant, bytes_saved_per_weight, weight_dtype", [("fp16", 1.5, np.float16),
                                                                           ("dynamic-int8", 2.0, np.int8)])
def test_tflite_weight_variants(trained: dict[str, Any], artifacts: dict[str, Any], tmp_path: Path,
                                variant: str, bytes_saved_per_weight: float, weight_dtype: Any) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from edgeprune.export.ops import inventory
    from edgeprune.export.tflite import quantize_tflite_weights

    fp32, out = artifacts["paths"]["tflite"], tmp_path / f"model.{variant}.tflite"
    quantize_tflite_weights(fp32, out, variant)
    weights = sum(p.numel() for name, p in trained["model"].named_parameters() if name.endswith("weight"))
    assert fp32.stat().st_size - out.stat().st_size > bytes_saved_per_weight * weights  # ideal: 2 and 3 bytes
    dtypes = {d["dtype"] for d in Interpreter(model_path=str(out)).get_tensor_details()}
    assert weight_dtype in dtypes
    logits = run_tflite(out, trained["x"])
    parity = int8_parity(trained["reference"], logits, trained["y"])
    assert parity["top1_agreement"] >= (0.99 if variant == "fp16" else 0.95)
    if variant == "fp16":
        assert fp32_parity(trained["reference"], logits)["max_abs_diff"] < 1e-2
    assert inventory(out, int8=False)["runtime_issues"] == []
    with pytest.raises(StageError, match="variant must be one of fp16, dynamic-int8"):
        quantize_tflite_weights(fp32, out, "bf16")


def test_onnx_opset_and_dynamic_batch(trained: dict[str, Any], tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    path = tmp_path / "dyn.onnx"
    export_onnx(trained["model"], trained["example"], path, opset=13, dynamic_batch=True)
    proto = onnx.load(str(path))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [13]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"input": trained["x"][:7]})[0]
    assert logits.shape == (7, CLASSES) and np.abs(logits - trained["reference"][:7]).max() < 1e-4
    quantize_onnx_int8(path, tmp_path / "dyn.int8.onnx", trained["calibration"])
    assert run_onnx(tmp_path / "dyn.int8.onnx", trained["x"][:5]).shape == (5, CLASSES)


def test_onnx2tf_path_converts_offline_into_one_file(trained: dict[str, Any], tmp_path: Path) -> None:
    """The second TFLite path: fp32 parity, full int8 with int8 I/O, NCHW input kept, nothing left behind."""
    pytest.importorskip("onnx2tf")
    from ai_edge_litert.interpreter import Interpreter

    from edgeprune.export.onnx2tf_path import export_tflite_via_onnx

    fp32, int8 = tmp_path / "model.tflite", tmp_path / "model.int8.tflite"
    export_tflite_via_onnx(trained["model"], trained["example"], fp32)
    export_tflite_via_onnx(trained["model"], trained["example"], int8, trained["calibration"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.int8.tflite", "model.tflite"]
    assert fp32_parity(trained["reference"], run_tflite(fp32, trained["x"]))["max_abs_diff"] < 1e-4
    assert int8_parity(trained["reference"], run_tflite(int8, trained["x"]), trained["y"])["top1_agreement"] >= 0.95
    details = Interpreter(model_path=str(int8)).get_input_details()[0]
    assert list(details["shape"]) == [1, 1, 28, 28] and details["dtype"] == np.int8


def test_quantisation_aware_training_recovers_what_post_training_int8_loses(tmp_path: Path) -> None:
    """200x on one conv2 channel: post-training int8 TFLite loses about a third of the accuracy; three epochs
    of quantisation-aware training bring it back within 8 points."""
    from ai_edge_litert.interpreter import Interpreter

    from edgeprune.data.bundle import DataBundle
    from edgeprune.export.qat import export_tflite_int8_qat

    planted = _planted_stripes_net(200.0)
    model, x_test, y_test = planted["model"], planted["x_test"], planted["y_test"]
    example = torch.from_numpy(x_test[:1])
    export_tflite_int8(model, example, tmp_path / "ptq.tflite", planted["x_train"][:128])
    ptq_drop = 100 * (planted["accuracy"] - float((run_tflite(tmp_path / "ptq.tflite", x_test).argmax(1) == y_test).mean()))
    data = DataBundle("stripes", planted["x_train"], planted["y_train"].astype(np.int64), x_test,
                      y_test.astype(np.int64), CLASSES, augment=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    record = export_tflite_int8_qat(model, example, tmp_path / "qat.tflite", data, epochs=3, batch_size=32,
                                    learning_rate=3e-4)
    qat_drop = 100 * (planted["accuracy"] - float((run_tflite(tmp_path / "qat.tflite", x_test).argmax(1) == y_test).mean()))
    print("post-training drop", ptq_drop, "quantisation-aware drop", qat_drop, record["history"])
    assert ptq_drop > 20 and qat_drop <= 8
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the caller's model is untouched
    assert Interpreter(model_path=str(tmp_path / "qat.tflite")).get_input_details()[0]["dtype"] == np.int8
    with pytest.raises(StageError, match="epochs must be >= 1"):
        export_tflite_int8_qat(model, example, tmp_path / "x.tflite", data, epochs=0, batch_size=32)


def test_quantisation_aware_training_handles_batchnorm_depthwise_and_residual(trained: dict[str, Any],
                                                                              tmp_path: Path) -> None:
    from edgeprune.data.bundle import DataBundle
    from edgeprune.export.qat import export_tflite_int8_qat

    data = DataBundle("stripes", trained["calibration"], np.zeros(len(trained["calibration"]), np.int64),
                      trained["x"], trained["y"].astype(np.int64), CLASSES, augment=False)
    export_tflite_int8_qat(trained["model"], trained["example"], tmp_path / "qat.tflite", data, epochs=1,
                           batch_size=16)
    parity = int8_parity(trained["reference"], run_tflite(tmp_path / "qat.tflite", trained["x"]), trained["y"])
    assert parity["top1_agreement"] >= 0.95, parity
