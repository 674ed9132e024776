"""Stage 'export': ONNX fp32/int8 and TFLite fp32/int8 of the student, plus a TFLite fp32 teacher baseline.

Parity is checked at the end of the stage: fp32 artifacts against the torch student on real test samples
(max abs diff), int8 artifacts on the whole test split (top-1 agreement, accuracy, logit error). Each
artifact's operators are listed, with float ops left in int8 models and ops its runtime cannot run, and
every artifact carries edgeprune's metadata (export/metadata.py; `edgeprune inspect` prints it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..errors import StageError
from ..manifest import metric
from ..pipeline import BuildContext, Stage
from . import common
from .int8_drop import layer_sqnr_record, onnx_within_drop, tflite_within_drop

FP32_PARITY_SAMPLES = 1000
FP32_TOLERANCE = 1e-4
ARTIFACTS = {
    "model.onnx": ("onnx", "fp32"),
    "model.int8.onnx": ("onnx", "int8"),
    "model.tflite": ("tflite", "fp32"),
    "model.int8.tflite": ("tflite", "int8"),
    "model.fp16.tflite": ("tflite", "fp16"),
    "model.dynamic-int8.tflite": ("tflite", "dynamic-int8"),
    "teacher.tflite": ("tflite", "fp32"),
}


def _config(ctx: BuildContext) -> dict[str, Any]:
    cfg = ctx.config
    return {"calibration_samples": cfg.calibration_samples, "calibration_method": cfg.calibration_method,
            "seed": cfg.seed, "int8_activations": ctx.target.int8_activations, "opset": ctx.target.onnx_opset,
            "dynamic_batch": cfg.onnx_dynamic_batch, "tflite_converter": cfg.tflite_converter,
            "max_int8_drop": cfg.max_int8_drop, "qat_epochs": cfg.qat_epochs,
            "reduce_range": ctx.target.int8_reduce_range}


def _run(ctx: BuildContext) -> dict[str, Any]:
    import torch

    from ..export.onnx import export_onnx
    from ..export.quantize import quantize_onnx_int8
    from ..export.tflite import quantize_tflite_weights

    data = common.data(ctx)
    student, teacher = common.student(ctx), common.teacher(ctx)
    example = torch.from_numpy(data.x_test[:1].copy())
    calibration = data.calibration(ctx.config.calibration_samples, seed=ctx.config.seed)

    def quantize(path: Path, keep_float: Sequence[str] = ()) -> None:
        quantize_onnx_int8(ctx.path("model.onnx"), path, calibration, activations=ctx.target.int8_activations,
                           method=ctx.config.calibration_method, keep_float=keep_float,
                           reduce_range=ctx.target.int8_reduce_range)

    steps = [
        ("model.onnx", lambda p: export_onnx(student, example, p, opset=ctx.target.onnx_opset,
                                             dynamic_batch=ctx.config.onnx_dynamic_batch)),
        ("model.int8.onnx", quantize),
        ("model.tflite", lambda p: _tflite(ctx, student, example, p)),
        ("model.int8.tflite", lambda p: _tflite(ctx, student, example, p, calibration)),
        ("model.fp16.tflite", lambda p: quantize_tflite_weights(ctx.path("model.tflite"), p, "fp16")),
        ("model.dynamic-int8.tflite", lambda p: quantize_tflite_weights(ctx.path("model.tflite"), p, "dynamic-int8")),
        ("teacher.tflite", lambda p: _tflite(ctx, teacher, example, p)),
    ]
    with ctx.progress.task("export", total=len(steps)) as task:
        for name, export in steps:
            export(ctx.path(name))
            task.advance(1, artifact=name)
    fallback = tflite_drop = None
    if ctx.config.max_int8_drop is not None:
        fallback = onnx_within_drop(ctx, quantize)
        tflite_drop = tflite_within_drop(ctx, student, example)
    _embed_metadata(ctx)

    entries = check_artifacts(ctx)
    entries["model.int8.onnx"]["layer_sqnr"] = layer_sqnr_record(ctx)
    if fallback is not None:
        entries["model.int8.onnx"]["fallback"] = fallback
        entries["model.int8.tflite"]["int8_drop"] = tflite_drop
    for name, entry in entries.items():
        entry["converter"] = ctx.cache.pop(f"converter:{name}", None) or _CONVERTERS.get(name)
        ctx.report["artifacts"].setdefault(name, {}).update(entry)
    return {name: entry["parity"] for name, entry in entries.items()}


_CONVERTERS = {
    "model.onnx": "torch.onnx (TorchScript exporter)",
    "model.int8.onnx": "ONNX Runtime quantize_static (QDQ, per-channel weights)",
    "model.fp16.tflite": "ai-edge-quantizer (fp16 weights) on model.tflite",
    "model.dynamic-int8.tflite": "ai-edge-quantizer (dynamic-range int8) on model.tflite",
}


def _tflite(ctx: BuildContext, model: Any, example: Any, path: Path, calibration: Any = None) -> None:
    """fp32 (or, with calibration, full int8) TFLite by the configured converter; records which one made it."""
    from ..export import onnx2tf_path
    from ..export.tflite import export_tflite_fp32, export_tflite_int8, litert_version

    choice, failure = ctx.config.tflite_converter, None
    if choice != "onnx2tf":
        try:
            if calibration is None:
                export_tflite_fp32(model, example, path)
            else:
                export_tflite_int8(model, example, path, calibration)
            ctx.cache[f"converter:{path.name}"] = litert_version()
            return
        except StageError as exc:
            if choice == "litert-torch":
                raise
            if not onnx2tf_path.available():
                raise StageError(f"{exc.message}; the onnx2tf fallback is not installed "
                                 f"({onnx2tf_path.INSTALL_HINT})") from exc
            failure = exc.message
    onnx2tf_path.export_tflite_via_onnx(model, example, path, calibration)
    ctx.cache[f"converter:{path.name}"] = onnx2tf_path.version() + (
        f", used because litert-torch failed: {failure}" if failure else "")


def build_digest(ctx: BuildContext) -> str:
    """sha256 of the build config and of the weights and plan the artifacts are exported from."""
    import hashlib
    import json

    from ..fileio import sha256_file

    sources = {name: sha256_file(ctx.path(name)) for name in ("teacher.safetensors", "plan.json", "student.safetensors")}
    text = json.dumps({"config": ctx.config.to_dict(), "target": ctx.target.name, "sources": sources}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _normalization(data: Any) -> dict[str, Any]:
    if not data.mean:
        return {"note": "none recorded: the model takes inputs exactly as the data set gives them"}
    raw = "value / 16" if data.name == "digits" else "pixel / 255"
    return {"mean": list(data.mean), "std": list(data.std),
            "note": f"x = ({raw} - mean) / std per channel, in float32, before any int8 input quantization"}


def _embed_metadata(ctx: BuildContext) -> None:
    """Write edgeprune's metadata (I/O, normalisation, labels, version, build digest) into every artifact."""
    from .. import __version__
    from ..export.metadata import describe, embed

    data = common.data(ctx)
    digest = build_digest(ctx)
    for name in ARTIFACTS:
        document = describe(ctx.path(name), version=__version__, build_digest=digest, sample_shape=data.input_shape,
                            normalization=_normalization(data), labels=data.class_names)
        embed(ctx.path(name), document)


def _compressed_size(path: Path) -> int:
    import zlib

    return len(zlib.compress(path.read_bytes(), 9))


def check_artifacts(ctx: BuildContext) -> dict[str, dict[str, Any]]:
    """Parity of every artifact against its torch model on real test samples, plus size and op inventory.

    Used at the end of export and by `edgeprune verify`. StageError if an fp32 artifact differs from torch
    by more than FP32_TOLERANCE.
    """
    from ..distill.trainer import predict_logits
    from ..export.ops import inventory
    from ..export.parity import fp32_parity, int8_parity
    from ..export.runtime import run_onnx, run_tflite

    data = common.data(ctx)
    x_fp32, x_all, y_all = data.x_test[:FP32_PARITY_SAMPLES], data.x_test, data.y_test
    reference = {"student": predict_logits(common.student(ctx), x_all),
                 "teacher": predict_logits(common.teacher(ctx), x_all)}
    runners = {"onnx": run_onnx, "tflite": run_tflite}
    entries: dict[str, dict[str, Any]] = {}
    with ctx.progress.task("parity", total=len(ARTIFACTS)) as task:
        for name, (fmt, precision) in ARTIFACTS.items():
            of = "teacher" if name.startswith("teacher") else "student"
            if precision == "fp32":
                parity = fp32_parity(reference[of][: len(x_fp32)], runners[fmt](ctx.path(name), x_fp32))
                if parity["max_abs_diff"] > FP32_TOLERANCE:
                    raise StageError(f"{name}: fp32 output differs from torch by {parity['max_abs_diff']:.2e} "
                                     f"(> {FP32_TOLERANCE:g}) on real test samples")
            elif fmt == "onnx":
                parity = _onnx_quantised_parity(ctx.path(name), reference[of], x_all, y_all)
            else:
                parity = int8_parity(reference[of], runners[fmt](ctx.path(name), x_all), y_all)
            entry = {"format": fmt, "precision": precision, "of": of,
                     "size": metric(ctx.path(name).stat().st_size, "bytes", "measured", on="file size"),
                     "compressed_size": metric(_compressed_size(ctx.path(name)), "bytes", "measured",
                                               on="zlib level 9 of the file (what a download or OTA update moves; "
                                                  "unstructured zeros shrink it, the file itself stays dense)"),
                     "parity": parity, "ops": inventory(ctx.path(name), int8=precision == "int8")}
            if precision != "fp32":
                entry["accuracy"] = common.accuracy_metric(parity["accuracy"], len(y_all), f"{fmt} runtime, {precision}")
            entries[name] = entry
            task.advance(1)
    return entries

def _onnx_quantised_parity(path: Path, reference: Any, x: Any, y: Any) -> dict[str, Any]:
    """Parity of a QDQ model as written (the device's view), plus what this machine's fused kernels give."""
    import platform

    from ..export.parity import int8_parity
    from ..export.runtime import run_onnx

    parity = int8_parity(reference, run_onnx(path, x, exact=True), y)
    host = int8_parity(reference, run_onnx(path, x), y)
    parity["evaluation"] = "ONNX Runtime with graph optimisations off: the QDQ graph as written"
    parity["host_kernels"] = {"top1_agreement": host["top1_agreement"], "accuracy": host["accuracy"],
                              "on": f"ONNX Runtime's fused int8 kernels on this machine ({platform.machine()})"}
    return parity


EXPORT = Stage(name="export", inputs=("student.safetensors", "plan.json", "teacher.safetensors"),
               outputs=tuple(ARTIFACTS), config=_config, run=_run)
