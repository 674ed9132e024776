"""The headline of a build (what the gate reads) and the comparison rows every renderer shows."""
from __future__ import annotations

from typing import Any

PRIMARY_ARTIFACT = {"tflite": "model.int8.tflite", "onnxruntime": "model.int8.onnx"}
BASELINE_ARTIFACT = "teacher.tflite"


def _value(entry: dict[str, Any] | None, *keys: str) -> Any:
    for key in keys:
        if not isinstance(entry, dict) or key not in entry:
            return None
        entry = entry[key]
    return entry.get("value") if isinstance(entry, dict) and "value" in entry else entry


def build_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The deployable artifact's figures, each traceable to its record in `artifacts`."""
    name = PRIMARY_ARTIFACT[report["target"]["runtime"]]
    artifact = report["artifacts"].get(name, {})
    bench = artifact.get("bench", {})
    latency = bench.get("latency_ms", {})
    teacher_acc = _value(report["models"].get("teacher"), "accuracy")
    accuracy = _value(artifact, "accuracy")
    baseline_p50 = _value(report["artifacts"].get(BASELINE_ARTIFACT), "bench", "latency_ms", "p50")
    summary: dict[str, Any] = {
        "artifact": name,
        "target": report["target"]["name"],
        "accuracy": accuracy,
        "teacher_accuracy": teacher_acc,
        "accuracy_change_points": None if accuracy is None or teacher_acc is None
        else round(100 * (accuracy - teacher_acc), 3),
        "latency_ms": {k: latency.get(k) for k in ("p50", "p95", "p99", "p95_ci", "source", "where", "runtime", "threads", "runs")},
        "peak_rss_mb": _value(bench, "peak_rss_mb"),
        "size_kb": None if _value(artifact, "size") is None else round(_value(artifact, "size") / 1024, 2),
        "speedup_vs_teacher_tflite_fp32": None if not baseline_p50 or not latency.get("p50")
        else round(baseline_p50 / latency["p50"], 3),
    }
    return summary


def comparison_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model/artifact: accuracy, params, MACs, size, latency (None where not applicable)."""
    models, artifacts = report.get("models", {}), report.get("artifacts", {})
    rows = []
    for key, label in (("teacher", "teacher (torch fp32)"), ("pruned", "pruned, before distillation (torch fp32)"),
                       ("student", "student (torch fp32)")):
        if key in models:
            rows.append({"name": label, "accuracy": _value(models[key], "accuracy"),
                         "params": _value(models[key], "params"), "macs": _value(models[key], "macs"),
                         "size_kb": None, "p50_ms": None, "p95_ms": None, "peak_rss_mb": None})
    for name, entry in artifacts.items():
        owner = models.get(entry.get("of", "student"), {})
        latency = entry.get("bench", {}).get("latency_ms", {})
        size = _value(entry, "size")
        rows.append({"name": name, "accuracy": _value(entry, "accuracy"),
                     "params": _value(owner, "params"), "macs": _value(owner, "macs"),
                     "size_kb": None if size is None else size / 1024, "p50_ms": latency.get("p50"),
                     "p95_ms": latency.get("p95"), "peak_rss_mb": _value(entry, "bench", "peak_rss_mb")})
    return rows


ENERGY_COLUMNS = ("artifact", "method", "mJ per inference", "estimated / measured", "basis", "reference")


def energy_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per energy figure of every artifact (artifacts.NAME.energy: a list of {method, mj_per_inference,
    source, basis, reference}); empty when no artifact has one."""
    rows = []
    for name, entry in (report.get("artifacts") or {}).items():
        figures = (entry or {}).get("energy") if isinstance(entry, dict) else None
        for figure in figures if isinstance(figures, list) else []:
            if isinstance(figure, dict):
                rows.append({"artifact": name, "method": figure.get("method"),
                             "mj_per_inference": _value(figure, "mj_per_inference"), "source": figure.get("source"),
                             "basis": figure.get("basis"), "reference": figure.get("reference")})
    return rows
