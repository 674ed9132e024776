"""`--budget-ms`: the widths the prune stage uses, searched on the latency model and confirmed by measurement.

The search (latency/budget.py) aims at a goal, first 95 % of the budget (a margin for the bench stage's own
measurement), trading predicted latency against each group's damage, measured once on training images
(pruning/sensitivity.py). The deployable artifact (int8, the
profile's runtime) of a model with the chosen widths is exported and measured like the bench stage does (on the
device when one is given, else here). When the measured percentile misses the aim, the goal moves (scaled by
aim / measured, then along the line through the last two attempts: `next_goal`) and the search runs again; this
also widens a fit far under the aim (a pessimistic prediction), so that no accuracy is given away. The widest measured fit is kept. Latency depends
on shapes only, so this runs before distillation, on copies shaped like the student.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BudgetError
from ..pipeline import BuildContext
from ..report.summary import PRIMARY_ARTIFACT
from . import common
from .bench import BENCH_INPUT_SAMPLES, device, host_threads

if TYPE_CHECKING:
    import torch

ATTEMPTS = 4
SAFETY = 0.95  # aim 5 % under the budget, so that the bench stage's own measurement stays within it
CLOSE_ENOUGH = 0.9  # a fit measured under 90 % of the aim is retried with a wider goal
SENSITIVITY_IMAGES = 1024  # training images each group's damage is scored on
DAMAGE = ("KL divergence from the unpruned model's outputs with one group pruned to each width, batch norm "
          "re-estimated (pruning/sensitivity.py)")


def next_goal(points: list[tuple[float, float]], aim: float) -> float:
    """The predicted latency to search for next, from the (predicted, measured) pairs of the attempts so far.
    Measured latency is not proportional to predicted (fixed costs the model may misjudge), so with two attempts
    at different widths the goal follows the line through them (a secant step); otherwise the last prediction is
    scaled by aim / measured."""
    predicted, measured = points[-1]
    if len(points) > 1 and points[-2][0] != predicted:
        slope = (measured - points[-2][1]) / (predicted - points[-2][0])
        if slope > 0 and predicted + (aim - measured) / slope > 0:
            return predicted + (aim - measured) / slope
    return predicted * aim / measured


def config(ctx: BuildContext) -> dict[str, Any]:
    """What the widths depend on, for the prune stage's record."""
    cfg = ctx.config
    return {"budget_ms": cfg.budget_ms, "percentile": cfg.budget_percentile,
            "latency_model": deployable_latency_model(ctx).to_json(), "threads": host_threads(ctx),
            "runs": cfg.bench_runs, "warmup": cfg.bench_warmup, "rounds": cfg.bench_rounds,
            "min_seconds": cfg.bench_min_seconds, "where": (dev.host if (dev := device(ctx)) else "host")}


def deployable_latency_model(ctx: BuildContext) -> Any:
    """The latency model of the deployable artifact (int8, the profile's runtime) on the device measured on."""
    from ..latency.calibration import latency_model

    return latency_model(ctx.target, ctx.target.runtime, "int8", host_threads(ctx), device(ctx))


def export_deployable(ctx: BuildContext, model: "torch.nn.Module", folder: Path) -> Path:
    """Write the deployable int8 artifact of `model` (the profile's runtime) into `folder`."""
    import torch

    from ..export.onnx import export_onnx
    from ..export.quantize import quantize_onnx_int8
    from ..export.tflite import export_tflite_int8

    cfg, data = ctx.config, common.data(ctx)
    example = torch.from_numpy(data.x_test[:1].copy())
    calibration = data.calibration(cfg.calibration_samples, seed=cfg.seed)
    path = folder / PRIMARY_ARTIFACT[ctx.target.runtime]
    if path.suffix == ".tflite":
        export_tflite_int8(model, example, path, calibration)
    else:
        export_onnx(model, example, folder / "model.onnx", opset=ctx.target.onnx_opset)
        quantize_onnx_int8(folder / "model.onnx", path, calibration, activations=ctx.target.int8_activations,
                           method=cfg.calibration_method, reduce_range=ctx.target.int8_reduce_range)
    return path


def measure_deployable(ctx: BuildContext, model: "torch.nn.Module", folder: Path) -> dict[str, Any]:
    """Export the deployable int8 artifact of `model` and measure it as the bench stage would."""
    from ..bench.fleet import bench_on_device
    from ..bench.local import bench_interleaved

    cfg, data = ctx.config, common.data(ctx)
    path = export_deployable(ctx, model, folder)
    options = dict(rounds=cfg.bench_rounds, threads=host_threads(ctx), warmup=cfg.bench_warmup, runs=cfg.bench_runs,
                   min_seconds=cfg.bench_min_seconds, inputs=data.x_test[:BENCH_INPUT_SAMPLES])
    dev = device(ctx)
    results = (bench_on_device(dev, [path], trust_new_host=cfg.trust_new_host, **options) if dev
               else bench_interleaved([path], **options))
    return results[path]


def choose_widths(ctx: BuildContext, teacher: "torch.nn.Module",
                  example: "torch.Tensor") -> tuple[dict[str, float], dict[str, Any]]:
    """Layer ratios meeting the budget, and the record of how they were found (every attempt, predicted and
    measured); BudgetError when no allowed widths meet it."""
    import torch

    from ..latency.budget import search, sensitivity_table, shaped, width_step
    from ..pruning.sensitivity import divergence_scorer

    cfg = ctx.config
    budget, key = float(cfg.budget_ms), cfg.budget_percentile
    latency = deployable_latency_model(ctx)
    log = ctx.progress.log
    options = dict(round_to=ctx.target.channel_multiple, importance=cfg.importance, ignore=cfg.ignore_layers,
                   max_layer_ratio=cfg.max_layer_ratio)
    images = torch.tensor(common.data(ctx).calibration(SENSITIVITY_IMAGES, seed=cfg.seed))
    damage = sensitivity_table(teacher, example, divergence_scorer(teacher, images),
                               width_step(ctx.target.channel_multiple, latency.block), progress=log, **options)
    attempts: list[dict[str, Any]] = []
    best: tuple[tuple[bool, float], Any, dict[str, Any]] | None = None
    aim = goal = budget * SAFETY
    points: list[tuple[float, float]] = []  # (predicted, measured) of every attempt
    with tempfile.TemporaryDirectory(prefix="edgeprune-budget-") as tmp:
        for attempt in range(1, ATTEMPTS + 1):
            folder = Path(tmp) / f"attempt{attempt}"
            folder.mkdir()
            try:
                result = search(teacher, example, latency, goal, damage=damage, progress=log, **options)
            except BudgetError as exc:  # predicted unreachable: measure the narrowest widths before giving up
                result = exc.result
            measured = measure_deployable(ctx, shaped(teacher, example, result.widths_kept()), folder)
            value = measured["summary"][key]
            attempts.append({"goal_ms": round(goal, 5), "predicted_ms": round(result.predicted_ms, 5),
                             f"measured_{key}_ms": round(value, 5),
                             "widths": {root: list(w) for root, w in result.widths.items()}})
            log(f"[budget] attempt {attempt}: predicted {result.predicted_ms:.4f} ms, measured {key} {value:.4f} ms "
                f"(budget {budget:g} ms)")
            if result.predicted_ms > goal and value > budget:  # the narrowest widths allowed, measured
                raise BudgetError(
                    f"latency budget {budget:g} ms ({key}) cannot be met: the best achievable is {value:.4f} ms "
                    f"measured on {measured['where']} ({measured['runtime']} {measured['runtime_version']}, "
                    f"{host_threads(ctx)} threads) at the narrowest widths allowed (multiples of {ctx.target.channel_multiple}; "
                    f"predicted {result.predicted_ms:.4f} ms); raise the budget or allow narrower layers "
                    "(--max-layer-ratio, --ignore-layers)")
            rank = (value <= aim, value)  # under the aim first, then the widest (slowest) fit
            if value <= budget and (best is None or rank > best[0]):
                best = (rank, result, measured["summary"])
            if aim * CLOSE_ENOUGH <= value <= aim or (value <= aim and not result.trace):
                break  # close to the aim, or unpruned and already within it
            points.append((result.predicted_ms, value))
            goal = next_goal(points, aim)
    if best is None:
        raise BudgetError(f"latency budget {budget:g} ms ({key}) not met after {ATTEMPTS} attempts: measured "
                          + ", ".join(f"{a[f'measured_{key}_ms']:g}" for a in attempts)
                          + f" ms on this {'device' if device(ctx) else 'machine'}; the latency model "
                          f"({'calibrated' if latency.calibrated else 'uncalibrated'}) may be off: run "
                          f"`edgeprune calibrate --target {ctx.target.name}`")
    _, result, summary = best
    record = {"budget_ms": budget, "percentile": key, "step": result.step,
              "latency_model": latency.basis, "calibrated": latency.calibrated,
              "unpruned_predicted_ms": round(result.unpruned_ms, 5), "predicted_ms": round(result.predicted_ms, 5),
              "measured": {k: summary[k] for k in ("p50", "p95", "p95_ci")}, "attempts": attempts,
              "search": result.trace, "damage": {"score": DAMAGE, "images": len(images),
                                                 "by_width": {root: {str(w): round(d, 5) for w, d in table.items()}
                                                              for root, table in damage.items()}}}
    return result.layer_ratios(), record
