"""Operator inventory of an exported artifact: which ops it holds, and what would surprise a user on a device.

Flags, per artifact:
- ``float_ops``: in an int8 model, compute left in float. TFLite: an op (other than QUANTIZE/DEQUANTIZE at
  the boundary) whose result is a float tensor. ONNX QDQ: a Conv/ConvTranspose/Gemm/MatMul whose activation
  input does not come from a DequantizeLinear, so ONNX Runtime cannot fuse it into an integer kernel.
- ``runtime_issues``: ops the usual device runtime cannot run. TFLite: Flex ops (TensorFlow kernels, absent
  from tflite-runtime and ai-edge-litert) and other custom ops. ONNX: ops from a domain ONNX Runtime does not
  implement.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from edgeprune.errors import StageError

_TFLITE_BOUNDARY = {"QUANTIZE", "DEQUANTIZE"}
_ONNX_COMPUTE = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
_ORT_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft"}


def _tflite_ops(path: Path) -> list[tuple[str, bool]]:
    """(op name, has a float result) per op, from the interpreter's own op table."""
    from ai_edge_litert import interpreter as tfl

    try:
        details = tfl.Interpreter(model_path=str(path))._get_ops_details()
    except Exception as exc:  # noqa: BLE001 - the runtime raises plain RuntimeError/ValueError
        raise StageError(f"cannot list the ops of {path.name}: {exc}") from exc
    return [(d["op_name"], any(t.__name__.startswith("float") for t in d["result_types"])) for d in details]


def tflite_inventory(path: Path, *, int8: bool) -> dict[str, Any]:
    ops = _tflite_ops(path)
    float_ops = Counter(name for name, is_float in ops if int8 and is_float and name not in _TFLITE_BOUNDARY)
    issues = []
    for name in sorted({n for n, _ in ops}):
        if name.startswith("Flex"):
            issues.append(f"{name}: a Flex (TensorFlow) op; tflite-runtime and ai-edge-litert cannot run it")
        elif not name.isupper():
            issues.append(f"{name}: a custom op; the runtime needs it registered")
    return _inventory(Counter(name for name, _ in ops), float_ops, issues, "TFLite interpreter op table")


def onnx_inventory(path: Path, *, int8: bool) -> dict[str, Any]:
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # noqa: BLE001 - onnx raises DecodeError and friends
        raise StageError(f"cannot read {path.name} as ONNX: {exc}") from exc
    produced_by = {out: node.op_type for node in graph.node for out in node.output}
    float_ops: Counter[str] = Counter()
    if int8:
        float_ops.update(n.op_type for n in graph.node
                         if n.op_type in _ONNX_COMPUTE and produced_by.get(n.input[0]) != "DequantizeLinear")
    issues = sorted({f"{n.op_type} (domain {n.domain}): not an ONNX Runtime domain"
                     for n in graph.node if n.domain not in _ORT_DOMAINS})
    return _inventory(Counter(n.op_type for n in graph.node), float_ops, issues, "ONNX graph nodes")


def _inventory(ops: Counter[str], float_ops: Counter[str], issues: list[str], source: str) -> dict[str, Any]:
    return {"ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))), "total": sum(ops.values()),
            "float_ops": dict(sorted(float_ops.items())), "runtime_issues": issues, "source": source}


def inventory(path: Path, *, int8: bool) -> dict[str, Any]:
    """Op counts and flags of one .onnx or .tflite artifact (see the module docstring)."""
    path = Path(path)
    if path.suffix == ".tflite":
        return tflite_inventory(path, int8=int8)
    if path.suffix == ".onnx":
        return onnx_inventory(path, int8=int8)
    raise StageError(f"{path.name}: cannot list ops of a {path.suffix or 'suffix-less'} file")
