"""Stage 'prune': structured channel pruning (or unstructured zeros), widths rounded to the target's multiple.

Optionally preceded by sparsity training of a copy of the teacher (--sparsity), and done in --prune-steps steps
with a short distillation between them. report.json gets the prunability report (every group of coupled layers,
its channels before and after, and why a group was left whole) and the verification error of the pruning.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..pipeline import BuildContext, Stage
from . import common

if TYPE_CHECKING:
    import torch

CHECK_SAMPLES = 256  # real training samples: Taylor importance reads their gradients; the output check runs on them


def _config(ctx: BuildContext) -> dict[str, Any]:
    cfg = ctx.config
    config = {"ratio": cfg.prune_ratio, "round_to": ctx.target.channel_multiple, "importance": cfg.importance,
              "mode": cfg.prune_mode, "steps": cfg.prune_steps, "global": cfg.global_pruning,
              "max_layer_ratio": cfg.max_layer_ratio, "ignore": list(cfg.ignore_layers),
              "layer_ratios": cfg.layer_ratios, "sparsity": cfg.sparsity}
    if cfg.budget_ms is not None:
        from .budget import config as budget_config

        config["budget"] = budget_config(ctx)
    if cfg.sparsity != "none":
        config.update(sparsity_epochs=cfg.sparsity_epochs, sparsity_strength=cfg.sparsity_strength)
    if cfg.sparsity != "none" or cfg.prune_steps > 1:
        config.update(finetune_epochs=cfg.prune_finetune_epochs, batch_size=cfg.batch_size,
                      learning_rate=cfg.learning_rate, temperature=cfg.temperature, alpha=cfg.alpha, seed=cfg.seed)
    return config


def _settings(ctx: BuildContext, epochs: int) -> Any:
    from ..distill.trainer import TrainSettings

    cfg = ctx.config
    return TrainSettings(epochs=epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                         temperature=cfg.temperature, alpha=cfg.alpha, seed=cfg.seed, augment=common.data(ctx).augment)


def _sparsity_trained(ctx: BuildContext, teacher: "torch.nn.Module", example: "torch.Tensor") -> "torch.nn.Module":
    """A copy of the teacher trained with the sparsity regulariser (distilled from the teacher itself)."""
    from ..distill.trainer import train
    from ..pruning.groups import output_layers
    from ..pruning.sparsity import sparsity_regulariser

    cfg = ctx.config
    model = copy.deepcopy(teacher)
    hook = sparsity_regulariser(cfg.sparsity, model, example, cfg.sparsity_strength,
                                keep=sorted(output_layers(model, example)))
    ctx.progress.log(f"[prune] sparsity training ({cfg.sparsity}, strength {cfg.sparsity_strength}) "
                     f"for {cfg.sparsity_epochs} epochs")
    train(model, common.data(ctx), _settings(ctx, cfg.sparsity_epochs), teacher=teacher, progress=ctx.progress,
          after_backward=hook)
    return model.eval()


def _run(ctx: BuildContext) -> dict[str, Any]:
    import torch

    from ..distill.trainer import evaluate, train
    from ..models.profile import layer_table
    from ..pruning import PrunePlan, prune
    from ..pruning.groups import output_layers
    from ..pruning.plan import architecture_digest
    from ..pruning.pruner import TOLERANCE, layer_widths
    from ..pruning.sparsity import prune_unstructured

    cfg = ctx.config
    data = common.data(ctx)
    teacher = common.teacher(ctx)
    example = torch.zeros((1, *data.input_shape))
    base = teacher
    record: dict[str, Any] = {"mode": cfg.prune_mode}
    if cfg.sparsity != "none" and cfg.sparsity_epochs > 0:
        base = _sparsity_trained(ctx, teacher, example)
        record["sparsity_training"] = {"regulariser": cfg.sparsity, "strength": cfg.sparsity_strength,
                                       "epochs": cfg.sparsity_epochs,
                                       "accuracy": common.accuracy_metric(evaluate(base, data.x_test, data.y_test),
                                                                          len(data.y_test), "torch fp32, after sparsity training")}
    if cfg.prune_mode == "unstructured":
        student = copy.deepcopy(base).eval()
        keep = sorted(output_layers(student, example))
        record["unstructured"] = {**prune_unstructured(student, cfg.prune_ratio, keep=keep), "kept_dense": keep}
        plan = PrunePlan(input_shape=tuple(data.input_shape), ratio=cfg.prune_ratio, round_to=1, importance="l1",
                         history=(), widths_before=layer_widths(base), widths_after=layer_widths(student),
                         architecture=architecture_digest(base), mode="unstructured")
    else:
        def finetune(model: "torch.nn.Module", step: int) -> None:
            ctx.progress.log(f"[prune] step {step}/{cfg.prune_steps} done: distilling for {cfg.prune_finetune_epochs} epochs")
            if cfg.prune_finetune_epochs > 0:
                train(model, data, _settings(ctx, cfg.prune_finetune_epochs), teacher=teacher, progress=ctx.progress)

        samples = (torch.from_numpy(data.x_train[:CHECK_SAMPLES]).float(),
                   torch.from_numpy(data.y_train[:CHECK_SAMPLES].astype("int64")))
        ratio, layer_ratios = cfg.prune_ratio, cfg.layer_ratios
        if cfg.budget_ms is not None:  # the budget search chooses every group's width
            from .budget import choose_widths

            ratio, (layer_ratios, record["budget"]) = 0.0, choose_widths(ctx, base, example)
        result = prune(base, example, ratio=ratio, round_to=ctx.target.channel_multiple,
                       importance=cfg.importance, layer_ratios=layer_ratios, max_layer_ratio=cfg.max_layer_ratio,
                       ignore=cfg.ignore_layers, global_pruning=cfg.global_pruning, steps=cfg.prune_steps,
                       between_steps=finetune, data=samples)
        student, plan = result.model, result.plan
        record["prunability"] = [group.to_json() for group in result.groups]
        record["verification"] = {
            "max_error": result.max_error, "tolerance": TOLERANCE, "source": "computed",
            "method": "max |pruned - original with the removed channels zeroed| / max(1, max |original|), "
                      "on 16 real training samples and 4 random normal inputs, after every step"}
    plan.save(ctx.path("plan.json"))
    common.save_weights(student, ctx.path("pruned.safetensors"))
    accuracy = evaluate(student, data.x_test, data.y_test)
    ctx.report["models"]["pruned"] = {
        "accuracy": common.accuracy_metric(accuracy, len(data.y_test), "torch fp32, before distillation"),
        **common.model_stats(student, data.input_shape),
        "widths": {name: [plan.widths_before[name], plan.widths_after[name]] for name in plan.widths_before},
        "layers": layer_table(teacher, student, data.input_shape),  # per-layer MACs / params, teacher vs student
        "latency_layers": _latency_layers(ctx, teacher, student),
        **record,
    }
    return {"accuracy": accuracy, "channels_removed": len(plan.history)}


def _latency_layers(ctx: BuildContext, teacher: "torch.nn.Module", student: "torch.nn.Module") -> dict[str, Any]:
    """Predicted latency per layer of the deployable artifact's runtime in int8, teacher vs student."""
    from ..latency.predict import layer_latency_table
    from .budget import deployable_latency_model

    return layer_latency_table(teacher, student, tuple(common.data(ctx).input_shape), deployable_latency_model(ctx))


PRUNE = Stage(name="prune", inputs=("teacher.safetensors",), outputs=("plan.json", "pruned.safetensors"),
              config=_config, run=_run)
