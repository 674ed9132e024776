"""Predicted latency of a PyTorch model or an exported artifact on a target, with where each microsecond goes."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .costmodel import LatencyModel
from .ops import Op, torch_ops

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Prediction:
    total_ms: float
    ops: tuple[tuple[Op, float], ...]  # every operator with its predicted milliseconds
    overhead_ms: float  # per-invoke cost, in no operator
    model: LatencyModel

    def by_layer(self) -> dict[str, float]:
        """Milliseconds per PyTorch module (or artifact operator), in execution order."""
        totals: dict[str, float] = defaultdict(float)
        for op, ms in self.ops:
            totals[op.name] += ms
        return dict(totals)

    def metric(self) -> dict[str, Any]:
        """The manifest's number format: an estimate that says which model made it."""
        return {"value": round(self.total_ms, 5), "unit": "ms", "source": "estimated",
                "model": f"edgeprune latency model ({'calibrated' if self.model.calibrated else 'uncalibrated'}): "
                         f"{self.model.basis}",
                "runtime": self.model.runtime, "dtype": self.model.dtype, "threads": self.model.threads}


def predict_ops(ops: Sequence[Op], model: LatencyModel) -> Prediction:
    costs = model.op_costs(ops)
    overhead = model.coefficients[0] / 1e3
    return Prediction(overhead + sum(costs) / 1e3, tuple((op, us / 1e3) for op, us in zip(ops, costs)), overhead, model)


def predict_model(model: "torch.nn.Module", input_shape: tuple[int, ...], latency: LatencyModel) -> Prediction:
    """Prediction for a torch model as it would run once exported (batch 1)."""
    return predict_ops(torch_ops(model.eval(), tuple(input_shape)), latency)


def artifact_runtime(path: Path) -> tuple[str, str]:
    """(runtime, dtype) of an exported model: its suffix, and whether its convolutions / matmuls run in int8.
    Files are read by artifact_ops' loaders, so a missing or corrupt one is the same one-line error."""
    import numpy as np

    from .artifact_ops import _load_onnx, _load_tflite, _require_readable

    path = Path(path)
    if path.suffix not in (".onnx", ".tflite"):
        from ..errors import ConfigError

        raise ConfigError(f"{path}: no latency model for this file type (use .onnx or .tflite)")
    _require_readable(path)
    if path.suffix == ".onnx":
        quantized = any(node.op_type in ("QuantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger")
                        for node in _load_onnx(path).graph.node)
        return "onnxruntime", "int8" if quantized else "fp32"
    interpreter = _load_tflite(path)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    heavy = [op for op in interpreter._get_ops_details()
             if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    quantized = any(tensors[op["inputs"][0]]["dtype"] == np.int8 for op in heavy)
    return "tflite", "int8" if quantized else "fp32"


def predict_artifact(path: Path, profile: Any, threads: int, device: Any = None) -> Prediction:
    """Prediction for an exported file on `profile` (its calibration for `device` when stored)."""
    from .artifact_ops import artifact_ops
    from .calibration import latency_model

    runtime, dtype = artifact_runtime(path)
    return predict_ops(artifact_ops(Path(path)), latency_model(profile, runtime, dtype, threads, device))


def layer_latency_table(teacher: "torch.nn.Module", student: "torch.nn.Module", input_shape: tuple[int, ...],
                        latency: LatencyModel) -> dict[str, Any]:
    """Predicted milliseconds per PyTorch module, teacher vs student, for report.json (models.pruned.latency_layers)."""
    before, after = predict_model(teacher, input_shape, latency), predict_model(student, input_shape, latency)
    t_layers, s_layers = before.by_layer(), after.by_layer()
    kinds = {op.name: op.kind for op, _ in (*before.ops, *after.ops)}
    rows = [{"name": name, "kind": kinds[name], "teacher_ms": round(t_layers.get(name, 0.0), 6),
             "student_ms": round(s_layers[name], 6) if name in s_layers else None}
            for name in [*t_layers, *(n for n in s_layers if n not in t_layers)]]
    return {**before.metric(), "value": None, "teacher_ms": round(before.total_ms, 5),
            "student_ms": round(after.total_ms, 5), "overhead_ms": round(before.overhead_ms, 5), "rows": rows,
            "note": "predicted, not measured: per-operator costs of the latency model summed per module "
                    "(batch norm and ReLU are folded into the layer before them; '(input)' is the input copy)"}
