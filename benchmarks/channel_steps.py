"""Where does latency step as a layer widens, measured against what the calibrated latency model predicts?

The budget search snaps widths to the channel tile the calibration found (`latency.budget.width_step`); this checks
that tile against the runtime itself. One layer kind (three 3x3 convs, or one 1x1 conv doubling the channels) is
exported at each width as TFLite fp32 and int8, all artifacts are timed in one process taking turns (as the
calibration times its own), and each is predicted by a calibration (default: the one stored in benchmarks/results).
Per dtype, the table gives the measured and predicted microseconds and, side by side from the same run, the ratio to
the next width that is a multiple of `--tile`: above 1 means the narrower layer is slower than the wider, aligned one.

    python benchmarks/channel_steps.py [--kind conv|pointwise] [--size 14] [--widths 32,40,...] [--tile 64]
                                       [--seconds 60] [--cpus 1] [--work DIR] [--calibration FILE]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from edgeprune.bench.local import bench_cycled
from edgeprune.latency import calibration as cal
from edgeprune.latency.costmodel import LatencyModel
from edgeprune.latency.ops import torch_ops
from edgeprune.latency.predict import predict_ops
from edgeprune.targets import load_target

KEYS = (("tflite", "fp32"), ("tflite", "int8"))
STORED = Path(__file__).parent / "results" / "host-calibration.json"  # the stored calibration of this host
WIDTHS = (32, 40, 48, 56, 64, 72, 80, 96, 104, 112, 128, 152, 160, 192, 208, 256)


def case(kind: str, width: int, size: int) -> cal.MicroCase:
    """Three stacked 3x3 convs keeping the width, or one pointwise conv doubling it."""
    if kind == "conv":
        return cal.MicroCase("conv", width, width, size, depth=3)
    return cal.MicroCase("pointwise", width, 2 * width, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("conv", "pointwise"), default="conv")
    parser.add_argument("--size", type=int, default=14, help="the feature map's side")
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="comma-separated input channels")
    parser.add_argument("--tile", type=int, default=64, help="the aligned widths the ratios compare against")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the artifacts take turns")
    parser.add_argument("--cpus", default=None, help="pin the runner, e.g. 1")
    parser.add_argument("--work", default=None, help="keep the exported artifacts here and reuse them")
    parser.add_argument("--calibration", default=None,
                        help=f"calibration JSON (default: {STORED.name} in benchmarks/results)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    profile = load_target("host")
    widths = sorted({int(w) for w in args.widths.split(",")})
    cases = {w: case(args.kind, w, args.size) for w in widths}
    document = cal.load(Path(args.calibration or STORED))
    models = {key: LatencyModel.from_json(document["models"][f"{key[0]}-{key[1]}"]) for key in KEYS}
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = cal.export_cases(list(cases.values()), Path(args.work or tmp), profile, KEYS,
                                     lambda line: print(line, flush=True))
        cpus = tuple(int(c) for c in args.cpus.split(",")) if args.cpus else None
        timed = bench_cycled(list(artifacts), threads=1, seconds=args.seconds, cpus=cpus)
    measured = {(artifacts[path][0].in_channels, artifacts[path][1]): result["p50_ms"] * 1e3
                for path, result in timed.items()}
    predicted = {(w, key): predict_ops(torch_ops(c.build(), c.input_shape), models[key]).total_ms * 1e3
                 for w, c in cases.items() for key in KEYS}
    print(f"\n{cases[widths[0]].name.split('-')[0]} layers at {args.size}x{args.size}, 1 thread, on "
          f"{document['where']}; p50 of turn medians (all artifacts in one process, {args.seconds:g} s), microseconds; "
          f"predicted by the calibration of {document['created']}; 'vs aligned': measured / measured at the next "
          f"multiple of {args.tile} in the same run.\n")
    head = " | ".join(f"{d} measured | {d} predicted (error) | {d} vs aligned" for _, d in KEYS)
    print(f"| width | MMACs | {head} |\n|---:|---:|" + "---:|" * 3 * len(KEYS))
    for w, c in cases.items():
        aligned = next((a for a in widths if a >= w and a % args.tile == 0), None)
        cells = []
        for key in KEYS:
            us, guess = measured[w, key], predicted[w, key]
            ratio = f"{us / measured[aligned, key]:.2f}" if aligned else ""
            cells.append(f"{us:.1f} | {guess:.1f} ({guess / us - 1:+.0%}) | {ratio}")
        mmacs = sum(op.macs for op in torch_ops(c.build(), c.input_shape)) / 1e6
        print(f"| {w} | {mmacs:.1f} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
