"""Run exported ONNX / TFLite artifacts on float32 batches, one static batch-1 sample at a time."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeprune.errors import StageError


def run_onnx(path: Path, x: np.ndarray, *, threads: int = 1, exact: bool = False) -> np.ndarray:
    """Logits (N x classes, float32) of the ONNX model at `path` for the N samples of `x`.

    Samples go through one by one because exports have a static batch of 1; one session is reused.
    `exact` turns graph optimisations off: a QDQ model then runs as written (dequantize, float op, quantize),
    which is what int8 kernels without saturation compute (Arm's matched it exactly under qemu), rather than
    what this machine's fused int8 kernels compute (x86 without VNNI saturates U8S8 products).
    """
    import onnxruntime as ort

    path = Path(path)
    _require(path)
    data = _as_batch(x)
    try:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        if exact:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        outputs = [session.run(None, {name: sample[None, ...]})[0] for sample in data]
    except Exception as exc:  # noqa: BLE001
        raise StageError(f"running ONNX model {path.name} failed: {type(exc).__name__}: {_line(exc)}") from exc
    return _stack(outputs)


def run_tflite(path: Path, x: np.ndarray, *, threads: int = 1) -> np.ndarray:
    """Logits (N x classes, float32) of the TFLite model at `path` for the N samples of `x`.

    Callers always pass and get float32: int8/uint8 inputs are quantized with the input tensor's
    scale/zero point and integer outputs dequantized, so fp32 and int8 models compare directly.
    """
    from ai_edge_litert.interpreter import Interpreter

    path = Path(path)
    _require(path)
    data = _as_batch(x)
    try:
        interp = Interpreter(model_path=str(path), num_threads=threads)
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        out = interp.get_output_details()[0]
        outputs = []
        for sample in data:
            interp.set_tensor(inp["index"], _to_tensor(sample[None, ...], inp))
            interp.invoke()
            outputs.append(_from_tensor(interp.get_tensor(out["index"]), out))
    except Exception as exc:  # noqa: BLE001
        raise StageError(f"running TFLite model {path.name} failed: {type(exc).__name__}: {_line(exc)}") from exc
    return _stack(outputs)


def tensor_io_info(path: Path) -> dict[str, Any]:
    """Names, shapes, dtypes (and TFLite quantization params) of a model's inputs and outputs.

    Returns {"format", "input", "output", "inputs", "outputs"}; "input"/"output" are the first entries.
    Each entry: {"name", "shape", "dtype", "scale", "zero_point"} (scale/zero_point None unless the
    TFLite tensor is quantized).
    """
    path = Path(path)
    _require(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".onnx":
            inputs, outputs = _onnx_io(path)
        elif suffix == ".tflite":
            inputs, outputs = _tflite_io(path)
        else:
            raise StageError(f"reading I/O of {path.name}: unknown model format {suffix!r} (want .onnx or .tflite)")
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise StageError(f"reading I/O of {path.name} failed: {type(exc).__name__}: {_line(exc)}") from exc
    return {
        "format": suffix[1:],
        "input": inputs[0] if inputs else None,
        "output": outputs[0] if outputs else None,
        "inputs": inputs,
        "outputs": outputs,
    }


def _onnx_io(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}

    def entry(value: Any) -> dict[str, Any]:
        ttype = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in ttype.shape.dim]
        return {
            "name": value.name,
            "shape": shape,
            "dtype": np.dtype(tensor_dtype_to_np_dtype(ttype.elem_type)).name,
            "scale": None,
            "zero_point": None,
        }

    inputs = [entry(v) for v in graph.input if v.name not in initializers]
    return inputs, [entry(v) for v in graph.output]


def _tflite_io(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))

    def entry(d: dict[str, Any]) -> dict[str, Any]:
        scale, zero_point = d.get("quantization", (0.0, 0))
        quantized = bool(scale) and np.dtype(d["dtype"]).kind in "iu"
        return {
            "name": d["name"],
            "shape": [int(s) for s in d["shape"]],
            "dtype": np.dtype(d["dtype"]).name,
            "scale": float(scale) if quantized else None,
            "zero_point": int(zero_point) if quantized else None,
        }

    return [entry(d) for d in interp.get_input_details()], [entry(d) for d in interp.get_output_details()]


def _to_tensor(sample: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if dtype.kind not in "iu":
        return sample.astype(dtype, copy=False)
    scale, zero_point = detail["quantization"]
    if not scale:
        raise StageError(f"TFLite input {detail['name']!r} is {dtype.name} but has no quantization scale")
    info = np.iinfo(dtype)
    q = np.round(sample / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def _from_tensor(value: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if dtype.kind in "iu":
        scale, zero_point = detail["quantization"]
        if scale:
            return ((value.astype(np.float32) - zero_point) * np.float32(scale)).astype(np.float32)
    return value.astype(np.float32)


def _as_batch(x: np.ndarray) -> np.ndarray:
    data = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if data.ndim < 2:
        raise StageError(f"model input must have a batch axis, got shape {data.shape}")
    return data


def _stack(outputs: list[np.ndarray]) -> np.ndarray:
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate([o.reshape(1, -1) for o in outputs], axis=0).astype(np.float32)


def _require(path: Path) -> None:
    if not path.is_file():
        raise StageError(f"model file {path} does not exist")


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]
