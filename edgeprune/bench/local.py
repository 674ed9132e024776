"""Benchmark artifacts on this machine.

`bench_local` runs ``device_runner.py`` (the same script that is copied to devices) in a fresh
subprocess of the current interpreter, so the peak RSS it reports belongs to that one artifact.
`bench_cycled` times many artifacts taking turns, one process per runtime.
`measure_overhead` compares, in one process, a bare timing loop with the harness's per-sample loop.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgeprune.bench.stats import summarize
from edgeprune.errors import StageError

RUNNER_PATH = Path(__file__).with_name("device_runner.py")


def runner_options(*, threads: int, warmup: int, runs: int, min_seconds: float, inputs: str | None,
                   warmup_seconds: float = 0.0, cpus: tuple[int, ...] | None = None) -> list[str]:
    """device_runner.py's options (shared by the local and the SSH runner)."""
    options = ["--threads", str(threads), "--warmup", str(warmup), "--runs", str(runs),
               "--min-seconds", repr(float(min_seconds)), "--warmup-seconds", repr(float(warmup_seconds))]
    if cpus:
        options += ["--cpus", ",".join(str(int(c)) for c in cpus)]
    return options + ["--inputs", inputs] if inputs is not None else options


def runner_payload(stdout: str) -> dict | None:
    """The runner's JSON object: the last non-empty line of its stdout (None if there is none)."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    try:
        payload = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def _parse_runner_output(artifact: Path, proc: subprocess.CompletedProcess) -> dict:
    """The runner's JSON dict, or StageError with its one-line error (or the last stderr line)."""
    payload = runner_payload(proc.stdout or "")
    if payload is not None and "error" in payload:
        raise StageError(f"benchmark of {artifact} failed: {payload['error']}")
    if proc.returncode != 0 or payload is None:
        err = [ln for ln in (proc.stderr or "").splitlines() if ln.strip()]
        last = err[-1].strip() if err else f"no JSON output (exit code {proc.returncode})"
        raise StageError(f"benchmark of {artifact} failed (runner exit code {proc.returncode}): {last}")
    return payload


def bench_local(artifact: Path, *, threads: int, warmup: int, runs: int, min_seconds: float = 0.0,
                warmup_seconds: float = 0.0, cpus: tuple[int, ...] | None = None, inputs: np.ndarray | None = None,
                progress: Callable[[str], None] | None = None, timeout: float | None = None) -> dict:
    """Measure one artifact on this host in a fresh subprocess.

    Returns the runner's dict (see device_runner.py) plus ``summary`` (stats.summarize of the samples),
    ``source: "measured"`` and ``where: "host <hostname> (<cpu model>)"``. Raises StageError with the
    runner's one-line error on failure (missing file, missing runtime, invalid model, timeout).
    """
    artifact = Path(artifact)
    if not artifact.is_file():
        raise StageError(f"benchmark of {artifact} failed: artifact not found: {artifact}")
    if threads < 1 or runs < 1 or warmup < 0 or min_seconds < 0:
        raise StageError(f"benchmark of {artifact}: need threads >= 1, runs >= 1, warmup >= 0, min_seconds >= 0")
    if progress:
        progress(f"benchmarking {artifact.name}: {threads} thread(s), {warmup} warm-up, {runs} runs")
    with tempfile.TemporaryDirectory(prefix="edgeprune-bench-") as tmp:
        inputs_path = None
        if inputs is not None:
            arr = np.ascontiguousarray(np.asarray(inputs, dtype=np.float32))
            if arr.ndim < 2 or arr.shape[0] == 0:
                raise StageError(f"benchmark of {artifact}: inputs must be N x C x H x W, got shape {arr.shape}")
            inputs_path = Path(tmp) / "inputs.npy"
            np.save(inputs_path, arr)
        argv = [sys.executable, str(RUNNER_PATH), str(artifact),
                *runner_options(threads=threads, warmup=warmup, runs=runs, min_seconds=min_seconds,
                                warmup_seconds=warmup_seconds, cpus=cpus,
                                inputs=str(inputs_path) if inputs_path else None)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise StageError(f"benchmark of {artifact} timed out after {timeout} s") from None
        except OSError as exc:
            raise StageError(f"benchmark of {artifact}: cannot start {sys.executable}: {exc}") from exc
    result = _parse_runner_output(artifact, proc)
    samples = result.get("samples_ms") or []
    if not samples:
        raise StageError(f"benchmark of {artifact} returned no samples")
    result["summary"] = summarize(samples)
    result["source"] = "measured"
    dev = result.get("device", {})
    result["where"] = f"host {dev.get('hostname', 'unknown')} ({dev.get('cpu_model', 'unknown CPU')})"
    if progress:
        s = result["summary"]
        progress(f"{artifact.name}: p50 {s['p50']:.3f} ms, p95 {s['p95']:.3f} ms, peak RSS {result['peak_rss_mb']:.1f} MB")
    return result


def cycled_per_runtime(artifacts: list[Path], seconds: float,
                       cycle: Callable[[list[Path], float], dict[Path, dict]]) -> dict[Path, dict]:
    """`cycle(group, seconds)` once per runtime (file suffix), the runtimes sharing `seconds`; results in the
    artifacts' order. Each runtime gets a process of its own: on an Intel Xeon with AMX, ONNX Runtime int8 sessions in
    the same process made TFLite int8 models run 1.4-2.3x as long as without them, by a different factor per model
    (ONNX Runtime fp32 sessions or 200 more TFLite models: under 10 %; round 19 of
    benchmarks/results/latency_predictor.md). Artifacts are compared within a runtime only."""
    groups: dict[str, list[Path]] = {}
    for artifact in artifacts:
        groups.setdefault(artifact.suffix, []).append(artifact)
    results: dict[Path, dict] = {}
    for group in groups.values():
        results.update(cycle(group, seconds / len(groups)))
    return {artifact: results[artifact] for artifact in artifacts}


def cycle_options(*, threads: int, warmup: int, chunk: int, seconds: float, min_chunks: int,
                  cpus: tuple[int, ...] | None = None) -> list[str]:
    """device_runner.py's options for timing several artifacts in turns (local and SSH)."""
    options = ["--cycle-seconds", repr(float(seconds)), "--chunk", str(chunk), "--min-chunks", str(min_chunks),
               "--threads", str(threads), "--warmup", str(warmup)]
    return options + ["--cpus", ",".join(str(int(c)) for c in cpus)] if cpus else options


def cycled_results(artifacts: list[Path], payload: dict, where: str) -> dict[Path, dict]:
    """Per artifact, the runner's turn medians with their median (`p50_ms`) and 10th percentile (`p10_ms`)."""
    results = {}
    for artifact, entry in zip(artifacts, payload["cycled"]):
        medians = entry["chunk_p50_ms"]
        results[Path(artifact)] = {
            **entry, "artifact": str(artifact), "where": where, "source": "measured", "threads": payload["threads"],
            "chunk": payload["chunk"], "turns": len(medians), "timed_seconds": payload["timed_seconds"],
            "pid": payload.get("pid"), "p50_ms": float(np.median(medians)), "p10_ms": float(np.percentile(medians, 10))}
    return results


def bench_cycled(artifacts: list[Path], *, threads: int, seconds: float, chunk: int = 15, min_chunks: int = 30,
                 warmup: int = 10, cpus: tuple[int, ...] | None = None) -> dict[Path, dict]:
    """Time many artifacts on this machine, taking turns (see device_runner.cycle), each runtime's in one process
    (`cycled_per_runtime`): for comparing artifacts with each other on a machine whose speed drifts, e.g. a latency
    model's calibration."""
    artifacts = [Path(a) for a in artifacts]
    missing = [a for a in artifacts if not a.is_file()]
    if missing:
        raise StageError(f"benchmark of {missing[0]} failed: artifact not found: {missing[0]}")

    def cycle(group: list[Path], share: float) -> dict[Path, dict]:
        argv = [sys.executable, str(RUNNER_PATH), *map(str, group),
                *cycle_options(threads=threads, warmup=warmup, chunk=chunk, seconds=share, min_chunks=min_chunks,
                               cpus=cpus)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise StageError(f"benchmark of {len(group)} artifacts: cannot start {sys.executable}: {exc}") from exc
        payload = _parse_runner_output(Path(f"{len(group)} artifacts"), proc)
        dev = payload.get("device", {})
        return cycled_results(group, payload, f"host {dev.get('hostname', 'unknown')} "
                                              f"({dev.get('cpu_model', 'unknown CPU')})")

    return cycled_per_runtime(artifacts, seconds, cycle)


def bench_interleaved(artifacts: list[Path], *, rounds: int, threads: int, warmup: int, runs: int,
                      min_seconds: float = 0.0, warmup_seconds: float = 0.0, cpus: tuple[int, ...] | None = None,
                      inputs: np.ndarray | None = None,
                      on_result: Callable[[Path, dict], None] | None = None,
                      run_one: Callable[..., dict] | None = None) -> dict[Path, dict]:
    """Benchmark several artifacts in `rounds` interleaved passes, one fresh process per pass.

    On a shared machine most latency variance is between processes (core placement, frequency, other
    load), so comparing artifacts measured once each, one after the other, misleads. Samples of all
    rounds are pooled; the confidence intervals come from a two-level bootstrap over rounds and samples.
    ``run_one(artifact, threads=, warmup=, runs=, min_seconds=, warmup_seconds=, cpus=)`` measures one
    artifact once (default: `bench_local` with ``inputs``; `remote.DeviceSession.bench` for a device).
    """
    if rounds < 1:
        raise StageError(f"benchmark needs rounds >= 1, got {rounds}")
    per_round: dict[Path, list[dict]] = {Path(a): [] for a in artifacts}
    for _ in range(rounds):
        for artifact in per_round:
            protocol = dict(threads=threads, warmup=warmup, runs=runs, min_seconds=min_seconds,
                            warmup_seconds=warmup_seconds, cpus=cpus)
            if run_one is None:
                result = bench_local(artifact, inputs=inputs, **protocol)
            else:
                result = run_one(artifact, **protocol)
            per_round[artifact].append(result)
            if on_result:
                on_result(artifact, result)
    merged = {}
    for artifact, results in per_round.items():
        samples = [x for r in results for x in r["samples_ms"]]
        groups = [i for i, r in enumerate(results) for _ in r["samples_ms"]]
        merged[artifact] = {
            **results[0],
            "samples_ms": samples,
            "runs": len(samples),
            "rounds": rounds,
            "round_p50_ms": [r["summary"]["p50"] for r in results],
            "round_runs": [len(r["samples_ms"]) for r in results],
            "startup_ms": statistics.median(r["startup_ms"] for r in results),
            "first_ms": statistics.median(r["first_ms"] for r in results),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "rss_growth_mb": max(r["rss_growth_mb"] for r in results),
            "summary": summarize(samples, groups=groups),
        }
        merged[artifact]["device_after"] = results[-1].get("device_after")
        rapl = [r["rapl"] for r in results if "energy_uj" in (r.get("rapl") or {})]
        if len(rapl) == rounds:  # energy of every round summed, so it covers the same runs as the samples
            totals = ("energy_uj", "seconds", "runs", "idle_energy_uj", "idle_seconds")
            merged[artifact]["rapl"] = {**rapl[0], **{k: sum(x[k] for x in rapl) for k in totals if k in rapl[0]},
                                        "rounds": rounds}
        if any("throttled" in r for r in results):  # device runs: throttled in any round taints the pool
            merged[artifact]["throttled"] = any(r["throttled"] for r in results)
            merged[artifact]["throttle_reasons"] = sorted({x for r in results for x in r["throttle_reasons"]})
    return merged


def measure_overhead(artifact: Path, *, threads: int, runs: int, rounds: int = 5, warmup: int = 10) -> dict:
    """Harness overhead, measured in ONE process over ONE session and ONE input.

    Alternates `rounds` times: a bare loop (``for _ in range(runs): run()``, one clock pair around
    the whole loop) and the harness loop (`device_runner.timed_loop`, a clock pair around every run),
    both timed by their total wall time. ``overhead_ratio`` = harness / bare per-run wall time, from
    the fastest round of each (least disturbed by other load); ``paired_ratio_median`` is the median
    of the per-round ratios. ``overhead_pct`` = 100 * (overhead_ratio - 1).
    """
    from edgeprune.bench import device_runner as dr

    artifact = Path(artifact)
    if not artifact.is_file():
        raise StageError(f"overhead measurement of {artifact} failed: artifact not found: {artifact}")
    if runs < 1 or rounds < 1:
        raise StageError("measure_overhead needs runs >= 1 and rounds >= 1")
    try:
        model = dr.load(str(artifact), threads)
    except dr.RunnerError as exc:
        raise StageError(f"overhead measurement of {artifact} failed: {exc}") from None
    feed = model.make_feed(None, np.random.default_rng(0))
    feeds = [feed]
    if model.runtime == "onnxruntime":
        sess_run = model.handle.run

        def bare_loop() -> int:
            t0 = time.perf_counter_ns()
            for _ in range(runs):
                sess_run(None, feed)
            return time.perf_counter_ns() - t0
    else:
        run_once = model.run_once

        def bare_loop() -> int:
            t0 = time.perf_counter_ns()
            for _ in range(runs):
                run_once(feed)
            return time.perf_counter_ns() - t0

    def harness_loop() -> tuple[int, float]:
        t0 = time.perf_counter_ns()
        samples = dr.timed_loop(model.run_once, feeds, runs, 0.0)
        return time.perf_counter_ns() - t0, sum(samples)

    for _ in range(warmup):
        model.run_once(feed)
    bare_ns: list[int] = []
    harness_ns: list[int] = []
    in_sample_ms: list[float] = []
    for r in range(rounds):
        order = (bare_loop, harness_loop) if r % 2 == 0 else (harness_loop, bare_loop)
        for fn in order:
            out = fn()
            if fn is bare_loop:
                bare_ns.append(out)
            else:
                harness_ns.append(out[0])
                in_sample_ms.append(out[1])
    bare_ms = min(bare_ns) / 1e6 / runs
    harness_ms = min(harness_ns) / 1e6 / runs
    ratio = harness_ms / bare_ms
    best = harness_ns.index(min(harness_ns))
    return {
        "artifact": str(artifact),
        "runtime": f"{model.runtime} {model.version}",
        "threads": threads,
        "runs": runs,
        "rounds": rounds,
        "bare_ms_per_run": bare_ms,
        "harness_ms_per_run": harness_ms,
        "overhead_ratio": ratio,
        "overhead_pct": 100.0 * (ratio - 1.0),
        "overhead_us_per_run": (harness_ms - bare_ms) * 1000.0,
        "paired_ratio_median": statistics.median(h / b for h, b in zip(harness_ns, bare_ns)),
        # share of the harness loop's wall time that falls inside the per-sample clock pairs
        "in_sample_fraction": in_sample_ms[best] / (harness_ns[best] / 1e6),
    }
