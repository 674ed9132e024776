"""Stage 'distill': train the pruned student against the teacher (Hinton soft targets + hard labels)."""
from __future__ import annotations

from typing import Any

from ..pipeline import BuildContext, Stage
from . import common


def _config(ctx: BuildContext) -> dict[str, Any]:
    cfg = ctx.config
    return {"epochs": cfg.distill_epochs, "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate,
            "temperature": cfg.temperature, "alpha": cfg.alpha, "seed": cfg.seed}


def _run(ctx: BuildContext) -> dict[str, Any]:
    from ..distill.trainer import TrainSettings, evaluate, train

    cfg = ctx.config
    data = common.data(ctx)
    student = common.student(ctx, "pruned.safetensors")
    history: dict[str, Any] = {}
    if cfg.distill_epochs > 0:
        settings = TrainSettings(epochs=cfg.distill_epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                 temperature=cfg.temperature, alpha=cfg.alpha, seed=cfg.seed, augment=data.augment)
        history = train(student, data, settings, teacher=common.teacher(ctx), progress=ctx.progress,
                        after_backward=_keep_unstructured_zeros(ctx, student))
    common.save_weights(student, ctx.path("student.safetensors"))
    ctx.cache["student:student.safetensors"] = student.eval()
    accuracy = evaluate(student, data.x_test, data.y_test)
    ctx.report["models"]["student"] = {
        "accuracy": common.accuracy_metric(accuracy, len(data.y_test), "torch fp32, after distillation"),
        **common.model_stats(student, data.input_shape),
    }
    return {"accuracy": accuracy, "training": history}


def _keep_unstructured_zeros(ctx: BuildContext, student: Any) -> Any:
    """With --prune-mode unstructured, training must not regrow the zeroed weights."""
    from ..pruning import PrunePlan
    from ..pruning.sparsity import keep_zeros

    return keep_zeros(student) if PrunePlan.load(ctx.path("plan.json")).mode == "unstructured" else None


DISTILL = Stage(name="distill", inputs=("teacher.safetensors", "plan.json", "pruned.safetensors"),
                outputs=("student.safetensors",), config=_config, run=_run)
