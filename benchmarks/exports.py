"""Every artifact of a build: size, op types, parity figures and host latency at 1 and 2 threads.

    .venv/bin/python benchmarks/exports.py [BUILD_DIR] [--rounds 3]

Parity and ops come from the build's report.json (computed at the end of export, re-checkable with
`edgeprune verify`). Latency is measured here: all artifacts interleaved in `--rounds` rounds per thread
count, a fresh process each, on random normal inputs of the right shape (the build's own bench stage uses real
test samples); p50 with its 95% two-level bootstrap interval. ONNX artifacts run in ONNX Runtime, TFLite ones
in ai-edge-litert (XNNPACK). These are host figures, not the target's.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeprune.bench.local import bench_interleaved  # noqa: E402
from edgeprune.stages.export import ARTIFACTS  # noqa: E402
from edgeprune.targets import host_profile  # noqa: E402


def parity_text(entry: dict) -> str:
    parity = entry.get("parity") or {}
    if "max_abs_diff" in parity:
        return f"max abs {parity['max_abs_diff']:.1e}, max rel {parity['max_rel_diff']:.1e} ({parity['samples']} samples)"
    if "top1_agreement" in parity:
        return (f"top-1 agreement {100 * parity['top1_agreement']:.2f} %, accuracy {100 * parity['accuracy']:.2f} % "
                f"(torch {100 * parity['reference_accuracy']:.2f} %), max logit err {parity['max_abs_logit_error']:.2f}"
                + (f"; this host's fused kernels: agreement {100 * parity['host_kernels']['top1_agreement']:.2f} %"
                   if "host_kernels" in parity else ""))
    return "not recorded"


def ops_text(entry: dict) -> str:
    ops = entry.get("ops") or {}
    flags = (["float ops: " + ", ".join(ops["float_ops"])] if ops.get("float_ops") else []) + ops.get("runtime_issues", [])
    types = ", ".join(f"{k} x{v}" for k, v in (ops.get("ops") or {}).items()) or "not recorded"
    return types + (f" ({'; '.join(flags)})" if flags else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", nargs="?", type=Path, default=ROOT / "build" / "rpi4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    report = json.loads((args.build_dir / "report.json").read_text())
    paths = [args.build_dir / name for name in ARTIFACTS]
    latency = {}
    for threads in (1, 2):
        measured = bench_interleaved(paths, rounds=args.rounds, threads=threads, warmup=100, runs=args.runs,
                                     min_seconds=0.5)
        for path, result in measured.items():
            latency[(path.name, threads)] = result
    first = latency[(next(iter(ARTIFACTS)), 1)]
    print(f"Build `{args.build_dir.name}` (target {report['target']['name']}). Latency measured on "
          f"{first['where']}, {args.rounds} interleaved rounds per thread count, each >= {args.runs} runs and "
          f"0.5 s after 100 warm-up runs, random normal inputs; p50 ms [95% CI]. Python {platform.python_version()}.\n")
    print("| artifact | runtime | size | ops | parity vs torch | p50 1 thread | p50 2 threads |")
    print("|---|---|---:|---|---|---:|---:|")
    for name in ARTIFACTS:
        entry = report["artifacts"].get(name, {})
        one, two = latency[(name, 1)], latency[(name, 2)]

        def cell(r: dict) -> str:
            s = r["summary"]
            return f"{s['p50']:.4f} [{s['p50_ci'][0]:.4f}, {s['p50_ci'][1]:.4f}]"

        size = (args.build_dir / name).stat().st_size / 1024
        print(f"| `{name}` | {one['runtime']} {one['runtime_version']} | {size:.1f} KB | {ops_text(entry)} | "
              f"{parity_text(entry)} | {cell(one)} | {cell(two)} |")
    print(f"\nHost: {host_profile().cpu}, {host_profile().cores} cores.")


if __name__ == "__main__":
    main()
