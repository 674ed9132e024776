"""Latency-aware widths vs uniform pruning at the same measured latency, after the same distillation.

Fashion-MNIST, the cached teacher (`--model`: the example, or e.g. benchmarks/wide_example.py:wide_example, the
example three times as wide, whose int8 latency spans more than this host's noise), the `host` target measured on
this machine (its stored calibration when there is one). `--runtime` picks the deployable artifact: the host
profile's own (int8 ONNX Runtime on x86), or int8 TFLite (default here: for the 4 M-MAC example ONNX Runtime's int8
latency is mostly fixed cost, 0.145 ms unpruned vs 0.126 ms at the narrowest widths, too narrow a range to place
budgets in on a noisy VM). First the unpruned and the narrowest allowed widths are measured, and the budgets are
set between them (--fractions of the way from the narrowest to the unpruned latency, or --budgets in ms).
For each budget:
- latency-aware: the build's budget search (stages/budget.py: predicted widths, confirmed and adjusted by
  measurement);
- uniform: the same ratio for every group, the smallest ratio (widest model) whose latency is within the
  latency-aware model's (`--match latency`, the default: equal latency) or within the budget (`--match budget`):
  every ratio in steps of --ratio-step and the latency-aware model are timed side by side in one process, taking
  turns (p10 of the turn medians: it repeats better than their median on a noisy machine);
then both are distilled with the build's settings for --epochs, same seeds, and evaluated on the test split.

    python benchmarks/budget.py [--model SPEC] [--fractions 0.75,0.5,0.25] [--epochs 4] [--seeds 0]
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch

from edgeprune.bench.local import bench_cycled
from edgeprune.config import BuildConfig
from edgeprune.distill.trainer import TrainSettings, evaluate, train
from edgeprune.errors import BudgetError
from edgeprune.latency.budget import search, shaped
from edgeprune.pipeline import open_context, run_stages
from edgeprune.progress import Progress
from edgeprune.pruning import prune
from edgeprune.stages import budget as budget_stage
from edgeprune.stages.common import prepare, teacher as load_teacher
from edgeprune.stages.teacher import TEACHER
from edgeprune.targets import load_target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="example", help="the teacher's model spec (trained and cached by the "
                                                              "build when not cached yet), e.g. "
                                                              "benchmarks/wide_example.py:wide_example")
    parser.add_argument("--fractions", default="0.75,0.5,0.25")
    parser.add_argument("--budgets", default=None, help="budgets in ms (overrides --fractions)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--ratio-step", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runtime", choices=("tflite", "onnxruntime"), default="tflite")
    parser.add_argument("--calibration", default=None, help="a host calibration JSON to use (e.g. "
                                                            "benchmarks/results/host-calibration.json)")
    parser.add_argument("--percentile", choices=("p50", "p95"), default="p50",
                        help="what the budget bounds (p95 of 40-us models moves +-20 %% between runs on a shared VM)")
    parser.add_argument("--match", choices=("latency", "budget"), default="latency",
                        help="uniform's latency bound: the latency-aware model's (p10 side by side: equal latency; "
                             "the search aims 5 %% under the budget), or the budget itself")
    parser.add_argument("--side-by-side-seconds", type=float, default=60.0,
                        help="how long the candidates take turns in one process when they are compared")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as out:
        config = BuildConfig(out=out, target="host", model=args.model, threads=args.threads, budget_ms=1.0,
                             bench_rounds=3, budget_percentile=args.percentile)
        profile = dataclasses.replace(load_target("host"), runtime=args.runtime,
                                      int8_activations="int8" if args.runtime == "tflite" else "uint8")
        if args.calibration:  # stored where the build looks for this machine's calibration
            import os
            import shutil

            from edgeprune.latency.calibration import calibration_path

            os.environ["EDGEPRUNE_CALIBRATION_DIR"] = str(Path(out) / "calibration")
            calibration_path(profile, None).parent.mkdir()
            shutil.copy(args.calibration, calibration_path(profile, None))
        ctx = open_context(config, profile, Progress(enabled=False))
        prepare(ctx)
        run_stages(ctx, [TEACHER])
        teacher = load_teacher(ctx)
        data = ctx.cache["data"]
        example = torch.zeros((1, *data.input_shape))
        latency = budget_stage.deployable_latency_model(ctx)
        options = dict(round_to=ctx.target.channel_multiple, importance=config.importance)
        folder = Path(out) / "measure"

        def measure(model: torch.nn.Module) -> float:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            return budget_stage.measure_deployable(ctx, model, folder)["summary"][args.percentile]

        unpruned = measure(teacher)
        try:
            search(teacher, example, latency, 0.0, **options)
        except BudgetError as exc:
            narrowest_model = shaped(teacher, example, exc.result.widths_kept())
        narrowest = measure(narrowest_model)
        budgets = ([float(b) for b in args.budgets.split(",")] if args.budgets else
                   [round(narrowest + float(f) * (unpruned - narrowest), 4) for f in args.fractions.split(",")])
        print(f"deployable artifact ({args.runtime} int8) {args.percentile}: unpruned {unpruned:.4f} ms, narrowest allowed {narrowest:.4f} ms; "
              f"budgets {budgets} ms; latency model: {latency.basis}", flush=True)

        rows = []
        for budget in budgets:
            ctx.config = BuildConfig(**{**config.to_dict(), "budget_ms": budget})
            start = time.perf_counter()
            try:
                ratios, record = budget_stage.choose_widths(ctx, teacher, example)
            except BudgetError as exc:  # a row that says so, and the next budget
                rows.append((budget, "latency-aware", f"not met: {exc}", None, None, [], None))
                print(rows[-1], flush=True)
                continue
            aware = prune(teacher, example, ratio=0.0, layer_ratios=ratios, **options).model
            search_s = time.perf_counter() - start
            # every uniform ratio and the latency-aware model, timed side by side in one process (taking turns),
            # so that "equal latency" does not depend on when each was measured
            uniforms = {}
            for step in range(int(0.95 / args.ratio_step) + 1):
                ratio = round(step * args.ratio_step, 4)
                uniforms[ratio] = prune(teacher, example, ratio=ratio, **options).model
            folders = {name: Path(out) / f"side-by-side-{budget:g}" / name
                       for name in ["aware", *(f"uniform-{r:g}" for r in uniforms)]}
            paths = {}
            for name, model in (("aware", aware), *((f"uniform-{r:g}", m) for r, m in uniforms.items())):
                folders[name].mkdir(parents=True)
                paths[name] = budget_stage.export_deployable(ctx, model, folders[name])
            timed = bench_cycled(list(paths.values()), threads=args.threads, seconds=args.side_by_side_seconds)
            latency = {name: timed[path] for name, path in paths.items()}
            bound = min(budget, latency["aware"]["p10_ms"]) if args.match == "latency" else budget
            fits = [r for r in uniforms if latency[f"uniform-{r:g}"]["p10_ms"] <= bound]
            ratio = min(fits) if fits else None
            for method, name, model, detail in (
                    ("latency-aware", "aware", aware,
                     f"search {search_s:.0f} s, {len(record['attempts'])} measured attempt(s), build measured p50 "
                     f"{record['measured']['p50']:.4f} ms"),
                    ("uniform", f"uniform-{ratio:g}" if ratio is not None else "", uniforms.get(ratio),
                     f"ratio {ratio:g}: the widest with p10 <= {bound:.4f} ms" if ratio is not None else "")):
                if model is None:
                    rows.append((budget, method, "no uniform ratio meets the bound", None, None, [], None))
                    continue
                accs = []
                for seed in (int(s) for s in args.seeds.split(",")):
                    student = copy.deepcopy(model)
                    train(student, data, TrainSettings(epochs=args.epochs, seed=seed), teacher=teacher)
                    accs.append(evaluate(student, data.x_test, data.y_test))
                widths = list(_widths(model).values())
                rows.append((budget, method, detail, widths, sum(p.numel() for p in model.parameters()), accs,
                             (latency[name]["p10_ms"], latency[name]["p50_ms"])))
                print(rows[-1], flush=True)
    _print(rows, args)


def _widths(model: torch.nn.Module) -> dict[str, int]:
    return {name: m.out_channels for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}


def _print(rows: list[tuple], args: argparse.Namespace) -> None:
    print(f"\n{args.epochs} distillation epochs (the build's KD settings), seeds {args.seeds}; latency of the "
          f"deployable int8 {args.runtime} artifact, {args.threads} thread(s): all candidates of a budget timed side by side in one "
          f"process, taking turns of 15 runs for {args.side_by_side_seconds:g} s (p10 and p50 of the turn medians).\n")
    print("| budget ms | widths chosen by | how | conv widths | params | side by side p10 / p50 ms | accuracy mean ± sd |")
    print("|---:|---|---|---|---:|---:|---:|")
    for budget, method, detail, widths, params, accs, latency in rows:
        if not accs:
            print(f"| {budget:g} | {method} | {detail} | | | | |")
            continue
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"| {budget:g} | {method} | {detail} | {widths} | {params:,} | {latency[0]:.4f} / {latency[1]:.4f} | "
              f"{100 * statistics.mean(accs):.2f} ± {100 * sd:.2f} % |")


if __name__ == "__main__":
    main()
