"""Does distillation recover a pruned model better than fine-tuning? Fashion-MNIST, the cached example teacher.

For each pruned architecture (Torch-Pruning at --ratios, widths rounded to 8 as for rpi4), the same pruned
weights are trained for the same epochs and seeds with: hard labels only (fine-tuning), Hinton KD, and KD +
per-channel feature matching (stage outputs, kept channels, no extra parameters). A small student of the
teacher's architecture at --width (about the 75 %-pruned size) is trained from scratch on labels and distilled
(KD, and KD + features through 1x1 adapters). Prints a markdown table: test accuracy mean +- standard deviation
over seeds (each seed's value listed), and wall time per run.

With `--validation N` the last N training images are held out: students train on the rest and the table reports
accuracy on those N images instead of the test split (for choosing settings; the teacher still saw them).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/distillation.py [--epochs 3] [--seeds 0,1,2] [--train-subset N]
        [--teacher-label-smoothing LS] [--label-smoothing LS] [--temperature T] [--alpha A] [--methods hard,kd]
        [--validation N] [--no-teacher-cache] [--max-shift PX]

With `--max-shift PX` every method also gets random shifts of up to PX pixels (the trainer's `max_shift`); the
teacher then scores each batch's shifted view live (the logit cache covers flips only), the same view the
student sees.
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import tempfile
import time

import torch

from edgeprune.data import load_data
from edgeprune.distill.pairs import feature_pairs
from edgeprune.distill.trainer import TrainSettings, evaluate, train
from edgeprune.models.example import example_net
from edgeprune.pruning import prune_model
from edgeprune.stages.teacher import TEACHER_LABEL_SMOOTHING


def cached_teacher(label_smoothing: float | None = None) -> tuple[torch.nn.Module, str]:
    """(teacher, origin): the teacher `edgeprune build --target rpi4` uses, or with `label_smoothing` the same
    recipe (epochs, batch, rate, seed, initial weights) with that label smoothing on the teacher's targets.
    Trained when missing and cached where the build caches its teachers (the build reuses an identical recipe's)."""
    from edgeprune.config import BuildConfig
    from edgeprune.pipeline import open_context
    from edgeprune.progress import Progress
    from edgeprune.stages.common import prepare
    from edgeprune.stages.teacher import TEACHER_LABEL_SMOOTHING, load_or_train
    from edgeprune.targets import load_target

    smoothing = TEACHER_LABEL_SMOOTHING if label_smoothing is None else label_smoothing
    with tempfile.TemporaryDirectory() as out:
        ctx = open_context(BuildConfig(out=out), load_target("rpi4"), Progress(enabled=True))
        prepare(ctx)
        model, origin, _ = load_or_train(ctx, smoothing)
        return model.eval(), origin


def run(student: torch.nn.Module, data, settings: TrainSettings, teacher, method: str,
        plan) -> tuple[float, float, list[float]]:
    """(final accuracy on data's test arrays, wall seconds, accuracy after each epoch) of one training run."""
    pairs = feature_pairs(student, teacher, data.input_shape, None, plan) if method == "kd+feature" else None
    start = time.perf_counter()
    result = train(student, data, settings, teacher=None if method == "hard" else teacher, features=pairs)
    curve = [row["test_accuracy"] for row in result["history"]]
    return result["test_accuracy"], time.perf_counter() - start, curve


def hold_out(data, count: int):
    """`data` with its last `count` training images moved to the evaluation arrays (a validation split)."""
    import dataclasses

    if not 0 < count < len(data.x_train):
        raise SystemExit(f"--validation must be between 1 and {len(data.x_train) - 1}, got {count}")
    return dataclasses.replace(data, x_train=data.x_train[:-count], y_train=data.y_train[:-count],
                               x_test=data.x_train[-count:], y_test=data.y_train[-count:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--ratios", default="0.5,0.75")
    parser.add_argument("--width", type=float, default=0.25, help="width of the small from-scratch student")
    parser.add_argument("--train-subset", type=int, default=0, help="first N training images (0: all 60,000)")
    parser.add_argument("--methods", default="hard,kd,kd+feature")
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.7)
    parser.add_argument("--feature-weight", type=float, default=1.0)
    parser.add_argument("--label-smoothing", type=float, default=0.1,
                        help="label smoothing of the students' hard-label term, every method (the build's default 0.1)")
    parser.add_argument("--teacher-label-smoothing", type=float, default=None,
                        help="train (and cache) a teacher with the build's recipe but this label smoothing "
                             "(default: the build's own teacher)")
    parser.add_argument("--no-small", action="store_true", help="skip the small from-scratch student rows")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--validation", type=int, default=0,
                        help="hold out the last N training images and report accuracy on them, not on the test split")
    parser.add_argument("--no-teacher-cache", action="store_true",
                        help="run the teacher on every batch instead of looking its logits up (same loss, slower)")
    parser.add_argument("--max-shift", type=int, default=0,
                        help="random shifts of up to this many pixels, every method (0: flips only, the build's "
                             "default); KD then runs the teacher per batch on the shifted view")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    data = load_data("fashion-mnist")
    if args.train_subset:
        import dataclasses

        data = dataclasses.replace(data, x_train=data.x_train[:args.train_subset], y_train=data.y_train[:args.train_subset])
    if args.validation:
        data = hold_out(data, args.validation)
    split = (f"the last {args.validation:,} training images (validation; held out from the students)"
             if args.validation else f"the {len(data.x_test):,}-image test split")
    teacher, origin = cached_teacher(args.teacher_label_smoothing)
    print(f"teacher: {origin}", flush=True)
    teacher_acc = evaluate(teacher, data.x_test, data.y_test)

    rows = []
    starts: list[tuple[str, str, torch.nn.Module, object]] = []
    for ratio in (float(r) for r in args.ratios.split(",")):
        pruned, plan = prune_model(teacher, data.input_shape, data.num_classes, ratio=ratio, round_to=8)
        label = f"pruned {ratio:.0%} (widths {tuple(plan.widths_after[n] for n in ('features.0', 'features.4', 'features.8'))})"
        for method in methods:
            starts.append((label, method, pruned, plan))
    small = f"width {args.width:g} from scratch"
    for method in [] if args.no_small else methods:
        starts.append((small, method, None, None))
    for label, method, start_model, plan in starts:
        accs, walls = [], []
        for seed in seeds:
            if start_model is None:
                torch.manual_seed(seed)
                student = example_net(data.input_shape[0], data.num_classes, width=args.width)
            else:
                student = copy.deepcopy(start_model)
            settings = TrainSettings(epochs=args.epochs, seed=seed, temperature=args.temperature, alpha=args.alpha,
                                     feature_weight=args.feature_weight, label_smoothing=args.label_smoothing,
                                     teacher_cache=not args.no_teacher_cache,
                                     max_shift=args.max_shift)  # else the build's defaults
            acc, wall, curve = run(student, data, settings, teacher, method, plan)
            accs.append(acc)
            walls.append(wall)
            print(f"{label} {method} seed {seed}: {100 * acc:.2f} % in {wall:.0f} s "
                  f"(by epoch: {', '.join(f'{100 * a:.2f}' for a in curve)})", flush=True)
        params = sum(p.numel() for p in student.parameters())
        rows.append((label, params, method, accs, walls))

    if args.teacher_label_smoothing is None:
        teacher_note = f"the build's cached example teacher (label smoothing {TEACHER_LABEL_SMOOTHING:g})"
    else:
        teacher_note = f"the build's teacher recipe with label smoothing {args.teacher_label_smoothing:g}"
    print()
    print(f"Fashion-MNIST, {len(data.x_train):,} training images, {args.epochs} epochs per run (the build's distillation "
          f"settings: AdamW one-cycle 3e-3, batch 128, label smoothing {args.label_smoothing:g}, "
          f"{f'flips and shifts of up to {args.max_shift} px' if args.max_shift else 'flips'}; KD T={args.temperature:g}, "
          f"alpha={args.alpha:g}; feature weight {args.feature_weight:g} on the stage outputs), seeds {args.seeds}; accuracy on {split} after the "
          f"last epoch (no model selection). Teacher: {teacher_note}, {100 * teacher_acc:.2f} %, "
          f"{sum(p.numel() for p in teacher.parameters()):,} parameters. {args.threads} torch thread(s), "
          f"{platform.machine()}, torch {torch.__version__}.")
    print()
    print("| student | params | training | accuracy mean ± sd | per seed | wall s per run (mean) |")
    print("|---|---:|---|---:|---|---:|")
    kd = f"KD (T={args.temperature:g}, alpha={args.alpha:g})"
    names = {"hard": "fine-tune, hard labels", "kd": kd, "kd+feature": f"{kd} + features x{args.feature_weight:g}"}
    for label, params, method, accs, walls in rows:
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        per_seed = ", ".join(f"{100 * a:.2f}" for a in accs)
        print(f"| {label} | {params:,} | {names[method]} | {100 * statistics.mean(accs):.2f} ± {100 * sd:.2f} % "
              f"| {per_seed} | {statistics.mean(walls):.0f} |")


if __name__ == "__main__":
    main()
