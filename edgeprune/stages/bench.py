"""Stage 'bench': latency and memory of every artifact on this machine, each in a fresh process.

Figures are labelled "measured on host ..." with runtime, threads, warm-up and runs: they are never
presented as the target's own numbers.
"""
from __future__ import annotations

import os
from typing import Any

from ..fileio import write_json_atomic
from ..manifest import metric
from ..pipeline import BuildContext, Stage
from . import common
from .export import ARTIFACTS

BENCH_INPUT_SAMPLES = 64


def host_threads(ctx: BuildContext) -> int:
    """--threads if given, else the profile's threads capped at this machine's cores (recorded as such)."""
    if ctx.config.threads:
        return ctx.config.threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(ctx.target.threads, cores)


def _config(ctx: BuildContext) -> dict[str, Any]:
    cfg = ctx.config
    return {"threads": host_threads(ctx), "runs": cfg.bench_runs, "warmup": cfg.bench_warmup,
            "rounds": cfg.bench_rounds, "min_seconds": cfg.bench_min_seconds, "where": "host"}


def _run(ctx: BuildContext) -> dict[str, Any]:
    from ..bench.local import bench_interleaved

    cfg = ctx.config
    threads = host_threads(ctx)
    inputs = common.data(ctx).x_test[:BENCH_INPUT_SAMPLES]
    with ctx.progress.task(f"bench ({threads} threads, {cfg.bench_rounds} rounds)",
                           total=cfg.bench_rounds * len(ARTIFACTS)) as task:
        results = bench_interleaved(
            [ctx.path(name) for name in ARTIFACTS], rounds=cfg.bench_rounds, threads=threads,
            warmup=cfg.bench_warmup, runs=cfg.bench_runs, min_seconds=cfg.bench_min_seconds, inputs=inputs,
            on_result=lambda path, r: task.advance(1, artifact=path.name, p50_ms=r["summary"]["p50"]),
        )
    raw = {path.name: result for path, result in results.items()}
    for name, result in raw.items():
        ctx.report["artifacts"].setdefault(name, {})["bench"] = _summarise(result, threads, ctx)
    write_json_atomic(ctx.path("bench.json"), raw)
    return {name: r["summary"] for name, r in raw.items()}


def _summarise(result: dict[str, Any], threads: int, ctx: BuildContext) -> dict[str, Any]:
    provenance = {
        "source": "measured", "where": result["where"], "runtime": f"{result['runtime']} {result['runtime_version']}",
        "threads": threads, "warmup": result["warmup"], "runs": len(result["samples_ms"]),
        "rounds": result["rounds"], "round_p50_ms": result["round_p50_ms"],
        "inputs": f"{BENCH_INPUT_SAMPLES} real test samples, cycled",
        "note": f"measured on this host, not on {ctx.target.name}" if ctx.target.name != "host" else "",
    }
    summary = result["summary"]
    return {
        "latency_ms": {**{k: summary[k] for k in ("p50", "p90", "p95", "p99", "mean", "std", "min", "max",
                                                   "p50_ci", "p95_ci")}, "unit": "ms", **provenance},
        "startup_ms": metric(result["startup_ms"], "ms", **provenance),
        "first_inference_ms": metric(result["first_ms"], "ms", **provenance),
        "peak_rss_mb": metric(result["peak_rss_mb"], "MB", **provenance),
        "rss_growth_mb": metric(result["rss_growth_mb"], "MB", **provenance),
        "samples": "bench.json",
    }


BENCH = Stage(name="bench", inputs=tuple(ARTIFACTS), outputs=("bench.json",), config=_config, run=_run)
