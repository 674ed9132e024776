"""Stage 'prune': structured channel pruning at --prune-ratio, widths rounded to the target's multiple."""
from __future__ import annotations

from typing import Any

from ..pipeline import BuildContext, Stage
from . import common


def _config(ctx: BuildContext) -> dict[str, Any]:
    return {"ratio": ctx.config.prune_ratio, "round_to": ctx.target.channel_multiple,
            "importance": ctx.config.importance}


def _run(ctx: BuildContext) -> dict[str, Any]:
    from ..distill.trainer import evaluate
    from ..models.profile import layer_table
    from ..pruning import prune_model

    data = common.data(ctx)
    teacher = common.teacher(ctx)
    student, plan = prune_model(
        teacher, data.input_shape, data.num_classes, ratio=ctx.config.prune_ratio,
        round_to=ctx.target.channel_multiple, importance=ctx.config.importance,
    )
    plan.save(ctx.path("plan.json"))
    common.save_weights(student, ctx.path("pruned.safetensors"))
    accuracy = evaluate(student, data.x_test, data.y_test)
    ctx.report["models"]["pruned"] = {
        "accuracy": common.accuracy_metric(accuracy, len(data.y_test), "torch fp32, before distillation"),
        **common.model_stats(student, data.input_shape),
        "widths": {name: [plan.widths_before[name], plan.widths_after[name]] for name in plan.widths_before},
        "layers": layer_table(teacher, student, data.input_shape),  # per-layer MACs / params, teacher vs student
    }
    return {"accuracy": accuracy, "channels_removed": len(plan.history)}


PRUNE = Stage(name="prune", inputs=("teacher.safetensors",), outputs=("plan.json", "pruned.safetensors"),
              config=_config, run=_run)
