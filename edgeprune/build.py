"""`edgeprune build` as a library call: check inputs, then run the stages under the folder's lock."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from .config import BuildConfig
from .errors import InputFileError
from .pipeline import build_lock, open_context, run_stages
from .progress import Progress
from .targets import load_target


def build(config: BuildConfig, progress: Progress, until: str | None = None) -> dict[str, Any] | None:
    """Returns the final report (also written to BUILD_DIR/report.json, report.md, report.html).

    `until` names the last stage to run (e.g. "prune" for `edgeprune prune`); then only report.json is written.
    Under torchrun (several ranks) rank 0 runs the build as usual and the other ranks only help train: they
    return None (see `_helper_rank`).
    """
    from .distill import distributed
    from .report import build_summary, write_reports
    from .stages import BUILD_STAGES
    from .stages.bench import check_device
    from .stages.common import prepare

    names = [stage.name for stage in BUILD_STAGES]
    stages = BUILD_STAGES[:names.index(until) + 1] if until else BUILD_STAGES
    target = load_target(config.target)
    if distributed.init_from_env() and not distributed.is_main():
        _helper_rank(config, target, stages)
        return None
    with build_lock(config.build_dir()):
        ctx = open_context(config, target, progress)
        prepare(ctx)  # every user input is read and checked before any stage writes
        if until is None:
            check_device(ctx)
        distributed.barrier()  # the helper ranks have copied this folder's state: now it may change
        training = _training_stages(stages)
        run_stages(ctx, training)
        distributed.shutdown()  # export (QAT included) and bench run on rank 0 alone
        run_stages(ctx, stages[len(training):])
        if until is None:
            ctx.report["summary"] = build_summary(ctx.report)
        ctx.save()
        if until is None:
            write_reports(ctx.build_dir, ctx.report)
    return ctx.report


def _training_stages(stages: list) -> list:
    """The stages before export: the ones every rank runs under torchrun (all the training happens there)."""
    names = [stage.name for stage in stages]
    return stages[:names.index("export")] if "export" in names else stages


def _helper_rank(config: BuildConfig, target: Any, stages: list) -> None:
    """A rank > 0 under torchrun: run the stages up to the last one that trains, in a private copy of the build
    folder, so every rank takes the same skip/run decisions and joins the same training loops. Only rank 0
    writes the real folder, the teacher cache and checkpoints; the copy is deleted at the end."""
    import shutil
    import tempfile

    from .distill import distributed
    from .stages.common import prepare

    with tempfile.TemporaryDirectory(prefix=f"edgeprune-rank{distributed.rank()}-") as scratch:
        source = config.build_dir()
        if source.is_dir():
            for path in source.iterdir():
                if path.is_file() and not path.name.startswith("."):
                    shutil.copy2(path, Path(scratch) / path.name)
        distributed.barrier()
        ctx = open_context(replace(config, out=scratch), target, Progress(enabled=False))
        prepare(ctx)
        run_stages(ctx, _training_stages(stages))
    distributed.shutdown()


ARM_SAMPLES = 200  # real test samples per artifact under qemu (about 10 s each)


def verify(build_dir: Path, progress: Progress, arm_sysroot: Path | None = None) -> dict[str, Any]:
    """Re-check a finished build folder with the settings recorded in its report.json.

    With `arm_sysroot` (scripts/arm-sysroot.sh), also run every artifact under emulated aarch64 and compare
    its outputs with x86 (export/arm.py): ``result["arm"] = {name: record}``.

    Returns ``{"changed": [names whose sha256 differs from the export record], "artifacts": {name: entry}}``
    where each entry holds parity on real held-out samples, size and op inventory, computed afresh.
    """
    from .config import validate
    from .fileio import sha256_file
    from .manifest import read_report
    from .stages.common import prepare
    from .stages.export import check_artifacts

    path = Path(build_dir) / "report.json"
    report = read_report(path)
    if report is None or "export" not in report.get("stages", {}):
        raise InputFileError(f"{path}: no report.json of a build whose export stage finished")
    recorded = {k: v for k, v in report["config"].items() if v is not None and k != "out"}
    config = BuildConfig(**validate(recorded, f"{path}: config"), out=str(build_dir))
    ctx = open_context(config, load_target(config.target), progress)
    prepare(ctx)
    changed = [name for name, digest in report["stages"]["export"]["outputs"].items()
               if not ctx.path(name).is_file() or sha256_file(ctx.path(name)) != digest]
    result = {"changed": changed, "artifacts": check_artifacts(ctx)}
    if arm_sysroot is not None:
        from .export.arm import compare_on_arm
        from .stages.common import data
        from .stages.export import ARTIFACTS

        artifacts = {ctx.path(name): precision != "fp32" for name, (_, precision) in ARTIFACTS.items()}
        with progress.task("arm check (qemu)", total=None):
            result["arm"] = compare_on_arm(artifacts, data(ctx).x_test[:ARM_SAMPLES], arm_sysroot)
    return result
