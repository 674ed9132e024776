"""The latency model: a sum over operators of per-kind costs, linear in a few coefficients.

For one runtime and dtype (e.g. TFLite int8) at a fixed thread count, an operator of kind k costs

    per_op[k] + per_mmac[k] * MACs (output channels rounded up to the kernel's channel tile) / 1e6
              + per_mb_in[k] * MB read + per_mb_out[k] * MB written + per_mb_weights[k] * MB of weights

and a model costs the sum over its operators plus `per_model` (invoke overhead, input/output handling), all in
microseconds. Uncalibrated, the coefficients come from the target profile's facts (peak compute, memory
bandwidth, clock) and stated efficiency guesses; `fit` replaces them with non-negative least squares on measured
micro-benchmarks and networks (relative error, so small and large models count alike) and picks the channel tile
that fits best.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .ops import COMPUTE_KINDS, KINDS, Op

ELEMENT_BYTES = {"fp32": 4, "int8": 1}
BLOCKS = (1, 4, 8, 16, 32)
# The byte terms let a kernel's cost per output (packing, bias, activation, stores: what dominates when few
# channels are reduced) differ from its cost per multiply-accumulate.
COLUMNS = (("per_model", ""),) + tuple(("per_op", k) for k in KINDS) + tuple(("per_mmac", k) for k in COMPUTE_KINDS) \
    + tuple(("per_mb_in", k) for k in KINDS) + tuple(("per_mb_out", k) for k in KINDS) \
    + tuple(("per_mb_weights", k) for k in COMPUTE_KINDS)
_INDEX = {column: i for i, column in enumerate(COLUMNS)}

# Uncalibrated guesses, stated so that the estimate can be argued with: the share of the profile's peak compute a
# batch-1 kernel reaches (direct/implicit-GEMM convs do best, depthwise and matrix-vector products are bound by
# loads), and fixed costs in CPU cycles (an XNNPACK operator call, an interpreter invoke with input/output copies).
EFFICIENCY = {"conv": 0.5, "stem": 0.2, "pointwise": 0.5, "depthwise": 0.15, "linear": 0.25}
OP_CYCLES = 2_000
INVOKE_CYCLES = 15_000


@dataclass(frozen=True)
class LatencyModel:
    """Coefficients (microseconds per unit, aligned with COLUMNS) for one runtime, dtype and thread count."""

    runtime: str  # "tflite" | "onnxruntime"
    dtype: str  # "fp32" | "int8"
    threads: int
    block: int  # channel tile: widths are computed as if rounded up to a multiple of it
    coefficients: tuple[float, ...]
    basis: str  # how the coefficients were obtained, for every report that shows a prediction
    calibrated: bool = False
    fit: dict[str, Any] = field(default_factory=dict)  # residuals of the calibration fit

    def op_costs(self, ops: Sequence[Op]) -> list[float]:
        """Microseconds of each operator (the per-model overhead is not in any of them)."""
        theta = np.asarray(self.coefficients)
        return [float(op_features(op, self.block, self.dtype) @ theta) for op in ops]

    def predict_us(self, ops: Sequence[Op]) -> float:
        return self.coefficients[0] + sum(self.op_costs(ops))

    def to_json(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "dtype": self.dtype, "threads": self.threads, "block": self.block,
                "coefficients": {f"{a}:{k}" if k else a: c for (a, k), c in zip(COLUMNS, self.coefficients)},
                "basis": self.basis, "calibrated": self.calibrated, "fit": self.fit}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LatencyModel":
        coefficients = data["coefficients"]
        return cls(runtime=data["runtime"], dtype=data["dtype"], threads=int(data["threads"]),
                   block=int(data["block"]),
                   coefficients=tuple(float(coefficients[f"{a}:{k}" if k else a]) for a, k in COLUMNS),
                   basis=data["basis"], calibrated=bool(data["calibrated"]), fit=data.get("fit", {}))


def op_features(op: Op, block: int, dtype: str) -> np.ndarray:
    size = ELEMENT_BYTES[dtype] / 1e6
    row = np.zeros(len(COLUMNS))
    row[_INDEX["per_op", op.kind]] = 1.0
    row[_INDEX["per_mb_in", op.kind]] = op.in_elements * size
    row[_INDEX["per_mb_out", op.kind]] = op.out_elements * size
    if op.kind in COMPUTE_KINDS:
        row[_INDEX["per_mmac", op.kind]] = op.blocked_macs(block) / 1e6
        row[_INDEX["per_mb_weights", op.kind]] = op.weight_elements * size
    return row


def model_features(ops: Sequence[Op], block: int, dtype: str) -> np.ndarray:
    row = np.zeros(len(COLUMNS))
    row[0] = 1.0
    for op in ops:
        row += op_features(op, block, dtype)
    return row


def uncalibrated(profile: Any, runtime: str, dtype: str, threads: int) -> LatencyModel:
    """Coefficients from the profile's facts alone (see EFFICIENCY, OP_CYCLES, INVOKE_CYCLES)."""
    share = min(threads, profile.cores) / profile.cores
    peak_ops = (profile.peak_gops_int8 if dtype == "int8" else profile.peak_gflops_fp32) * 1e9 * share
    macs_per_us = peak_ops / 2 / 1e6  # two operations per multiply-accumulate
    us_per_mb = 1.0 / profile.memory_bandwidth_gbs * 1e3  # 1 MB at B GB/s takes 1000/B microseconds
    theta = np.zeros(len(COLUMNS))
    theta[0] = INVOKE_CYCLES / (profile.clock_ghz * 1e3)
    for kind in KINDS:
        theta[_INDEX["per_op", kind]] = OP_CYCLES / (profile.clock_ghz * 1e3)
        if kind in COMPUTE_KINDS:
            theta[_INDEX["per_mmac", kind]] = 1e6 / (macs_per_us * EFFICIENCY[kind])
        else:  # streaming ops wait on memory
            theta[_INDEX["per_mb_in", kind]] = theta[_INDEX["per_mb_out", kind]] = us_per_mb
    theta[_INDEX["per_mb_weights", "linear"]] = us_per_mb  # a matrix-vector product streams its weights once
    basis = (f"uncalibrated estimate from the {profile.name} profile: {profile.peak_gflops_fp32:g} GFLOP/s fp32 / "
             f"{profile.peak_gops_int8:g} GOP/s int8 peak x {threads}/{profile.cores} cores x efficiency "
             f"({', '.join(f'{k} {v:g}' for k, v in EFFICIENCY.items())}), {profile.memory_bandwidth_gbs:g} GB/s for "
             f"streaming ops, {OP_CYCLES} cycles per operator and {INVOKE_CYCLES} per invoke at "
             f"{profile.clock_ghz:g} GHz; widths rounded up to {profile.channel_multiple}")
    return LatencyModel(runtime, dtype, threads, profile.channel_multiple, tuple(theta), basis, calibrated=False)


def fit(samples: Sequence[tuple[Sequence[Op], float]], *, runtime: str, dtype: str, threads: int, basis: str,
        blocks: Sequence[int] = BLOCKS) -> LatencyModel:
    """Least-squares coefficients (non-negative, relative error) for measured (ops, microseconds) samples; the
    channel tile is the one of `blocks` with the smallest error (the smaller on a tie)."""
    from scipy.optimize import nnls

    measured = np.array([us for _, us in samples], dtype=float)
    best: tuple[float, int, np.ndarray] | None = None
    for block in blocks:
        design = np.stack([model_features(ops, block, dtype) for ops, _ in samples])
        theta, _ = nnls(design / measured[:, None], np.ones(len(samples)), maxiter=50 * design.shape[1])
        error = float(np.sqrt(np.mean((design @ theta / measured - 1) ** 2)))
        if best is None or error < best[0] - 1e-4:
            best = (error, block, theta)
    error, block, theta = best
    design = np.stack([model_features(ops, block, dtype) for ops, _ in samples])
    relative = design @ theta / measured - 1
    stats = {"samples": len(samples), "rms_relative_error": round(error, 4),
             "max_relative_error": round(float(np.max(np.abs(relative))), 4),
             "within_10pct": round(float(np.mean(np.abs(relative) <= 0.10)), 4)}
    return LatencyModel(runtime, dtype, threads, block, tuple(float(t) for t in theta), basis, True, stats)
