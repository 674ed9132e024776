"""Accuracy-aware int8 fallback: keep the layers int8 hurts most in float until the accuracy drop is within P.

The ranking comes from the layer-wise SQNR localiser (export/localize.py): the layer that loses the most
signal to quantisation goes back to float first. Each step re-quantizes with one more layer kept in float
and measures accuracy on real labelled samples; the first model within the allowed drop replaces the full
int8 model. Growing one layer at a time keeps the float part as small as the data says it can be.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgeprune.errors import StageError

Quantize = Callable[[Path, Sequence[str]], None]  # (out_path, node names kept in float)


def onnx_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the QDQ graph as written (as the export parity measures it)."""
    from .runtime import run_onnx

    return float(np.mean(run_onnx(path, x, exact=True).argmax(axis=1) == np.asarray(y).reshape(-1)))


def restore_float_layers(
    int8_path: Path,
    ranking: Sequence[dict[str, Any]],
    quantize: Quantize,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    *,
    reference_accuracy: float,
    max_drop: float,
    measure: Callable[[Path, Path], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Replace `int8_path` by the mixed-precision model with the fewest float layers whose accuracy drop
    (reference_accuracy - accuracy, in percentage points) is at most `max_drop`.

    `ranking` is the localiser's rows, worst first (each with "module", "nodes", "sqnr_lost_db").
    `measure(full_int8, mixed)` may add a latency comparison to the record before the full model is replaced.
    StageError when even every ranked layer in float misses the target; `int8_path` is then left as it was.
    """
    int8_path = Path(int8_path)

    def step(path: Path, layers: int) -> dict[str, Any]:
        accuracy = onnx_accuracy(path, x_eval, y_eval)
        return {"float_layers": layers, "accuracy": round(accuracy, 6),
                "drop_pp": round(100 * (reference_accuracy - accuracy), 3)}

    steps = [step(int8_path, 0)]
    record: dict[str, Any] = {"max_drop_pp": max_drop, "reference_accuracy": reference_accuracy,
                              "samples": len(x_eval), "steps": steps, "float_layers": []}
    if steps[0]["drop_pp"] <= max_drop:
        return {**record, "needed": False}
    with tempfile.TemporaryDirectory(dir=int8_path.parent, prefix=".edgeprune-fallback-") as workdir:
        candidate = Path(workdir) / int8_path.name
        for count in range(1, len(ranking) + 1):
            chosen = ranking[:count]
            quantize(candidate, [node for row in chosen for node in row["nodes"]])
            steps.append(step(candidate, count))
            if steps[-1]["drop_pp"] <= max_drop:
                record["float_layers"] = [{k: row[k] for k in ("module", "op", "nodes", "sqnr_lost_db")}
                                          for row in chosen]
                if measure is not None:
                    full = Path(workdir) / f"full.{int8_path.name}"
                    shutil.copyfile(int8_path, full)
                    record["latency_cost"] = measure(full, candidate)
                os.replace(candidate, int8_path)
                return {**record, "needed": True}
    best = min(steps, key=lambda s: s["drop_pp"])
    raise StageError(
        f"{int8_path.name}: int8 accuracy drop is {steps[0]['drop_pp']:.2f} points, and keeping up to "
        f"{len(ranking)} layers in float only brought it to {best['drop_pp']:.2f} (with {best['float_layers']} in float); "
        f"--max-int8-drop {max_drop:g} cannot be met by mixed precision"
    )
