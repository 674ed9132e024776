"""The latency model: a sum over operators of per-kind costs, linear in a few coefficients.

For one runtime and dtype (e.g. TFLite int8) at a fixed thread count, an operator of kind k costs

    per_op[k] + per_mmac[k] * MACs as the kernel tiles them / 1e6
              + per_mb_in[k] * MB read + per_mb_out[k] * MB written + per_mb_weights[k] * MB of weights
              + per_mb_weights_uncached * MB of weights * the share of the model's weights that misses the cache
              + per_mmac_small_map * the tiled MACs of a GEMM conv whose output map has 2 to rows-1 pixels

and a model costs the sum over its operators plus `per_model` (invoke overhead, input/output handling), all in
microseconds. MACs are counted as a GEMM micro-kernel computes them: output pixels rounded up to its rows,
output channels to its channel tile, input channels per kernel tap to its depth (`Op.tiled_macs`); depthwise
convolutions run kernels of their own and round their channels to their own tile. A model
whose data outgrow the cache reads its weights from memory on every inference: the cost of a megabyte of weights
then depends on the whole model, not the layer (measured here: a 512-channel 3x3 conv at 2x2 costs 0.30 ms
alone, 0.70 ms per layer in a stack of 28 MB and more), so the uncached share ramps from 0 to 1 between two
footprints. The footprint is what one inference touches, its weights and the activations it writes: held-out
models of 5-15 MB of fp32 weights missed both ways when it counted the weights alone (round 9 of
benchmarks/results/latency_predictor.md). A convolution whose map has fewer output pixels than the
micro-kernel's rows (but more than the one pixel of a matrix-vector kernel) costs more per tiled MAC than on larger
maps: on an AMX Xeon, int8 grouped 3x3 convs at 2x2 px ran 2.3x what the same fit priced them at from larger maps,
and ResNets and RegNets at 36-48 px input (2-3 px maps in their last stages) 20-40 % slower than predicted (round
22). Uncalibrated, the coefficients come from the target profile's facts
(peak compute, memory bandwidth, clock) and stated efficiency guesses; `fit` replaces them with non-negative least
squares on measured micro-benchmarks and networks (relative error, so small and large models count alike; a
network weighted above a single layer) and picks the tiles and the cache ramp that fit best. fp32 fits share one
cost per MB of weights over all kinds (`TIED`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .ops import COMPUTE_KINDS, KINDS, Op

ELEMENT_BYTES = {"fp32": 4, "int8": 1}
# Output channel tiles tried by the fit (XNNPACK's nr; ONNX Runtime's MLAS blocks), output pixels per micro-kernel
# call (XNNPACK's mr: 4-8 on x86 and Arm) and input channels reduced per step (kr). Every fp32 GEMM kernel of XNNPACK
# (x86 and Arm) and of ONNX Runtime's MLAS reduces one; left free, the fp32 fit flipped between 1 and 4 from run to
# run on an Intel Xeon (round 15 of latency_predictor.md), moving several held-out models across the 10 % line. int8
# kernels take 2-8; XNNPACK's int8 kernels for Intel's AMX tile 16 pixels x 64 channels, 64 bytes deep. On an AMX
# Xeon the int8 fit, offered at most 8 x 32 x 8, took the largest and over-predicted the example models by 27-34 %;
# offered 16 x 64 x 64 it took that (round 18's dev run: in-sample 11 -> 8 % rms, the examples -5..+9 %).
BLOCKS = (1, 4, 8, 16, 32, 64)
ROWS = (1, 4, 5, 6, 7, 8, 16)
DEPTHS = {"fp32": (1,), "int8": (1, 2, 4, 8, 16, 32, 64)}
# MB of footprint (weights and activations written): no weights missed at the low end, all at the high
CACHE_RAMPS = ((2.0, 12.0), (4.0, 16.0), (4.0, 24.0), (6.0, 20.0), (8.0, 24.0), (8.0, 32.0), (16.0, 48.0))
# What each dtype's fit may use. fp32: one cost per MB of weights for every compute kind (packed weights stream
# through every kernel alike). With a coefficient per kind the fp32 fit priced the weights of 20-30 MB models with
# small maps (efficientnet_b1, shufflenet_v2_x2_0 at 40 px) 30-65 % too high on an Intel Xeon (round 17 of
# benchmarks/results/latency_predictor.md). Round 17 also left the uncached term out of fp32 fits; it is back since
# round 19, when each runtime's artifacts got a process of their own: timed so, set q's large fp32 models ran 25-43 %
# slower than predicted without it, and 6 of 20 were within +-10 % without it and 10 with it.
TIED = {"fp32": ("per_mb_weights",), "int8": ()}
# Columns a dtype's fit leaves at zero. int8: the depthwise weights term. Free, it took 2.4-2.7 us per KB on an AMX
# Xeon, a third of the predictions for the 5x5-depthwise MnasNets and EfficientNets, which it over-predicted by up
# to 66 %. Refitted without it and with a depthwise tile of its own, round 19's runs of the held-out sets p, q and r
# had 71 of 120 predictions within +-10 % (56 with the term; the tile alone 59, dropping the term alone 51).
DROPPED = {"fp32": (), "int8": (("per_mb_weights", "depthwise"),)}
# Channel tiles tried for depthwise kernels once the GEMM tiles are chosen (XNNPACK's int8 depthwise kernels are
# 8-32 channels wide where its AMX GEMMs are 64: on the AMX Xeon int8 fits took 16, fp32 fits 32).
DEPTHWISE_BLOCKS = (1, 4, 8, 16, 32, 64)
# The byte terms let a kernel's cost per output (packing, bias, activation, stores: what dominates when few
# channels are reduced) differ from its cost per multiply-accumulate.
COLUMNS = (("per_model", ""),) + tuple(("per_op", k) for k in KINDS) + tuple(("per_mmac", k) for k in COMPUTE_KINDS) \
    + tuple(("per_mb_in", k) for k in KINDS) + tuple(("per_mb_out", k) for k in KINDS) \
    + tuple(("per_mb_weights", k) for k in COMPUTE_KINDS) + (("per_mb_weights_uncached", ""),) \
    + (("per_mmac_small_map", ""),)
_INDEX = {column: i for i, column in enumerate(COLUMNS)}

# Uncalibrated guesses, stated so that the estimate can be argued with: the share of the profile's peak compute a
# batch-1 kernel reaches (direct/implicit-GEMM convs do best, depthwise and matrix-vector products are bound by
# loads), and fixed costs in CPU cycles (an XNNPACK operator call, an interpreter invoke with input/output copies).
EFFICIENCY = {"conv": 0.5, "stem": 0.2, "pointwise": 0.5, "depthwise": 0.15, "grouped": 0.3, "linear": 0.25}
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
    rows: int = 1  # output pixels per micro-kernel call
    depth: int = 1  # input channels per reduction step
    cache_mb: tuple[float, float] = (0.0, 0.0)  # the uncached share's ramp; (0, 0): no cache term
    depthwise_block: int = 0  # channel tile of depthwise kernels; 0: `block`

    @property
    def tile(self) -> tuple[int, int, int, int]:
        return self.rows, self.block, self.depth, self.depthwise_block or self.block

    def op_costs(self, ops: Sequence[Op]) -> list[float]:
        """Microseconds of each operator (the per-model overhead is not in any of them)."""
        theta = np.asarray(self.coefficients)
        share = uncached_share(footprint_mb(ops, self.dtype), self.cache_mb)
        return [float(op_features(op, self.tile, self.dtype, share) @ theta) for op in ops]

    def predict_us(self, ops: Sequence[Op]) -> float:
        return self.coefficients[0] + sum(self.op_costs(ops))

    def to_json(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "dtype": self.dtype, "threads": self.threads, "block": self.block,
                "rows": self.rows, "depth": self.depth, "depthwise_block": self.depthwise_block,
                "cache_mb": list(self.cache_mb),
                "coefficients": {f"{a}:{k}" if k else a: c for (a, k), c in zip(COLUMNS, self.coefficients)},
                "basis": self.basis, "calibrated": self.calibrated, "fit": self.fit}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LatencyModel":
        coefficients = data["coefficients"]
        return cls(runtime=data["runtime"], dtype=data["dtype"], threads=int(data["threads"]),
                   block=int(data["block"]),
                   coefficients=tuple(float(coefficients.get(f"{a}:{k}" if k else a, 0.0)) for a, k in COLUMNS),
                   basis=data["basis"], calibrated=bool(data["calibrated"]), fit=data.get("fit", {}),
                   rows=int(data["rows"]), depth=int(data["depth"]),
                   depthwise_block=int(data.get("depthwise_block", 0)),
                   cache_mb=tuple(float(v) for v in data["cache_mb"]))


def weight_mb(ops: Sequence[Op], dtype: str) -> float:
    """Megabytes of weights the model's compute operators read on every inference."""
    return sum(op.weight_elements for op in ops if op.kind in COMPUTE_KINDS) * ELEMENT_BYTES[dtype] / 1e6


def footprint_mb(ops: Sequence[Op], dtype: str) -> float:
    """Megabytes one inference touches: the weights and every operator's output."""
    return weight_mb(ops, dtype) + sum(op.out_elements for op in ops) * ELEMENT_BYTES[dtype] / 1e6


def uncached_share(footprint: float, ramp: tuple[float, float]) -> float:
    """The share of a model's weights read from memory rather than cache: 0 up to a footprint of ramp[0] MB, 1 from
    ramp[1]."""
    low, high = ramp
    return 0.0 if high <= 0 else min(1.0, max(0.0, (footprint - low) / (high - low)))


def op_features(op: Op, tile: tuple[int, int, int, int], dtype: str, uncached: float = 0.0) -> np.ndarray:
    """The operator's row of the design matrix; `uncached` is the model's uncached share of weights."""
    size = ELEMENT_BYTES[dtype] / 1e6
    row = np.zeros(len(COLUMNS))
    row[_INDEX["per_op", op.kind]] = 1.0
    row[_INDEX["per_mb_in", op.kind]] = op.in_elements * size
    row[_INDEX["per_mb_out", op.kind]] = op.out_elements * size
    if op.kind in COMPUTE_KINDS:
        mmacs = op.tiled_macs(*tile) / 1e6
        row[_INDEX["per_mmac", op.kind]] = mmacs
        row[_INDEX["per_mb_weights", op.kind]] = op.weight_elements * size
        row[_INDEX["per_mb_weights_uncached", ""]] = op.weight_elements * size * uncached
        if op.kind != "depthwise" and 1 < op.out_elements // max(op.out_channels, 1) < tile[0]:
            row[_INDEX["per_mmac_small_map", ""]] = mmacs
    return row


def model_features(ops: Sequence[Op], tile: tuple[int, int, int, int], dtype: str,
                   cache_mb: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    share = uncached_share(footprint_mb(ops, dtype), cache_mb)
    row = np.zeros(len(COLUMNS))
    row[0] = 1.0
    for op in ops:
        row += op_features(op, tile, dtype, share)
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
        weights: Sequence[float] | None = None, blocks: Sequence[int] = BLOCKS, rows: Sequence[int] = ROWS,
        depths: Sequence[int] | None = None, cache_ramps: Sequence[tuple[float, float]] = CACHE_RAMPS,
        tied: Sequence[str] | None = None, dropped: Sequence[tuple[str, str]] | None = None,
        depthwise_blocks: Sequence[int] = DEPTHWISE_BLOCKS) -> LatencyModel:
    """Least-squares coefficients (non-negative, relative error, each sample counted `weights[i]` times) for
    measured (ops, microseconds) samples; the tiles and the cache ramp are the candidates with the smallest error
    (the first on a tie), the depthwise tile chosen in turn with the others until it no longer changes. Columns
    named in `tied` (e.g. "per_mb_weights") share one coefficient over all kinds, columns in `dropped` stay zero;
    depths, ties and drops default to the dtype's (DEPTHS, TIED, DROPPED)."""
    from scipy.optimize import nnls

    measured = np.array([us for _, us in samples], dtype=float)
    weight = np.ones(len(samples)) if weights is None else np.asarray(weights, dtype=float)
    root = np.sqrt(weight)
    design = _Design([ops for ops, _ in samples], dtype)
    tie = _tie_matrix(TIED[dtype] if tied is None else tied, DROPPED[dtype] if dropped is None else dropped)
    best: tuple[float, tuple[int, int, int, int], tuple[float, float], np.ndarray] | None = None

    def consider(tile: tuple[int, int, int, int], ramp: tuple[float, float]) -> None:
        nonlocal best
        matrix = design.matrix(tile, ramp)
        shared, _ = nnls((matrix @ tie) * (root / measured)[:, None], root, maxiter=50 * tie.shape[1])
        theta = tie @ shared
        error = float(np.sqrt(np.average((matrix @ theta / measured - 1) ** 2, weights=weight)))
        if best is None or error < best[0] - 1e-4:
            best = (error, tile, ramp, theta)

    depthwise = 0  # 0: each candidate's GEMM tile; once another is chosen, the GEMM tiles are chosen again with it
    while True:
        for row_tile, block, depth, ramp in itertools.product(rows, blocks, depths or DEPTHS[dtype], cache_ramps):
            consider((row_tile, block, depth, depthwise or block), ramp)
        for candidate in depthwise_blocks:
            consider((*best[1][:3], candidate), best[2])
        if best[1][3] == (depthwise or best[1][1]):
            break
        depthwise = best[1][3]
    error, tile, ramp, theta = best
    relative = design.matrix(tile, ramp) @ theta / measured - 1
    stats = {"samples": len(samples), "rms_relative_error": round(error, 4),
             "max_relative_error": round(float(np.max(np.abs(relative))), 4),
             "within_10pct": round(float(np.mean(np.abs(relative) <= 0.10)), 4)}
    return LatencyModel(runtime, dtype, threads, tile[1], tuple(float(t) for t in theta), basis, True, stats,
                        rows=tile[0], depth=tile[2], cache_mb=ramp, depthwise_block=tile[3])


def _tie_matrix(tied: Sequence[str], dropped: Sequence[tuple[str, str]] = ()) -> np.ndarray:
    """Maps the fitted coefficients to COLUMNS: one per untied column, one per tied group, none for dropped ones."""
    groups = [name for name in dict.fromkeys(group for group, _ in COLUMNS) if name in tied]
    free = [i for i, column in enumerate(COLUMNS) if column[0] not in tied and column not in dropped]
    matrix = np.zeros((len(COLUMNS), len(free) + len(groups)))
    matrix[free, range(len(free))] = 1.0
    for j, name in enumerate(groups, len(free)):
        matrix[[i for i, column in enumerate(COLUMNS) if column[0] == name and column not in dropped], j] = 1.0
    return matrix


class _Design:
    """The design matrix for every candidate tile and cache ramp, without re-walking the operators: only the
    MAC and uncached-weight columns change between candidates (vectorised `model_features`)."""

    def __init__(self, models: Sequence[Sequence[Op]], dtype: str) -> None:
        self.base = np.stack([model_features(ops, (1, 1, 1, 1), dtype) for ops in models])
        self.uncached_column = _INDEX["per_mb_weights_uncached", ""]
        self.small_column = _INDEX["per_mmac_small_map", ""]
        self.weights = np.array([weight_mb(ops, dtype) for ops in models])
        self.footprints = np.array([footprint_mb(ops, dtype) for ops in models])
        compute = [(i, op) for i, ops in enumerate(models) for op in ops if op.kind in COMPUTE_KINDS and op.macs]
        self.model = np.array([i for i, _ in compute], dtype=int)
        self.column = np.array([_INDEX["per_mmac", op.kind] for _, op in compute], dtype=int)
        self.depthwise = np.array([op.kind == "depthwise" for _, op in compute])
        self.macs = np.array([op.macs for _, op in compute], dtype=float)
        self.channels = np.array([op.out_channels for _, op in compute], dtype=float)
        self.groups = np.array([1 if op.kind == "depthwise" else op.groups for _, op in compute], dtype=float)
        self.pixels = np.array([op.out_elements // op.out_channels for _, op in compute], dtype=float)
        self.kernel = np.array([op.kernel for _, op in compute], dtype=float)
        self.reduced = self.macs / (np.array([op.out_elements for _, op in compute]) * self.kernel)

    def matrix(self, tile: tuple[int, int, int, int], ramp: tuple[float, float]) -> np.ndarray:
        rows, block, depth, depthwise = tile
        up = lambda values, t: np.ceil(values / t) * t  # noqa: E731
        channels = np.where(self.depthwise, up(self.channels, depthwise),
                            up(self.channels / self.groups, block) * self.groups)
        pixels = np.where(self.pixels <= 1, self.pixels, up(self.pixels, rows))
        macs = np.where(self.depthwise, self.macs * channels / self.channels,
                        pixels * channels * up(self.reduced, depth) * self.kernel)
        matrix = self.base.copy()
        matrix[self.model, self.column] = 0.0
        np.add.at(matrix, (self.model, self.column), macs / 1e6)
        small = ~self.depthwise & (self.pixels > 1) & (self.pixels < rows)
        matrix[:, self.small_column] = 0.0
        np.add.at(matrix, (self.model[small], self.small_column), macs[small] / 1e6)
        share = np.array([uncached_share(f, ramp) for f in self.footprints])
        matrix[:, self.uncached_column] = self.weights * share
        return matrix
