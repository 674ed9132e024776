"""Stage 'bench': latency and memory of every artifact, each in a fresh process, on the device over SSH when
a host is given (--host or the profile's [ssh] host), else on this machine.

Figures are labelled with where they were measured ("device NAME (...)" or "host ...") with runtime,
threads, warm-up and runs: host figures are never presented as the target's own numbers.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ..bench.fleet import Device, device_for
from ..fileio import write_json_atomic
from ..manifest import metric
from ..pipeline import BuildContext, Stage
from . import common
from .export import ARTIFACTS

BENCH_INPUT_SAMPLES = 64


def device(ctx: BuildContext) -> Device | None:
    """The device to measure on, or None for this machine."""
    host = ctx.config.host or ctx.target.ssh.host
    return device_for(host, ctx.target, python=ctx.config.remote_python) if host else None


def check_device(ctx: BuildContext) -> None:
    """Before any training: the device is reachable, its host key known and its Python present (one short
    session that creates and removes its temp dir). Skipped when the bench stage has already run."""
    from ..bench.remote import DeviceSession
    from ..bench.ssh import resolve_host

    dev = device(ctx)
    if dev is None or ctx.path("bench.json").exists():
        return
    spec = resolve_host(dev.host, trust_new_host=ctx.config.trust_new_host)
    with DeviceSession(spec, python=dev.python, work_dir=dev.work_dir):
        pass


def host_threads(ctx: BuildContext) -> int:
    """--threads if given, else the profile's threads (on this machine capped at its cores)."""
    if ctx.config.threads:
        return ctx.config.threads
    if device(ctx):
        return ctx.target.threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(ctx.target.threads, cores)


def _config(ctx: BuildContext) -> dict[str, Any]:
    cfg = ctx.config
    return {"threads": host_threads(ctx), "runs": cfg.bench_runs, "warmup": cfg.bench_warmup,
            "rounds": cfg.bench_rounds, "min_seconds": cfg.bench_min_seconds, "target": {k: v for k, v in ctx.target.to_dict().items() if k != "source"},
            "where": dataclasses.asdict(dev) if (dev := device(ctx)) else "host"}


def _run(ctx: BuildContext) -> dict[str, Any]:
    from ..bench.fleet import bench_on_device
    from ..bench.local import bench_interleaved

    cfg = ctx.config
    threads = host_threads(ctx)
    dev = device(ctx)
    inputs = common.data(ctx).x_test[:BENCH_INPUT_SAMPLES]
    options = dict(rounds=cfg.bench_rounds, threads=threads, warmup=cfg.bench_warmup, runs=cfg.bench_runs,
                   min_seconds=cfg.bench_min_seconds, inputs=inputs)
    where = f"on {dev.name} " if dev else ""
    with ctx.progress.task(f"bench {where}({threads} threads, {cfg.bench_rounds} rounds)",
                           total=cfg.bench_rounds * len(ARTIFACTS)) as task:
        def advance(path: Path, result: dict[str, Any]) -> None:
            task.advance(1, artifact=path.name, p50_ms=result["summary"]["p50"])

        paths = [ctx.path(name) for name in ARTIFACTS]
        if dev:
            results = bench_on_device(dev, paths, trust_new_host=cfg.trust_new_host, on_result=advance, **options)
        else:
            results = bench_interleaved(paths, on_result=advance, **options)
    raw = {path.name: result for path, result in results.items()}
    for name, result in raw.items():
        ctx.report["artifacts"].setdefault(name, {})["bench"] = _summarise(result, threads, ctx)
    write_json_atomic(ctx.path("bench.json"), raw)
    return {name: r["summary"] for name, r in raw.items()}


def _energy(name: str, result: dict[str, Any], threads: int, ctx: BuildContext) -> list[dict[str, Any]]:
    """Energy proxies of one benchmarked artifact (edgeprune.bench.energy): host p50 x the target's watts,
    op count of the model it was made from (teacher.tflite: the teacher; others: the student), RAPL if read."""
    import numpy as np

    from ..bench.energy import energy_estimates

    owner = ctx.report.get("models", {}).get("teacher" if name.startswith("teacher") else "student") or {}
    macs = (owner.get("macs") or {}).get("value")
    input_bytes = sum(int(np.prod(spec["shape"])) * np.dtype(spec["dtype"]).itemsize
                      for spec in result.get("input_specs", []))
    where = result["where"]
    return energy_estimates(
        profile=ctx.target, threads=threads, latency_ms=result["summary"]["p50"],
        latency_from=(f"latency is the p50 measured on {where}, not on {ctx.target.name}"
                      if ctx.target.name != "host" and "host" not in result
                      else f"latency is the p50 measured on {where}"),
        macs=macs, dtype="int8" if ".int8." in name else "fp32",
        bytes_moved=result["size_bytes"] + input_bytes,
        bytes_note=f"artifact file {result['size_bytes']:,} B (weights proxy) + input tensor {input_bytes:,} B; "
                   "intermediate activations not counted",
        runner_result=result,
    )


def _summarise(result: dict[str, Any], threads: int, ctx: BuildContext) -> dict[str, Any]:
    """The artifact's bench record; also puts its energy proxies in report["artifacts"][NAME]["energy"]."""
    name = os.path.basename(result["artifact"])
    on_device = "host" in result  # set by the SSH runner
    ctx.report["artifacts"].setdefault(name, {})["energy"] = _energy(name, result, threads, ctx)
    provenance = {
        "source": "measured", "where": result["where"], "runtime": f"{result['runtime']} {result['runtime_version']}",
        "threads": threads, "warmup": result["warmup"], "runs": len(result["samples_ms"]),
        "rounds": result["rounds"], "round_p50_ms": result["round_p50_ms"],
        "inputs": f"{BENCH_INPUT_SAMPLES} real test samples, cycled",
        "note": f"measured on this host, not on {ctx.target.name}" if ctx.target.name != "host" and not on_device
                else "",
    }
    if on_device:
        provenance["throttled"] = result["throttled"]
        provenance["throttle_reasons"] = result["throttle_reasons"]
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
