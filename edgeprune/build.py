"""`edgeprune build` as a library call: check inputs, then run the stages under the folder's lock."""
from __future__ import annotations

from typing import Any

from .config import BuildConfig
from .pipeline import build_lock, open_context, run_stages
from .progress import Progress
from .targets import load_target


def build(config: BuildConfig, progress: Progress) -> dict[str, Any]:
    """Returns the final report (also written to BUILD_DIR/report.json, report.md, report.html)."""
    from .report import build_summary, write_reports
    from .stages import BUILD_STAGES
    from .stages.bench import check_device
    from .stages.common import prepare

    target = load_target(config.target)
    with build_lock(config.build_dir()):
        ctx = open_context(config, target, progress)
        prepare(ctx)  # every user input is read and checked before any stage writes
        check_device(ctx)
        run_stages(ctx, BUILD_STAGES)
        ctx.report["summary"] = build_summary(ctx.report)
        ctx.save()
        write_reports(ctx.build_dir, ctx.report)
    return ctx.report
