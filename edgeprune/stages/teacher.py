"""Stage 'teacher': the user's weights, or a teacher trained by the tool and cached across builds."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..distill import distributed
from ..fileio import sha256_json
from ..pipeline import BuildContext, Stage
from . import common


def cache_root(ctx: BuildContext) -> Path:
    if ctx.config.cache_dir:
        return Path(ctx.config.cache_dir)
    if os.environ.get("EDGEPRUNE_CACHE"):
        return Path(os.environ["EDGEPRUNE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgeprune"


# Label smoothing of the teacher's training targets (the student's is --label-smoothing, a separate setting).
# 0.1 kept: a teacher trained without it (92.65 % against 92.86 %) did not make KD beat fine-tuning beyond the
# seed spread at 75 % or 50 % pruned (benchmarks/results/distillation.md, round 2).
TEACHER_LABEL_SMOOTHING = 0.1


def _config(ctx: BuildContext, label_smoothing: float = TEACHER_LABEL_SMOOTHING) -> dict[str, Any]:
    cfg = ctx.config
    inputs = ctx.report["inputs"]
    config = {"model": inputs["model"]["fingerprint"], "data": inputs["data"]["sha256"]}
    if cfg.weights:
        return {**config, "weights": inputs["weights"]["sha256"]}
    return {**config, "epochs": cfg.teacher_epochs, "batch_size": cfg.batch_size,
            "learning_rate": cfg.learning_rate, "seed": cfg.seed, "label_smoothing": label_smoothing}


def _train_settings(ctx: BuildContext, label_smoothing: float = TEACHER_LABEL_SMOOTHING):
    from ..distill.trainer import TrainSettings

    cfg = ctx.config
    return TrainSettings(epochs=cfg.teacher_epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                         seed=cfg.seed, augment=common.data(ctx).augment, label_smoothing=label_smoothing)


def cached_path(ctx: BuildContext, label_smoothing: float = TEACHER_LABEL_SMOOTHING) -> Path:
    """Where the teacher trained with this build's recipe (and this label smoothing) is cached across builds."""
    return cache_root(ctx) / "teachers" / f"{sha256_json(_config(ctx, label_smoothing))[:24]}.safetensors"


def load_or_train(ctx: BuildContext, label_smoothing: float = TEACHER_LABEL_SMOOTHING):
    """(teacher, origin, training history): the cached teacher of this recipe, else one trained now and cached.
    The model starts from `common.new_model(ctx)` (initial weights seeded by --seed in `common.prepare`)."""
    from ..distill.trainer import train

    data = common.data(ctx)
    model = common.new_model(ctx)
    cached = cached_path(ctx, label_smoothing)
    if cached.is_file():
        common.load_safetensors(model, cached)
        return model, f"cached teacher {cached}", {}
    ctx.progress.log(f"[teacher] no weights given: training {ctx.config.model} on {data.name} "
                     f"for {ctx.config.teacher_epochs} epochs (cached for later builds)")
    # checkpointed next to the cache entry: a killed build resumes the teacher mid-training
    history = train(model, data, _train_settings(ctx, label_smoothing), progress=ctx.progress,
                    checkpoint=cached.with_suffix(".checkpoint.pt"))
    if distributed.is_main():  # under torchrun every rank trains; one writes
        common.save_weights(model, cached)
    return model, f"trained by edgeprune, cached at {cached}", history


def _run(ctx: BuildContext) -> dict[str, Any]:
    from ..distill.trainer import evaluate

    data = common.data(ctx)
    history: dict[str, Any] = {}
    if ctx.config.weights:
        model = common.new_model(ctx)
        origin = f"user weights {ctx.config.weights}"
    else:
        model, origin, history = load_or_train(ctx)
    common.save_weights(model, ctx.path("teacher.safetensors"))
    ctx.cache["teacher"] = model.eval()
    accuracy = evaluate(model, data.x_test, data.y_test)
    ctx.report["models"]["teacher"] = {
        "accuracy": common.accuracy_metric(accuracy, len(data.y_test), "torch fp32"),
        **common.model_stats(model, data.input_shape), "origin": origin,
    }
    return {"accuracy": accuracy, "origin": origin, "training": history}


TEACHER = Stage(name="teacher", inputs=(), outputs=("teacher.safetensors",), config=_config, run=_run)
