"""Pruning on this CPU: params, MACs and measured latency before and after, with and without channel rounding.

    .venv/bin/python benchmarks/pruning.py [--models resnet18,mobilenet_v2,example] [--ratios 0.3,0.5,0.7]
                                           [--round-to 8] [--rounds 3] [--threads 1] [--out DIR]

For each model (torchvision ones at 3x224x224, the bundled example at 1x28x28; random weights: latency does not
depend on their values) and each ratio, the pruned model is built twice, widths rounded to --round-to and not
rounded (round_to=1), and for the zoo models once more by unstructured magnitude pruning (same architecture,
that share of conv/linear weights set to zero: dense runtimes do not skip zeros; the zlib-compressed file shrinks). Every variant is exported to ONNX fp32, ONNX int8 (ORT static QDQ, unsigned activations,
calibrated on 32 random inputs), TFLite fp32 and TFLite int8 (litert-torch PT2E), and all artifacts are measured
in the same command: interleaved rounds, a fresh process per artifact and round (edgeprune.bench.local). The
table gives p50 latency and its ratio to the unpruned model of the same format. Host figures, not a target's.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import os
import platform
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from edgeprune.bench.local import bench_interleaved  # noqa: E402
from edgeprune.export.onnx import export_onnx  # noqa: E402
from edgeprune.export.quantize import quantize_onnx_int8  # noqa: E402
from edgeprune.export.tflite import export_tflite_fp32, export_tflite_int8  # noqa: E402
from edgeprune.pruning import layer_widths, prune  # noqa: E402
from edgeprune.pruning.groups import output_layers  # noqa: E402
from edgeprune.pruning.sparsity import prune_unstructured  # noqa: E402
from edgeprune.targets import host_profile  # noqa: E402
from tests.prune_checks import counts  # noqa: E402

FORMATS = ("model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite")


def build_model(name: str) -> tuple[torch.nn.Module, tuple[int, ...]]:
    torch.manual_seed(0)
    if name == "example":
        from edgeprune.models.example import example_net

        return example_net(1, 10).eval(), (1, 28, 28)
    import torchvision

    return getattr(torchvision.models, name)(weights=None, num_classes=1000).eval(), (3, 224, 224)


def export_all(model: torch.nn.Module, shape: tuple[int, ...], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    example = torch.zeros((1, *shape))
    calibration = np.random.default_rng(0).standard_normal((32, *shape)).astype(np.float32)
    export_onnx(model, example, folder / "model.onnx", opset=17)
    quantize_onnx_int8(folder / "model.onnx", folder / "model.int8.onnx", calibration)
    export_tflite_fp32(model, example, folder / "model.tflite")
    export_tflite_int8(model, example, folder / "model.int8.tflite", calibration[:16])


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """The converters print from C++ ("Relu partition has ..."): keep stdout for the table."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def odd_widths(model: torch.nn.Module, multiple: int) -> int:
    return sum(1 for width in layer_widths(model).values() if width % multiple)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18,mobilenet_v2,example")
    parser.add_argument("--ratios", default="0.3,0.5,0.7")
    parser.add_argument("--round-to", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=None, help="keep the artifacts here (default: a temp dir)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out or Path(tempfile.mkdtemp(prefix="edgeprune-pruning-"))
    ratios = [float(r) for r in args.ratios.split(",")]
    rows = []  # (model, ratio, round_to, macs, params, odd widths, folder)
    for name in args.models.split(","):
        model, shape = build_model(name)
        macs, params = counts(model, torch.zeros((1, *shape)))
        variants = [(0.0, "unpruned", model)]
        for ratio in ratios:
            for round_to in (args.round_to, 1):
                pruned = prune(model, torch.zeros((1, *shape)), ratio=ratio, round_to=round_to).model
                if round_to == 1 and layer_widths(pruned) == layer_widths(variants[-1][2]):
                    continue  # rounding changed nothing at this ratio
                variants.append((ratio, f"rounded to {round_to}" if round_to > 1 else "not rounded", pruned))
            if name != "example":
                zeroed = copy.deepcopy(model)
                prune_unstructured(zeroed, ratio, keep=sorted(output_layers(zeroed, torch.zeros((1, *shape)))))
                variants.append((ratio, "unstructured", zeroed))
        for ratio, kind, variant in variants:
            folder = out / f"{name}-{ratio}-{kind.replace(' ', '-')}"
            print(f"exporting {folder.name}", file=sys.stderr, flush=True)
            with stdout_to_stderr():
                export_all(variant, shape, folder)
            macs_v, params_v = counts(variant, torch.zeros((1, *shape)))
            if kind == "unstructured":
                params_v = sum(int((p != 0).sum()) for p in variant.parameters())
            rows.append((name, ratio, kind, macs_v, params_v, odd_widths(variant, args.round_to), folder))
    paths = [row[-1] / fmt for row in rows for fmt in FORMATS]
    measured = bench_interleaved(paths, rounds=args.rounds, threads=args.threads, warmup=10, runs=args.runs,
                                 min_seconds=0.3)
    first = next(iter(measured.values()))
    print(f"Pruned models measured on {first['where']} ({host_profile().cpu}, {host_profile().cores} cores), "
          f"{args.threads} thread(s), {args.rounds} interleaved rounds (a fresh process per artifact and round, each "
          f">= {args.runs} runs and 0.3 s after 10 warm-up runs), random normal inputs; p50 ms, and in brackets the "
          f"ratio to the unpruned model of the same format (lower is faster). Random weights; int8 calibrated on 32 "
          f"random inputs (latency only). 'odd widths': conv/linear layers whose width is not a multiple of "
          f"{args.round_to}. Python {platform.python_version()}, torch {torch.__version__}.\n")
    header = " | ".join(f"{fmt} p50 ms" for fmt in FORMATS)
    print(f"| model | ratio | pruning | params (non-zero) | MACs | odd widths | model.tflite KB / zlib KB | {header} |")
    print("|---|---:|---|---:|---:|---:|---:|" + "---:|" * len(FORMATS))
    base: dict[tuple[str, str], float] = {}
    for name, ratio, kind, macs, params, odd, folder in rows:
        cells = []
        for fmt in FORMATS:
            p50 = measured[folder / fmt]["summary"]["p50"]
            if ratio == 0.0:
                base[(name, fmt)] = p50
            cells.append(f"{p50:.3f} ({p50 / base[(name, fmt)]:.2f}x)")
        tflite = (folder / "model.tflite").read_bytes()
        size = f"{len(tflite) / 1024:,.0f} / {len(zlib.compress(tflite, 9)) / 1024:,.0f}"
        print(f"| {name} | {ratio:.1f} | {kind} | {params:,} | {macs:,} | {odd} | {size} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
