"""Command line: parse, load config, call the library, map errors to exit codes. Heavy imports stay lazy."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .errors import EdgepruneError

if TYPE_CHECKING:
    from .latency.calibration import ModelCase


class _Group(click.Group):
    """Turns EdgepruneError into one line on stderr and its exit code; Ctrl-C into a resumable stop."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgepruneError as exc:
            click.echo(f"edgeprune: error: {exc.message}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("edgeprune: interrupted; finished stages are kept, run the same command to resume", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgeprune")
def cli() -> None:
    """Prune, distil, export and benchmark a PyTorch model for an edge device."""


def _shape(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        from .config import _parse_shape
        from .errors import ConfigError

        try:
            _parse_shape(value, param.opts[0])
        except ConfigError as exc:
            raise click.BadParameter(exc.message) from None
    return value


def _build_options(command: Any) -> Any:
    """The build's options, shared by `build` and `prune` (one stage of it)."""
    for option in reversed(_BUILD_OPTIONS):
        command = option(command)
    return command


_BUILD_OPTIONS = [
    click.option("--target", help="Target profile name (see `edgeprune targets`) or a profile .toml file. [rpi4]"),
    click.option("--config", "config_file", type=click.Path(dir_okay=False), help="edgeprune.toml to read (default: ./edgeprune.toml or [tool.edgeprune] in ./pyproject.toml)."),
    click.option("--model", help="example | FILE.py:factory | package.module:factory | torchvision:NAME. [example]"),
    click.option("--weights", help="Teacher weights: .safetensors, or a .pt/.pth state dict. Without: edgeprune trains the teacher."),
    click.option("--data", help="fashion-mnist | digits | npz:PATH | folder:PATH | module:function. [fashion-mnist]"),
    click.option("--data-dir", help="Folder holding the Fashion-MNIST IDX files."),
    click.option("--input-shape", callback=_shape, help="C,H,W of one input, checked against the data."),
    click.option("--prune-ratio", type=float, help="Share of channels to remove, 0 to <1. [0.5]"),
    click.option("--budget-ms", type=float, help="Instead of --prune-ratio: per-layer widths searched with the target's "
                                                 "latency model until the deployable artifact meets this latency, "
                                                 "confirmed by measurement."),
    click.option("--budget-percentile", type=click.Choice(["p95", "p50"]), help="Latency --budget-ms bounds. [p95]"),
    click.option("--importance", help="Pruning criterion: l1, l2, bn-scale, taylor, random. [l2]"),
    click.option("--prune-mode", type=click.Choice(["structured", "unstructured"]),
                  help="structured: remove channels; unstructured: zero single weights in place (smaller compressed "
                       "file, no speed-up on dense runtimes). [structured]"),
    click.option("--prune-steps", type=int, help="Prune in N steps with a short distillation between them. [1]"),
    click.option("--prune-finetune-epochs", type=int, help="Distillation epochs between pruning steps. [1]"),
    click.option("--global-pruning", is_flag=True, default=None, help="Rank channels across all layers (layers lose different shares)."),
    click.option("--max-layer-ratio", type=float, help="No layer loses more than this share of its channels. [1.0]"),
    click.option("--ignore-layers", help="Comma-separated layers left unpruned (with everything coupled to them)."),
    click.option("--layer-ratios", help="Per-layer ratios overriding --prune-ratio, e.g. layer3=0.3,layer4=0.6."),
    click.option("--sparsity", type=click.Choice(["none", "bn-l1", "group-lasso"]),
                  help="Regularised training of the teacher's copy before pruning (network slimming or group lasso). [none]"),
    click.option("--sparsity-epochs", type=int, help="Epochs of sparsity training. [0]"),
    click.option("--sparsity-strength", type=float, help="Regulariser weight. [1e-4]"),
    click.option("--teacher-epochs", type=int, help="Epochs when edgeprune trains the teacher. [10]"),
    click.option("--distill-epochs", type=int, help="Distillation epochs for the student. [8]"),
    click.option("--distill-loss", type=click.Choice(["kd", "hard", "kd+feature"]),
                  help="kd: soft targets + labels; hard: labels only (fine-tuning); kd+feature: kd plus matching "
                       "intermediate features. [kd]"),
    click.option("--feature-layers", help="With kd+feature: layers to match, by module name (a,b) or student=teacher "
                                           "pairs. [each stage's output]"),
    click.option("--student", help="Distil into this model spec (from scratch) instead of the pruned teacher."),
    click.option("--student-width", type=float, help="Distil into the teacher's architecture at this width, 0 to 1 "
                                                      "(the factory needs a width= argument)."),
    click.option("--optimizer", type=click.Choice(["adamw", "sgd"]), help="Distillation optimizer (one-cycle cosine "
                                                                          "schedule with warm-up). [adamw]"),
    click.option("--validation-split", type=float, help="Share of the training split held out to keep the best "
                                                         "distillation epoch. [0: keep the last]"),
    click.option("--early-stopping", type=int, help="Stop distillation after N epochs without a better validation "
                                                     "score (needs --validation-split). [0: off]"),
    click.option("--seed", type=int, help="Random seed for training, pruning and calibration. [0]"),
    click.option("--calibration-samples", type=int, help="Real training samples used to calibrate int8. [256]"),
    click.option("--calibration-method", type=click.Choice(["minmax", "entropy", "percentile"]),
                  help="How the ONNX int8 activation ranges are set from the calibration samples. [minmax]"),
    click.option("--max-int8-drop", type=float, help="Accuracy points the int8 ONNX model may lose vs the student; "
                                                      "beyond it, the layers int8 hurts most stay float."),
    click.option("--qat-epochs", type=int, help="With --max-int8-drop: when post-training int8 TFLite loses more than "
                                                 "allowed, fine-tune it quantisation-aware for N epochs. [0: fail]"),
    click.option("--onnx-dynamic-batch", is_flag=True, default=None, help="Export ONNX with a dynamic batch axis."),
    click.option("--tflite-converter", type=click.Choice(["auto", "litert-torch", "onnx2tf"]),
                  help="TFLite path: litert-torch, onnx2tf (pip install 'edgeprune[onnx2tf]'), or auto: litert-torch, "
                       "then onnx2tf for an artifact litert-torch fails on. [auto]"),
    click.option("--threads", type=int, help="Threads for benchmarking (default: the profile's, capped at this machine's cores)."),
    click.option("--host", help="USER@HOST[:PORT] or ~/.ssh/config alias of the device to benchmark on "
                                 "(default: the profile's [ssh] host, else this machine)."),
    click.option("--remote-python", help="Python on the device (default: the profile's [ssh] python)."),
    click.option("--trust-new-host", is_flag=True, default=None, help="Record an unknown host key on first use."),
    click.option("--out", help="Build folder. [build/<target>]"),
]


@cli.command()
@_build_options
@click.option("--json", "as_json", is_flag=True, help="Print the report summary as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def build(config_file: str | None, as_json: bool, quiet: bool, **flags: Any) -> None:
    """Prune, distil, export and benchmark a model for a target: one reproducible build folder."""
    from .build import build as run_build
    from .config import load_config
    from .progress import Progress

    config = load_config(config_file, flags)
    report = run_build(config, Progress(enabled=not quiet))
    if report is None:  # a helper rank under torchrun: rank 0 reports
        return
    if as_json:
        click.echo(json.dumps({"build_dir": str(config.build_dir()), **report["summary"]}, indent=2))
    elif not quiet:
        click.echo((config.build_dir() / "report.md").read_text())


@cli.command("prune")
@_build_options
@click.option("--explain", is_flag=True, help="Print the prunability report: every group of coupled layers, its "
                                             "channels before and after, and why a group was left whole.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def prune_command(config_file: str | None, explain: bool, quiet: bool, **flags: Any) -> None:
    """Run the build up to pruning (teacher, prune): plan.json and pruned.safetensors in the build folder."""
    from .build import build as run_build
    from .config import load_config
    from .progress import Progress
    from .pruning.explain import render_prunability, render_summary

    config = load_config(config_file, flags)
    report = run_build(config, Progress(enabled=not quiet), until="prune")
    click.echo(render_summary(report["models"], config.build_dir()))
    if explain:
        click.echo(render_prunability(report["models"]["pruned"].get("prunability", [])))


@cli.command()
@click.argument("name", required=False)
def targets(name: str | None) -> None:
    """List target profiles, or show one."""
    from .targets import available_targets, load_target

    if name is None:
        for target in available_targets():
            profile = load_target(target)
            click.echo(f"{target:16} {profile.description}")
        return
    profile = load_target(name)
    for key, value in profile.to_dict().items():
        click.echo(f"{key:22} {value}")
    from .latency.calibration import find_calibration, load

    stored = find_calibration(profile)
    if stored is None:
        click.echo(f"{'latency calibration':22} none: estimates come from the profile's facts "
                   f"(`edgeprune calibrate --target {name}`)")
    else:
        document = load(stored)
        click.echo(f"{'latency calibration':22} {stored}: {document['where']}, {document['threads']} threads, "
                   f"{document['created']}, {', '.join(document['runtime_versions'].values())}")


def _network_cases(specs: tuple[str, ...], shape: str | None, ratios: str, round_to: int) -> list["ModelCase"]:
    """`calibrate --network`: the user's architectures to measure with the grid (none without --network)."""
    from .config import _parse_shape
    from .errors import ConfigError
    from .latency.calibration import model_cases

    if not specs:
        if shape:
            raise ConfigError("--network-input: give the architecture too (--network SPEC)")
        return []
    if not shape:
        raise ConfigError("--network needs --network-input C,H,W (the input its models are measured at)")
    try:
        parsed = [float(r) for r in ratios.split(",") if r.strip()]
    except ValueError:
        raise ConfigError(f"--network-ratios: expected comma-separated shares like 0,0.25,0.5, got {ratios!r}"
                          ) from None
    return model_cases(specs, _parse_shape(shape, "--network-input"), parsed, round_to)


def _cpus(value: str | None) -> tuple[int, ...] | None:
    from .bench.device_runner import RunnerError, parse_cpus

    try:
        cpus = parse_cpus(value)
    except RunnerError as exc:
        raise click.BadParameter(str(exc)) from None
    return tuple(cpus) if cpus else None


def _load_inputs(path: str) -> Any:
    import numpy as np

    from .errors import InputFileError

    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: not a readable .npy array ({exc})") from None
    if array.ndim < 2 or array.shape[0] == 0 or not np.issubdtype(array.dtype, np.floating):
        raise InputFileError(f"{path}: inputs must be a float N x C x H x W array, got {array.dtype} {array.shape}")
    return array


@cli.command()
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--target", default="host", show_default=True, help="Target profile (threads, remote python, throttle limit).")
@click.option("--host", help="USER@HOST[:PORT] or ~/.ssh/config alias of a device to run on "
                             "(default: the profile's [ssh] host, else this machine).")
@click.option("--inventory", type=click.Path(dir_okay=False), help="TOML file of [[device]] entries: a fleet, run in parallel.")
@click.option("--remote-python", help="Python on the device (default: the profile's [ssh] python).")
@click.option("--trust-new-host", is_flag=True, help="Record an unknown host key on first use (a changed key is always refused).")
@click.option("--command-timeout", type=click.FloatRange(min=1), default=600, show_default=True,
              help="Seconds allowed for each remote run.")
@click.option("--threads", type=click.IntRange(min=1),
              help="Runtime threads (default: the profile's; on this machine capped at its cores).")
@click.option("--runs", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--warmup", type=click.IntRange(min=0), default=100, show_default=True)
@click.option("--warmup-seconds", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Keep warming up until this long has passed (and --warmup runs are done).")
@click.option("--min-seconds", type=click.FloatRange(min=0), default=0.5, show_default=True,
              help="Keep timing each process until this long has passed (as the build does).")
@click.option("--cpus", callback=lambda ctx, param, value: _cpus(value),
              help="Pin the runner to these CPU ids, e.g. 2,3 (Linux; default: no pinning).")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Interleaved passes over the artifacts, each in a fresh process.")
@click.option("--inputs", "inputs_file", type=click.Path(dir_okay=False),
              help="Real input samples: a float32 N x C x H x W .npy (default: random normal).")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Write every result (with raw samples) here.")
@click.option("--budget-ms", type=float, help="Exit 3 if an artifact's p95 is over this, 4 if it cannot tell.")
def bench(artifacts: tuple[str, ...], target: str, host: str | None, inventory: str | None, remote_python: str | None,
          trust_new_host: bool, command_timeout: float, threads: int | None, runs: int, warmup: int,
          warmup_seconds: float, min_seconds: float, cpus: tuple[int, ...] | None, rounds: int,
          inputs_file: str | None, json_file: str | None, budget_ms: float | None) -> None:
    """Measure latency and memory of ONNX / TFLite artifacts here, on a device over SSH, or on a fleet."""
    import os

    from .bench.fleet import bench_fleet, device_for, load_inventory
    from .bench.local import bench_interleaved
    from .errors import ConfigError, EdgepruneError
    from .fileio import write_json_atomic
    from .gate import Budgets, evaluate_gate
    from .targets import load_target

    profile = load_target(target)
    paths = [Path(a) for a in artifacts]
    if host and inventory:
        raise ConfigError("give either --host or --inventory, not both")
    if inventory:
        devices = load_inventory(Path(inventory), profile)
    elif host or profile.ssh.host:
        devices = [device_for(host or profile.ssh.host, profile, python=remote_python)]
    else:
        devices = []
    if not devices and profile.name != "host":
        _print_estimates(paths, profile, threads or profile.threads, json_file, budget_ms)
        return
    inputs = _load_inputs(inputs_file) if inputs_file else None
    options = {"rounds": rounds, "warmup": warmup, "runs": runs, "min_seconds": min_seconds,
               "warmup_seconds": warmup_seconds, "cpus": cpus, "inputs": inputs}
    if devices:
        measured = bench_fleet(devices, paths, threads=threads, trust_new_host=trust_new_host,
                               command_timeout=command_timeout, **options)
        if not inventory and isinstance(measured[devices[0].name], EdgepruneError):
            raise measured[devices[0].name]
    else:
        threads = threads or min(profile.threads, len(os.sched_getaffinity(0)))
        measured = {"": bench_interleaved(paths, threads=threads, **options)}
    results: dict = {}
    worst = 0
    severity = {0: 0, 4: 1, 3: 2, 1: 3}
    for device, outcome in measured.items():
        prefix = f"[{device}] " if inventory else ""
        if isinstance(outcome, EdgepruneError):
            click.echo(f"{prefix}error: {outcome}", err=True)
            results[device] = {"error": str(outcome)}
            worst = max(worst, 1, key=severity.get)
            continue
        for path, result in outcome.items():
            s = result["summary"]
            throttled = f"  THROTTLED: {'; '.join(result['throttle_reasons'])}" if result.get("throttled") else ""
            click.echo(f"{prefix}{path}: p50 {s['p50']:.4f} ms  p95 {s['p95']:.4f} ms  p99 {s['p99']:.4f} ms  "
                       f"start-up {result['startup_ms']:.1f} ms  peak RSS {result['peak_rss_mb']:.1f} MB  "
                       f"({result['runtime']} {result['runtime_version']}, {result['threads']} threads, "
                       f"{len(result['samples_ms'])} runs in {rounds} rounds, measured on {result['where']}){throttled}")
            if budget_ms is not None:
                summary = {"latency_ms": {"p95": s["p95"], "p95_ci": s["p95_ci"]}}
                verdict = evaluate_gate({"summary": summary}, Budgets(budget_ms=budget_ms))
                worst = max(worst, verdict.exit_code, key=severity.get)
        results[device] = {str(path): result for path, result in outcome.items()}
    if json_file:
        write_json_atomic(json_file, results if inventory else next(iter(results.values())))
    sys.exit(worst)


def _print_estimates(paths: list[Path], profile: Any, threads: int, json_file: str | None,
                     budget_ms: float | None) -> None:
    """`bench --target NAME` without a device: the latency model's estimate for that target, labelled as one."""
    from .errors import ConfigError
    from .fileio import write_json_atomic
    from .latency.predict import predict_artifact

    if budget_ms is not None:
        raise ConfigError(f"--budget-ms gates measured latency: give --host to measure on {profile.name} "
                          "(without a device, bench only estimates)")
    results = {}
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"{path}: artifact not found")
        prediction = predict_artifact(path, profile, threads)
        metric = prediction.metric()
        top = sorted(prediction.by_layer().items(), key=lambda kv: -kv[1])[:3]
        click.echo(f"{path}: ESTIMATE for {profile.name}: {prediction.total_ms:.4f} ms "
                   f"({metric['runtime']} {metric['dtype']}, {threads} threads; slowest: "
                   + ", ".join(f"{name} {ms:.4f} ms" for name, ms in top) + f"); not measured: {metric['model']}")
        results[str(path)] = {"latency_ms": metric, "layers_ms": prediction.by_layer()}
    if json_file:
        write_json_atomic(json_file, results)


@cli.command()
@click.argument("report_file", metavar="REPORT.json", type=click.Path(dir_okay=False))
@click.option("--budget-ms", type=float, help="Maximum p95 latency of the deployable artifact.")
@click.option("--max-memory-mb", type=float, help="Maximum peak RSS of the runner process.")
@click.option("--max-size-kb", type=float, help="Maximum artifact file size.")
@click.option("--min-accuracy", type=float, help="Minimum accuracy (0.91 or 91).")
@click.option("--junit", type=click.Path(dir_okay=False), help="Write a JUnit XML file for CI.")
@click.option("--summary", "summary_file", type=click.Path(dir_okay=False), help="Write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY).")
@click.option("--baseline", type=click.Path(dir_okay=False),
              help="Older report.json (with its bench.json) or bench.json to check for a latency regression.")
@click.option("--regression-pct", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="With --baseline: fail if the median latency is significantly more than this % slower.")
def gate(report_file: str, budget_ms: float | None, max_memory_mb: float | None, max_size_kb: float | None,
         min_accuracy: float | None, junit: str | None, summary_file: str | None, baseline: str | None,
         regression_pct: float) -> None:
    """Exit 0 if the build meets its budgets, 3 if one is broken, 4 if the measurement cannot tell."""
    from .errors import InputFileError
    from .fileio import write_text_atomic
    from .gate import Budgets, evaluate_gate, render_junit, render_markdown

    try:
        report = json.loads(Path(report_file).read_text())
    except FileNotFoundError:
        raise InputFileError(f"{report_file}: report not found") from None
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{report_file}: not a readable report.json ({exc})") from None
    if not isinstance(report, dict) or "summary" not in report:
        raise InputFileError(f"{report_file}: has no 'summary'; is it an edgeprune report.json?")
    if baseline is None and click.get_current_context().get_parameter_source("regression_pct") \
            == click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--regression-pct needs --baseline OLD.json")
    result = evaluate_gate(report, Budgets(budget_ms=budget_ms, max_memory_mb=max_memory_mb,
                                           max_size_kb=max_size_kb, min_accuracy=min_accuracy))
    if baseline is not None:
        from .regression import regression_check

        result.checks.append(regression_check(report, Path(report_file), Path(baseline), regression_pct))
    for check in result.checks:
        click.echo(f"{check.verdict.upper():13} {check.name}: {check.detail}")
    if junit:
        write_text_atomic(junit, render_junit(result))
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:  # $GITHUB_STEP_SUMMARY is appended to
            handle.write(render_markdown(result) + "\n")
    sys.exit(result.exit_code)


@cli.command()
@click.argument("artifact", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the metadata document as JSON.")
def inspect(artifact: str, as_json: bool) -> None:
    """Print the metadata an artifact carries: input name/shape/layout/dtype, quantisation, normalisation, labels."""
    from .export.metadata import read

    document = read(Path(artifact))
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    if document is None:
        click.echo(f"{artifact}: no edgeprune metadata (not exported by edgeprune)")
        return
    for key in ("input", "output"):
        spec = document[key]
        quant = f", scale {spec['scale']:.6g}, zero point {spec['zero_point']}" if spec.get("scale") else ""
        layout = f" {spec['layout']}" if "layout" in spec else ""
        click.echo(f"{key:14} {spec['name']}: {spec['dtype']} {spec['shape']}{layout}{quant}")
    norm = document["normalization"]
    if "mean" in norm:
        click.echo(f"{'normalisation':14} mean {norm['mean']}, std {norm['std']} ({norm['note']})")
    else:
        click.echo(f"{'normalisation':14} {norm['note']}")
    click.echo(f"{'labels':14} {', '.join(document['labels']) or 'not recorded'}")
    click.echo(f"{'made by':14} edgeprune {document['edgeprune_version']}, build digest {document['build_digest']}")


@cli.command()
@click.argument("build_dir", metavar="BUILD_DIR", type=click.Path(file_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--arm", type=click.Path(file_okay=False), metavar="SYSROOT",
              help="Also run every artifact under emulated aarch64 (a sysroot from scripts/arm-sysroot.sh) "
                   "and compare its outputs with this machine's.")
def verify(build_dir: str, quiet: bool, arm: str | None) -> None:
    """Re-run the parity checks of a build folder: each artifact vs its torch model on real test samples."""
    from .build import verify as run_verify
    from .errors import StageError
    from .progress import Progress

    result = run_verify(Path(build_dir), Progress(enabled=not quiet), Path(arm) if arm else None)
    for name, entry in result["artifacts"].items():
        parity, ops = entry["parity"], entry["ops"]
        if entry["precision"] == "fp32":
            line = f"max abs diff {parity['max_abs_diff']:.2e}, max rel diff {parity['max_rel_diff']:.2e}"
        else:
            line = (f"top-1 agreement {100 * parity['top1_agreement']:.2f} %, accuracy {100 * parity['accuracy']:.2f} % "
                    f"(torch {100 * parity['reference_accuracy']:.2f} %), mean |logit error| "
                    f"{parity['mean_abs_logit_error']:.3g}")
            if "host_kernels" in parity:
                line += f" (this machine's fused kernels: agreement {100 * parity['host_kernels']['top1_agreement']:.2f} %)"
        flags = ops["runtime_issues"] + ([f"float ops left: {ops['float_ops']}"] if ops["float_ops"] else [])
        state = "CHANGED" if name in result["changed"] else "ok"
        click.echo(f"{state:8} {name}: {line} on {parity['samples']} samples; {ops['total']} ops"
                   + "".join(f"; {flag}" for flag in flags))
    for name, record in result.get("arm", {}).items():
        click.echo(f"{'arm ok' if record['ok'] else 'ARM DIFF':8} {name}: {record['arm']} vs {record['x86']}: max abs "
                   f"diff {record['max_abs_diff']:.2e}, top-1 agreement {100 * record['top1_agreement']:.2f} % "
                   f"on {record['samples']} samples")
    failed = [name for name, record in result.get("arm", {}).items() if not record["ok"]]
    if failed:
        raise StageError(f"{', '.join(failed)}: computes differently on aarch64 than on x86 (see the lines above)")
    if result["changed"]:
        raise StageError(f"{', '.join(result['changed'])}: differs from the file the build recorded (sha256); "
                         "re-run `edgeprune build` to regenerate it")


@cli.command()
@click.argument("build_dir", metavar="BUILD_DIR", type=click.Path(file_okay=False))
@click.option("--compare", multiple=True, type=click.Path(file_okay=False), help="Another build folder to put side by side (repeatable).")
def report(build_dir: str, compare: tuple[str, ...]) -> None:
    """Re-render report.html / report.md of a build folder from its report.json."""
    from .report import rerender

    for path in rerender(Path(build_dir), [Path(c) for c in compare]):
        click.echo(str(path))


@cli.command()
@click.option("--target", required=True, help="Target profile name or .toml file to calibrate (host: this machine).")
@click.option("--host", help="USER@HOST[:PORT] or ~/.ssh/config alias of the device (default: the profile's [ssh] "
                             "host, else this machine).")
@click.option("--remote-python", help="Python on the device (default: the profile's [ssh] python).")
@click.option("--trust-new-host", is_flag=True, help="Record an unknown host key on first use.")
@click.option("--threads", type=click.IntRange(min=1),
              help="Runtime threads (default: the profile's; on this machine capped at its cores).")
@click.option("--runtimes", default="tflite,onnxruntime", show_default=True,
              help="Comma-separated runtimes to calibrate (each in fp32 and int8).")
@click.option("--quick", is_flag=True, help="8 micro-benchmarks and 2 networks instead of 94 and 120: a coarse fit, "
                                           "for smoke tests.")
@click.option("--seconds", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="How long the artifacts take turns, each runtime's in one process (at least 30 turns each).")
@click.option("--statistic", type=click.Choice(["p10", "p50"]), default="p50", show_default=True,
              help="Fit each artifact's median of its turn medians (what a p50 budget is checked against) or their "
                   "10th percentile (its speed when nothing interferes; repeats better on a noisy machine).")
@click.option("--work", type=click.Path(file_okay=False),
              help="Keep the exported calibration models in this folder and reuse those already there.")
@click.option("--cpus", callback=lambda ctx, param, value: _cpus(value), help="Pin the runner to these CPU ids.")
@click.option("--network", "networks", multiple=True, metavar="SPEC",
              help="Also calibrate on this architecture (a model spec as --model takes it; repeatable) at "
                   "--network-input, pruned by each of --network-ratios: the fit learns what its blocks cost here.")
@click.option("--network-input", callback=_shape, help="C,H,W of the --network models' input, e.g. 3,96,96.")
@click.option("--network-ratios", default="0,0.25,0.5", show_default=True,
              help="Uniform pruning ratios at which each --network model is measured (widths as the build's).")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Calibration file to write [calibration/TARGET--DEVICE.json next to the profile, or in "
                   "$EDGEPRUNE_CALIBRATION_DIR].")
def calibrate(target: str, host: str | None, remote_python: str | None, trust_new_host: bool, threads: int | None,
              runtimes: str, quick: bool, seconds: float, statistic: str, work: str | None,
              cpus: tuple[int, ...] | None, networks: tuple[str, ...], network_input: str | None,
              network_ratios: str, out: str | None) -> None:
    """Fit the target's latency model: micro-benchmarks and small networks measured on the device (or here for the
    host target)."""
    import os

    from .bench.fleet import device_for
    from .errors import ConfigError
    from .latency import calibration
    from .targets import RUNTIMES, load_target

    profile = load_target(target)
    chosen = [r.strip() for r in runtimes.split(",") if r.strip()]
    unknown = [r for r in chosen if r not in RUNTIMES]
    if unknown or not chosen:
        raise ConfigError(f"--runtimes: unknown runtime {(unknown or [runtimes])[0]!r}; "
                          f"known: {', '.join(RUNTIMES)}")
    device = device_for(host or profile.ssh.host, profile, python=remote_python) if host or profile.ssh.host else None
    if device is None and profile.name != "host":
        raise ConfigError(f"calibrating {profile.name} needs the device: give --host (or [ssh] host in the profile); "
                          "only the host target is calibrated on this machine")
    threads = threads or (profile.threads if device else min(profile.threads, len(os.sched_getaffinity(0))))
    keys = [key for key in calibration.ARTIFACT_FILES if key[0] in chosen]
    models = _network_cases(networks, network_input, network_ratios, profile.channel_multiple)
    document = calibration.calibrate(profile, threads=threads, device=device, quick=quick, keys=keys,
                                     trust_new_host=trust_new_host, seconds=seconds, cpus=cpus, statistic=statistic,
                                     work=Path(work) if work else None, models=models,
                                     progress=lambda line: click.echo(line, err=True))
    path = Path(out) if out else calibration.calibration_path(profile, device)
    calibration.save(document, path)
    click.echo(f"calibrated {profile.name} on {document['where']} ({threads} threads): {path}")
    for key, model in document["models"].items():
        fit, (low, high) = model["fit"], model["cache_mb"]
        cache = f"weights uncached from {low:g}-{high:g} MB" if high else "no uncached-weights term"
        click.echo(f"  {key}: tiles {model['rows']}x{model['block']}x{model['depth']} (pixels x channels x depth), "
                   f"{cache}, fit on {fit['samples']} models: "
                   f"rms error {100 * fit['rms_relative_error']:.1f} %, {100 * fit['within_10pct']:.0f} % within +-10 %")


def main() -> None:
    import os

    # TensorFlow (pulled in by litert-torch and onnx2tf) logs its oneDNN notice to stderr on CPUs with AVX-512,
    # which breaks the one-line error contract. Its oneDNN ops only serve TF's own kernels during conversion;
    # a value the user set is kept.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cli(prog_name="edgeprune")


if __name__ == "__main__":
    main()
