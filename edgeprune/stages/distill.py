"""Stage 'distill': train the student against the teacher (Hinton soft targets + hard labels, optionally with
feature matching), or fine-tune it on the labels alone (`--distill-loss hard`).

The student is the pruned teacher unless `--student SPEC` / `--student-width W` name another one
(distill/students.py). Training checkpoints to BUILD_DIR/.distill-checkpoint.pt after every epoch, so a killed
build resumes mid-distillation; the file is removed when the stage finishes.
"""
from __future__ import annotations

from typing import Any

from ..config import FIELDS
from ..pipeline import BuildContext, Stage
from . import common

CHECKPOINT = ".distill-checkpoint.pt"
# Settings added after the first release: recorded only when changed, so existing build folders stay up to date.
_NEWER_KEYS = ("distill_loss", "feature_layers", "feature_weight", "student", "student_width", "optimizer", "warmup",
               "label_smoothing", "augment_shift", "validation_split", "early_stopping")


def _config(ctx: BuildContext) -> dict[str, Any]:
    from ..models import model_fingerprint

    cfg = ctx.config
    config = {"epochs": cfg.distill_epochs, "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate,
              "temperature": cfg.temperature, "alpha": cfg.alpha, "seed": cfg.seed}
    for key in _NEWER_KEYS:
        if getattr(cfg, key) != FIELDS[key].default:
            config[key] = getattr(cfg, key)
    if cfg.student is not None:
        config["student"] = model_fingerprint(cfg.student)
    return config


def _student(ctx: BuildContext):
    """(student, whether it is the pruned teacher); a custom student was already checked by common.prepare."""
    from ..distill.students import custom_student

    cfg, data = ctx.config, common.data(ctx)
    model = custom_student(cfg.model, cfg.student, cfg.student_width, data.input_shape[0], data.num_classes, cfg.seed)
    if model is None:
        return common.student(ctx, "pruned.safetensors"), True
    return model, False


def _run(ctx: BuildContext) -> dict[str, Any]:
    from ..distill.students import describe
    from ..distill.trainer import TrainSettings, evaluate, train

    cfg = ctx.config
    data = common.data(ctx)
    student, pruned = _student(ctx)
    teacher = common.teacher(ctx)
    history: dict[str, Any] = {}
    if cfg.distill_epochs > 0:
        pairs = None
        if cfg.distill_loss == "kd+feature":
            from ..distill.pairs import feature_pairs
            from ..pruning import PrunePlan

            plan = PrunePlan.load(ctx.path("plan.json")) if pruned else None
            pairs = feature_pairs(student, teacher, data.input_shape, cfg.feature_layers, plan)
        settings = TrainSettings(epochs=cfg.distill_epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                 temperature=cfg.temperature, alpha=cfg.alpha, seed=cfg.seed, augment=data.augment,
                                 optimizer=cfg.optimizer, warmup_fraction=cfg.warmup,
                                 label_smoothing=cfg.label_smoothing, max_shift=cfg.augment_shift,
                                 val_fraction=cfg.validation_split,
                                 early_stopping=cfg.early_stopping, feature_weight=cfg.feature_weight)
        history = train(student, data, settings, teacher=None if cfg.distill_loss == "hard" else teacher,
                        features=pairs, progress=ctx.progress, checkpoint=ctx.path(CHECKPOINT),
                        after_backward=_keep_unstructured_zeros(ctx, student) if pruned else None)
        if pairs:
            history["feature_layers"] = [{"student": p.student, "teacher": p.teacher,
                                          "match": "kept channels" if p.channels is not None else "1x1 adapter"}
                                         for p in pairs]
    common.save_weights(student, ctx.path("student.safetensors"))
    ctx.cache["student:student.safetensors"] = student.eval()
    accuracy = evaluate(student, data.x_test, data.y_test)
    after = "fine-tuning on labels" if cfg.distill_loss == "hard" else "distillation"
    ctx.report["models"]["student"] = {
        "accuracy": common.accuracy_metric(accuracy, len(data.y_test), f"torch fp32, after {after}"),
        **common.model_stats(student, data.input_shape), "kind": describe(cfg.student, cfg.student_width),
    }
    return {"accuracy": accuracy, "training": history}


def _keep_unstructured_zeros(ctx: BuildContext, student: Any) -> Any:
    """With --prune-mode unstructured, training must not regrow the zeroed weights."""
    from ..pruning import PrunePlan
    from ..pruning.sparsity import keep_zeros

    return keep_zeros(student) if PrunePlan.load(ctx.path("plan.json")).mode == "unstructured" else None


DISTILL = Stage(name="distill", inputs=("teacher.safetensors", "plan.json", "pruned.safetensors"),
                outputs=("student.safetensors",), config=_config, run=_run)
