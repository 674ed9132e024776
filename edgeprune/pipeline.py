"""Stage order, resume and locking.

Each stage declares its config, the build files it reads and the files it writes. A stage is skipped when
its config hash and input hashes equal the recorded ones and every recorded output still hashes the same:
that gives instant no-op rebuilds and resume after a kill (outputs are renamed into place only when whole).
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import BuildLockedError, EdgepruneError, StageError
from .fileio import sha256_file, sha256_json
from .manifest import REPORT_NAME, new_report, read_report, write_report
from .progress import Progress


@dataclass
class BuildContext:
    """What every stage can read; `cache` holds objects already loaded this run (data, models)."""

    config: Any
    target: Any
    build_dir: Path
    progress: Progress
    report: dict[str, Any]
    cache: dict[str, Any] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.build_dir / name

    def save(self) -> None:
        write_report(self.build_dir / REPORT_NAME, self.report)


@dataclass(frozen=True)
class Stage:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    config: Callable[[BuildContext], dict[str, Any]]
    run: Callable[[BuildContext], dict[str, Any]]  # returns the stage's metrics


@contextmanager
def build_lock(build_dir: Path) -> Iterator[None]:
    """An advisory lock on BUILD_DIR/.lock: a second build on the same folder fails at once."""
    build_dir.mkdir(parents=True, exist_ok=True)
    lock_path = build_dir / ".lock"
    handle = open(lock_path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildLockedError(f"{build_dir}: another edgeprune build is using this folder ({lock_path})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


def _hashes(ctx: BuildContext, names: tuple[str, ...]) -> dict[str, str | None]:
    return {n: sha256_file(ctx.path(n)) if ctx.path(n).is_file() else None for n in names}


def is_up_to_date(ctx: BuildContext, stage: Stage, config_hash: str, inputs: dict[str, str | None]) -> bool:
    record = ctx.report["stages"].get(stage.name)
    if not record or record.get("status") != "done" or record.get("config_sha256") != config_hash:
        return False
    if record.get("inputs") != inputs:
        return False
    return record.get("outputs") == _hashes(ctx, stage.outputs) and all(ctx.path(n).is_file() for n in stage.outputs)


def run_stages(ctx: BuildContext, stages: list[Stage]) -> None:
    """Run (or skip) each stage in order, recording it in report.json after each one."""
    for stage in stages:
        config = stage.config(ctx)
        config_hash = sha256_json(config)
        inputs = _hashes(ctx, stage.inputs)
        missing = [n for n, h in inputs.items() if h is None]
        if missing:
            raise StageError(f"stage '{stage.name}' needs {', '.join(missing)} in {ctx.build_dir}, which is missing")
        if is_up_to_date(ctx, stage, config_hash, inputs):
            ctx.progress.log(f"[{stage.name}] up to date, skipped")
            ctx.report["stages"][stage.name]["skipped"] = True
            continue
        ctx.progress.log(f"[{stage.name}] running")
        started = time.perf_counter()
        try:
            metrics = stage.run(ctx)
        except EdgepruneError:
            raise
        except Exception as exc:  # a library failed inside a stage: one line naming the stage
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StageError(f"stage '{stage.name}' failed: {type(exc).__name__}: {first[:300]}") from exc
        outputs = _hashes(ctx, stage.outputs)
        absent = [n for n, h in outputs.items() if h is None]
        if absent:
            raise StageError(f"stage '{stage.name}' did not write {', '.join(absent)}")
        ctx.report["stages"][stage.name] = {
            "status": "done", "skipped": False, "config": config, "config_sha256": config_hash,
            "inputs": inputs, "outputs": outputs, "wall_seconds": round(time.perf_counter() - started, 3),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "metrics": metrics,
        }
        ctx.save()


def open_context(config: Any, target: Any, progress: Progress) -> BuildContext:
    """Start from the folder's existing manifest (if any) so finished stages can be skipped."""
    build_dir = config.build_dir()
    previous = read_report(build_dir / REPORT_NAME)
    report = new_report(config.to_dict(), target.to_dict())
    if previous:
        for key in ("stages", "models", "artifacts"):
            report[key] = previous.get(key, {})
    return BuildContext(config=config, target=target, build_dir=build_dir, progress=progress, report=report)
