"""Teacher vs pruned-only vs pruned+distilled vs int8 on the default example, side by side.

Builds (or reuses) the default build for a target, exports the pruned-only student to TFLite too, then
benchmarks every model with the same runtime (ai-edge-litert) and threads in this one command, interleaving
the artifacts over several rounds so machine noise hits them alike. Prints a Markdown table with speed-up
ratios against the fp32 teacher and writes it to benchmarks/results/compression.md.

    .venv/bin/python benchmarks/compression.py [--target rpi4] [--out build/rpi4] [--rounds 5] [--runs 300]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="rpi4")
    parser.add_argument("--out", default=None, help="build folder (default build/<target>)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "compression.md"))
    args = parser.parse_args()

    import torch

    from edgeprune.bench.local import bench_interleaved
    from edgeprune.build import build
    from edgeprune.config import load_config
    from edgeprune.export.tflite import export_tflite_fp32
    from edgeprune.progress import Progress
    from edgeprune.stages import common
    from edgeprune.stages.bench import host_threads

    overrides = {"target": args.target, "out": args.out}
    config = load_config(overrides=overrides, cwd=ROOT)
    started = time.perf_counter()
    report = build(config, Progress(enabled=True))
    build_seconds = time.perf_counter() - started
    out = config.build_dir()

    # pruned-only student in TFLite fp32 (same architecture as the distilled student, other weights)
    from edgeprune.pipeline import open_context
    from edgeprune.targets import load_target

    ctx = open_context(config, load_target(config.target), Progress(enabled=False))
    common.prepare(ctx)
    pruned = common.student(ctx, "pruned.safetensors")
    example = torch.from_numpy(common.data(ctx).x_test[:1].copy())
    export_tflite_fp32(pruned, example, out / "pruned.tflite")

    threads = args.threads or host_threads(ctx)
    rows = [
        ("teacher fp32", "teacher", "teacher.tflite"),
        ("pruned only fp32", "pruned", "pruned.tflite"),
        ("pruned + distilled fp32", "student", "model.tflite"),
        ("pruned + distilled int8", "student", "model.int8.tflite"),
    ]
    inputs = common.data(ctx).x_test[:64]
    results = bench_interleaved([out / name for _, _, name in rows], rounds=args.rounds, threads=threads,
                                warmup=100, runs=args.runs, min_seconds=0.5, inputs=inputs)
    summaries = {path.name: r["summary"] for path, r in results.items()}
    first = next(iter(results.values()))
    runtime, where = f"{first['runtime']} {first['runtime_version']}", first["where"]

    models, artifacts = report["models"], report["artifacts"]
    accuracy = {
        "teacher.tflite": models["teacher"]["accuracy"]["value"],
        "pruned.tflite": models["pruned"]["accuracy"]["value"],
        "model.tflite": models["student"]["accuracy"]["value"],
        "model.int8.tflite": artifacts["model.int8.tflite"]["accuracy"]["value"],
    }
    base = summaries["teacher.tflite"]["p50"]
    lines = [
        f"# Compression of the default example ({args.target} build)",
        "",
        f"Latency measured on {where} with {runtime}, {threads} threads, {args.rounds} interleaved rounds (a fresh "
        f"process per artifact and round; each at least {args.runs} runs and 0.5 s after 100 warm-up runs) on real "
        "test inputs; samples pooled over rounds, p50 with a 95% two-level bootstrap interval (rounds, samples). "
        f"These are host figures, not {args.target} figures. Accuracy: full Fashion-MNIST test split (10,000) - "
        "torch for fp32 models, the TFLite interpreter for int8.",
        "",
        "| model | accuracy | params | MACs | file | p50 ms [95% CI] | p95 ms | speed-up vs teacher (p50) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, key, name in rows:
        p50, p95 = summaries[name]["p50"], summaries[name]["p95"]
        lo, hi = summaries[name]["p50_ci"]
        size_kb = (out / name).stat().st_size / 1024
        lines.append(
            f"| {label} (`{name}`) | {100 * accuracy[name]:.2f} % | {models[key]['params']['value']:,} | "
            f"{models[key]['macs']['value']:,} | {size_kb:.1f} KB | {p50:.4f} [{lo:.4f}, {hi:.4f}] | {p95:.4f} | "
            f"{base / p50:.2f}x |"
        )
    build_stages = {k: v["wall_seconds"] for k, v in report["stages"].items()}
    lines += [
        "",
        f"Build wall time of this invocation: {build_seconds:.0f} s (stages: {json.dumps(build_stages)}; "
        "a skipped stage shows its original time). Machine: "
        f"{platform.machine()}, Python {platform.python_version()}.",
        "",
    ]
    table = "\n".join(lines)
    print(table)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
