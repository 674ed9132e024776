"""--max-int8-drop: bring both int8 artifacts within the allowed accuracy drop, and rank where int8 loses.

model.int8.onnx: the layers the SQNR localiser ranks worst go back to float one at a time (export/fallback.py).
model.int8.tflite: post-training int8 if it is within the drop, else a quantisation-aware fine-tune
(export/qat.py, with --qat-epochs). Both are measured on the whole test split, the split the report uses.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import StageError
from ..pipeline import BuildContext
from . import common

LOCALISE_SAMPLES = 64


def onnx_within_drop(ctx: BuildContext, quantize: Callable[[Path, Sequence[str]], None]) -> dict[str, Any]:
    """--max-int8-drop: keep the layers int8 hurts most in float until the ONNX int8 model is within the drop."""
    from ..export.fallback import restore_float_layers

    data = common.data(ctx)
    with ctx.progress.task("int8 fallback", total=None):
        record = restore_float_layers(
            ctx.path("model.int8.onnx"), layer_sqnr_record(ctx)["layers"], quantize, data.x_test, data.y_test,
            reference_accuracy=_student_accuracy(ctx), max_drop=ctx.config.max_int8_drop, measure=_latency_cost)
    return {**record, "source": "measured", "artifact": "model.int8.onnx",
            "on": f"whole test split ({len(data.y_test)} samples), the split the report's accuracy uses",
            "model": "layers ranked by SQNR lost (export/localize.py) go back to float one at a time"}


def _student_accuracy(ctx: BuildContext) -> float:
    from ..distill.trainer import evaluate

    data = common.data(ctx)
    return evaluate(common.student(ctx), data.x_test, data.y_test)


def tflite_within_drop(ctx: BuildContext, student: Any, example: Any) -> dict[str, Any]:
    """--max-int8-drop for model.int8.tflite: post-training int8 if it is within the drop, else (with
    --qat-epochs) a quantisation-aware fine-tune; StageError if the drop still cannot be met."""
    import numpy as np

    from ..export.qat import export_tflite_int8_qat
    from ..export.runtime import run_tflite
    from ..export.tflite import litert_version

    cfg, data, path = ctx.config, common.data(ctx), ctx.path("model.int8.tflite")
    reference = _student_accuracy(ctx)

    def measured() -> dict[str, Any]:
        accuracy = float(np.mean(run_tflite(path, data.x_test).argmax(1) == data.y_test))
        return {"accuracy": round(accuracy, 6), "drop_pp": round(100 * (reference - accuracy), 3)}

    record: dict[str, Any] = {"max_drop_pp": cfg.max_int8_drop, "reference_accuracy": reference,
                              "source": "measured", "on": f"whole test split ({len(data.y_test)} samples)",
                              "post_training": measured()}
    drop = record["post_training"]["drop_pp"]
    if drop <= cfg.max_int8_drop:
        return record
    if cfg.qat_epochs == 0:
        raise StageError(f"model.int8.tflite: post-training int8 loses {drop:.2f} accuracy points against the student "
                         f"(--max-int8-drop {cfg.max_int8_drop:g}); add --qat-epochs N for quantisation-aware "
                         "training, or allow a larger drop")
    with ctx.progress.task(f"quantisation-aware training ({cfg.qat_epochs} epochs)", total=None):
        training = export_tflite_int8_qat(student, example, path, data, epochs=cfg.qat_epochs,
                                          batch_size=cfg.batch_size, seed=cfg.seed)
    ctx.cache["converter:model.int8.tflite"] = f"{litert_version()}, quantisation-aware training (export/qat.py)"
    record["quantisation_aware"] = {**measured(), "epochs": cfg.qat_epochs,
                                    "wall_seconds": round(training["wall_seconds"], 1), "history": training["history"]}
    drop = record["quantisation_aware"]["drop_pp"]
    if drop > cfg.max_int8_drop:
        raise StageError(f"model.int8.tflite: still loses {drop:.2f} accuracy points after {cfg.qat_epochs} epochs of "
                         f"quantisation-aware training (--max-int8-drop {cfg.max_int8_drop:g})")
    return record


def _latency_cost(full: Path, mixed: Path) -> dict[str, Any]:
    """p50 of the mixed-precision model over the full int8 one, interleaved on this machine at 1 thread."""
    import platform

    from ..bench.local import bench_interleaved

    results = bench_interleaved([full, mixed], rounds=3, threads=1, warmup=20, runs=100, min_seconds=0.2)
    p50 = {path: results[path]["summary"]["p50"] for path in (full, mixed)}
    return {"full_int8_p50_ms": p50[full], "mixed_p50_ms": p50[mixed], "ratio": round(p50[mixed] / p50[full], 3),
            "source": "measured", "runtime": results[full].get("runtime"), "threads": 1, "rounds": 3,
            "host": platform.node(), "runs": results[mixed]["runs"]}


def layer_sqnr_record(ctx: BuildContext) -> dict[str, Any]:
    """Where int8 quantisation loses signal, layer by layer (export/localize.py), worst first."""
    from ..export.localize import layer_sqnr

    samples = common.data(ctx).x_test[:LOCALISE_SAMPLES]
    rows = layer_sqnr(ctx.path("model.onnx"), ctx.path("model.int8.onnx"), samples)
    return {"source": "computed", "samples": len(samples),
            "model": "per-channel SQNR of each quantised activation, int8 QDQ vs fp32 ONNX (ONNX Runtime); "
                     "sqnr_lost_db = worst input SQNR - output SQNR",
            "layers": rows}
