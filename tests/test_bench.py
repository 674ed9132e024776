"""Local benchmark harness: device_runner.py in a subprocess, stats, overhead."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from edgeprune.bench import device_runner
from edgeprune.bench.local import RUNNER_PATH, bench_cycled, bench_local, measure_overhead
from edgeprune.bench.stats import summarize
from edgeprune.errors import StageError

RUNNER_KEYS = {"artifact", "size_bytes", "runtime", "runtime_version", "threads", "warmup", "runs",
               "startup_ms", "first_ms", "samples_ms", "peak_rss_mb", "rss_growth_mb", "device"}


def _conv_onnx(path, c_in=3, c_out=8, hw=16):
    """A tiny real ONNX artifact: Conv 3x3 + Relu, static shape 1 x C x H x W."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((c_out, c_in, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c_in, hw, hw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c_out, hw, hw])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _relu_tflite(path, int8: bool):
    """A tiny real TFLite artifact built directly as a flatbuffer (RELU on 1x8x8x3, NHWC), using the
    schema bindings that ship with ai-edge-litert: no converter needed."""
    flatbuffers = pytest.importorskip("flatbuffers")
    s = pytest.importorskip("ai_edge_litert.schema_py_generated")

    model = s.ModelT()
    model.version = 3
    model.buffers = [s.BufferT(), s.BufferT(), s.BufferT()]
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.RELU
    code.version = 1
    model.operatorCodes = [code]

    def tensor(name, buf):
        t = s.TensorT()
        t.name, t.shape, t.buffer = name, [1, 8, 8, 3], buf
        t.type = s.TensorType.INT8 if int8 else s.TensorType.FLOAT32
        if int8:
            t.quantization = s.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = [0.05], [-3]
        return t

    graph = s.SubGraphT()
    graph.name = "main"
    graph.tensors = [tensor("x", 1), tensor("y", 2)]
    graph.inputs, graph.outputs = [0], [1]
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    graph.operators = [op]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())
    return path


@pytest.fixture(scope="module")
def onnx_artifact(tmp_path_factory):
    return _conv_onnx(tmp_path_factory.mktemp("art") / "model.onnx")


@pytest.fixture(scope="module")
def measured(onnx_artifact):
    inputs = np.random.default_rng(1).standard_normal((3, 3, 16, 16)).astype(np.float32)
    messages: list[str] = []
    result = bench_local(onnx_artifact, threads=1, warmup=3, runs=40, inputs=inputs, progress=messages.append)
    return result, messages


def test_bench_local_onnx_shape_and_values(measured, onnx_artifact):
    result, messages = measured
    assert RUNNER_KEYS <= result.keys()
    assert result["runtime"] == "onnxruntime"
    assert result["runtime_version"]
    assert result["threads"] == 1 and result["warmup"] == 3
    assert len(result["samples_ms"]) >= 40 and result["runs"] == len(result["samples_ms"])
    assert all(s > 0 for s in result["samples_ms"])
    assert result["startup_ms"] > 0 and result["first_ms"] > 0
    assert result["peak_rss_mb"] > 0
    assert result["size_bytes"] == onnx_artifact.stat().st_size
    assert result["source"] == "measured"
    dev = result["device"]
    assert result["where"] == f"host {dev['hostname']} ({dev['cpu_model']})"
    assert dev["cpu_count"] >= 1 and dev["machine"]
    assert result["inputs"].startswith("3 samples")
    s = result["summary"]
    assert s["n"] == len(result["samples_ms"])
    assert s["min"] <= s["p50"] <= s["p95"] <= s["p99"] <= s["max"]
    assert len(messages) == 2 and "p95" in messages[-1]


def test_min_seconds_extends_runs(onnx_artifact):
    result = bench_local(onnx_artifact, threads=1, warmup=0, runs=5, min_seconds=0.2)
    assert result["timed_seconds"] >= 0.2
    assert len(result["samples_ms"]) > 5


@pytest.mark.parametrize("int8", [True, False], ids=["int8", "fp32"])
def test_bench_local_tflite(tmp_path, int8):
    pytest.importorskip("ai_edge_litert")
    art = _relu_tflite(tmp_path / ("model.int8.tflite" if int8 else "model.tflite"), int8)
    inputs = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)  # NCHW samples
    result = bench_local(art, threads=1, warmup=1, runs=10, inputs=inputs)
    assert result["runtime"] == "ai-edge-litert" and len(result["samples_ms"]) >= 10
    assert result["size_bytes"] == art.stat().st_size
    assert result["input_specs"][0]["dtype"] == ("int8" if int8 else "float32")


def test_tflite_int8_feed_is_quantized_nhwc(tmp_path):
    pytest.importorskip("ai_edge_litert")
    art = _relu_tflite(tmp_path / "m.tflite", int8=True)
    model = device_runner.load(str(art), 1)
    sample = np.random.default_rng(0).standard_normal((3, 8, 8)).astype(np.float32)
    ((index, value),) = model.make_feed(sample, np.random.default_rng(0))
    assert value.dtype == np.int8 and value.shape == (1, 8, 8, 3)
    expected = np.clip(np.round(sample.transpose(1, 2, 0)[None] / 0.05 - 3), -128, 127)
    assert np.array_equal(value, expected.astype(np.int8))
    (out,) = model.run_once([(index, value)])
    assert np.array_equal(out, np.maximum(value, -3))  # int8 RELU clamps at the zero point


def test_missing_artifact_names_path(tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(StageError, match="nope.onnx"):
        bench_local(missing, threads=1, warmup=0, runs=3)


def test_invalid_tflite_is_stage_error(tmp_path):
    bad = tmp_path / "model.int8.tflite"
    bad.write_bytes(b"this is not a flatbuffer")
    with pytest.raises(StageError, match="model.int8.tflite") as info:
        bench_local(bad, threads=1, warmup=0, runs=3)
    assert "\n" not in str(info.value)


def test_runner_cli_error_is_one_json_line_exit_2(tmp_path):
    bad = tmp_path / "weights.bin"
    bad.write_bytes(b"x")
    proc = subprocess.run([sys.executable, str(RUNNER_PATH), str(bad), "--runs", "2"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and "unknown artifact type" in json.loads(lines[0])["error"]


def test_cycled_artifacts_take_turns_one_process_per_runtime_and_rank_by_size(tmp_path):
    small = _conv_onnx(tmp_path / "small.onnx", c_in=3, c_out=4, hw=8)
    large = _conv_onnx(tmp_path / "large.onnx", c_in=16, c_out=32, hw=32)  # ~600x the MACs
    relu = _relu_tflite(tmp_path / "relu.tflite", int8=False)
    results = bench_cycled([small, relu, large], threads=1, seconds=0.2, min_chunks=5, chunk=4)
    assert list(results) == [small, relu, large]
    # each runtime in a process of its own (ONNX Runtime int8 sessions slowed TFLite int8 ones 1.4-2.3x, round 19)
    assert results[small]["pid"] == results[large]["pid"] != results[relu]["pid"]
    for result in results.values():
        assert result["turns"] >= 5 and len(result["chunk_p50_ms"]) == result["turns"] and result["chunk"] == 4
        assert 0 < result["p10_ms"] <= result["p50_ms"] and result["where"].startswith("host ")
    assert results[small]["runtime"] == "onnxruntime" and results[relu]["runtime"] == "ai-edge-litert"
    assert results[large]["p50_ms"] > 3 * results[small]["p50_ms"]
    # several artifacts without --cycle-seconds: one JSON error line, exit 2; a missing one names itself
    proc = subprocess.run([sys.executable, str(RUNNER_PATH), str(small), str(large)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "only with --cycle-seconds" in json.loads(proc.stdout)["error"]
    with pytest.raises(StageError, match="gone.onnx"):
        bench_cycled([small, tmp_path / "gone.onnx"], threads=1, seconds=0.1, min_chunks=1)


def test_runner_is_self_contained():
    source = RUNNER_PATH.read_text()
    assert "import edgeprune" not in source and "from edgeprune" not in source


def test_missing_runtime_message_names_pip(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith(("onnxruntime", "ai_edge_litert", "tflite_runtime")):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(device_runner.RunnerError, match="pip install onnxruntime"):
        device_runner.import_runtime(".onnx")
    with pytest.raises(device_runner.RunnerError, match="pip install ai-edge-litert.*tflite-runtime"):
        device_runner.import_runtime(".tflite")


def test_timed_loop_cycles_feeds_and_counts():
    seen = []
    samples = device_runner.timed_loop(seen.append, ["a", "b", "c"], runs=7)
    assert len(samples) == 7 and seen == ["a", "b", "c", "a", "b", "c", "a"]
    seen.clear()
    samples = device_runner.timed_loop(seen.append, ["a", "b"], runs=1, min_seconds=0.02)
    assert len(samples) > 1 and seen[:4] == ["a", "b", "a", "b"]
    assert all(x == y for x, y in zip(seen, ["a", "b"] * len(seen)))


def test_quantize_input_for_int8():
    x = np.array([0.0, 0.5, 1.0, -10.0], dtype=np.float32)
    q = device_runner._to_dtype(x, "int8", (1 / 128, -1))
    assert q.dtype == np.int8 and q.tolist() == [-1, 63, 127, -128]
    assert device_runner._fit_sample(np.zeros((3, 4, 5), np.float32), (1, 4, 5, 3)).shape == (1, 4, 5, 3)


def test_measure_overhead_small(onnx_artifact):
    r = measure_overhead(onnx_artifact, threads=1, runs=50, rounds=3)
    assert r["bare_ms_per_run"] > 0 and r["harness_ms_per_run"] > 0
    assert r["overhead_ratio"] == pytest.approx(r["harness_ms_per_run"] / r["bare_ms_per_run"])
    assert 0 < r["in_sample_fraction"] <= 1


# ---------------------------------------------------------------- stats

def test_summarize_matches_numpy():
    x = np.arange(1, 101, dtype=float)
    s = summarize(x)
    assert s["n"] == 100 and s["min"] == 1 and s["max"] == 100
    assert s["mean"] == pytest.approx(50.5) and s["std"] == pytest.approx(np.std(x, ddof=1))
    for q in (50, 90, 95, 99):
        assert s[f"p{q}"] == pytest.approx(np.percentile(x, q))
    for name in ("p50", "p95"):
        lo, hi = s[f"{name}_ci"]
        assert lo <= s[name] <= hi and lo < hi


def test_summarize_ci_deterministic_and_narrows_with_n():
    rng = np.random.default_rng(3)
    small = rng.lognormal(0, 0.3, 100)
    big = rng.lognormal(0, 0.3, 2000)
    assert summarize(small, seed=5) == summarize(small, seed=5)
    w_small = np.diff(summarize(small)["p50_ci"])[0]
    w_big = np.diff(summarize(big)["p50_ci"])[0]
    assert w_big < w_small


def test_summarize_edge_cases():
    one = summarize([2.5])
    assert one["p50"] == one["p99"] == 2.5 and one["p95_ci"] == [2.5, 2.5] and one["std"] == 0.0
    with pytest.raises(ValueError):
        summarize([])
    with pytest.raises(ValueError):
        summarize([1.0, float("nan")])


def test_peak_rss_belongs_to_the_runner_not_to_this_process(tmp_path):
    """The kernel carries a parent's peak RSS across fork+exec into ru_maxrss; the runner must not report it."""
    import numpy as np

    from edgeprune.bench.local import bench_local

    ballast = np.ones((600, 1024, 1024), dtype=np.uint8)  # 600 MB resident in this process
    artifact = tmp_path / "tiny.onnx"
    _conv_onnx(artifact)
    result = bench_local(artifact, threads=1, warmup=1, runs=5)
    assert ballast.sum() > 0
    assert 0 < result["peak_rss_mb"] < 400


def test_two_level_bootstrap_reflects_between_round_spread():
    from edgeprune.bench.stats import summarize

    rng = np.random.default_rng(0)
    means = (1.0, 1.5, 1.0, 1.2, 0.9)
    samples = np.concatenate([rng.normal(m, 0.05, 2000) for m in means])
    groups = np.repeat(np.arange(len(means)), 2000)
    iid, grouped = summarize(samples), summarize(samples, groups=groups)
    assert grouped["p50"] == iid["p50"]
    iid_width = iid["p50_ci"][1] - iid["p50_ci"][0]
    grouped_width = grouped["p50_ci"][1] - grouped["p50_ci"][0]
    assert grouped_width > 10 * iid_width  # rounds disagree: the interval must say so
    assert grouped["p50_ci"][0] <= grouped["p50"] <= grouped["p50_ci"][1]


def test_warmup_by_time_and_cpu_pinning(onnx_artifact):
    result = bench_local(onnx_artifact, threads=1, warmup=2, runs=10, warmup_seconds=0.2, cpus=(0,))
    assert result["cpus"] == [0] and result["warmup_seconds"] == 0.2
    assert result["warmup_runs"] > 2  # kept warming up until 0.2 s had passed
    unpinned = bench_local(onnx_artifact, threads=1, warmup=2, runs=10)
    assert unpinned["warmup_runs"] == 2 and len(unpinned["cpus"]) == len(os.sched_getaffinity(0))
    with pytest.raises(StageError, match=r"cannot pin to CPUs \[4096\]"):
        bench_local(onnx_artifact, threads=1, warmup=0, runs=5, cpus=(4096,))
