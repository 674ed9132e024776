"""Prune a teacher to a student: Torch-Pruning does the graph surgery; we pick ratio, rounding and what to keep."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from ..errors import ModelError
from .importance import IMPORTANCE
from .plan import PrunePlan

if TYPE_CHECKING:
    import torch


def layer_widths(model: "torch.nn.Module") -> dict[str, int]:
    """Output channels / features of every conv and linear layer, by module name."""
    import torch.nn as nn

    widths = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            widths[name] = module.out_channels
        elif isinstance(module, nn.Linear):
            widths[name] = module.out_features
    return widths


def output_layers(model: "torch.nn.Module", num_classes: int) -> list["torch.nn.Module"]:
    """Layers whose outputs are the class logits: they keep every output channel."""
    import torch.nn as nn

    return [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]


def prune_model(
    teacher: "torch.nn.Module",
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    ratio: float,
    round_to: int,
    importance: str = "l2",
) -> tuple["torch.nn.Module", PrunePlan]:
    """Return a pruned copy of `teacher` (the teacher is untouched) and the plan that recreates it."""
    import torch
    import torch_pruning as tp

    student = copy.deepcopy(teacher).eval()
    example = torch.zeros((1, *input_shape))
    names = {module: name for name, module in student.named_modules()}
    ignored = output_layers(student, num_classes)
    before = layer_widths(student)
    criterion = IMPORTANCE.get(importance)()
    try:
        pruner = tp.pruner.BasePruner(
            student, example, importance=criterion, pruning_ratio=ratio, ignored_layers=ignored,
            round_to=round_to if round_to > 1 else None,
        )
        pruner.step()
        history = pruner.DG.pruning_history()
    except Exception as exc:  # the graph tracer fails on unsupported code: name the model part if we can
        raise ModelError(f"pruning failed while tracing the model: {type(exc).__name__}: {exc}") from None
    after = layer_widths(student)
    empty = [name for name, width in after.items() if width <= 0]
    if empty:
        raise ModelError(f"pruning left layer(s) {', '.join(empty)} with no channels; lower --prune-ratio")
    try:
        with torch.no_grad():
            out = student(example)
    except Exception as exc:
        raise ModelError(f"the pruned model no longer runs ({type(exc).__name__}: {str(exc)[:200]}); "
                         "a layer's channels are used in a way the dependency graph cannot see") from None
    if out.shape[-1] != num_classes:
        raise ModelError(f"pruning changed the output to {tuple(out.shape)}; expected {num_classes} classes")
    plan = PrunePlan(
        input_shape=tuple(input_shape), ratio=ratio, round_to=round_to, importance=importance,
        history=tuple((str(n), bool(o), tuple(int(i) for i in idx)) for n, o, idx in history),
        widths_before=before, widths_after=after, ignored=tuple(names[m] for m in ignored),
    )
    return student, plan
