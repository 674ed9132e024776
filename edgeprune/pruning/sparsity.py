"""Sparsity that users ask for: regularised training before structured pruning, and unstructured pruning.

- Sparsity training pushes whole channels towards zero before they are removed, so removing them costs less:
  `bn-l1` is network slimming (L1 on BatchNorm scales, Liu et al. 2017); `group-lasso` is an L2,1 penalty over
  every coupled layer's slice of a channel group (Torch-Pruning's GroupNormPruner, Fang et al. 2023). Both are
  Torch-Pruning's regularisers, applied through the training loop's `after_backward` hook.
- Unstructured magnitude pruning zeroes the smallest weights in place (torch.nn.utils.prune, global L1). The
  architecture is unchanged: dense CPU runtimes run it at the same speed; only a compressed file gets smaller.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import ConfigError

if TYPE_CHECKING:
    import torch

SPARSITY_KINDS = ("bn-l1", "group-lasso")


def sparsity_regulariser(kind: str, model: "torch.nn.Module", example: "torch.Tensor", strength: float,
                         keep: Sequence[str] = ()) -> Callable[["torch.nn.Module"], None]:
    """An `after_backward(model)` hook adding the regulariser's gradient; `keep` names layers left alone."""
    import torch_pruning as tp

    modules = dict(model.named_modules())
    ignored = [modules[name] for name in keep]
    if kind == "bn-l1":
        regulariser: Any = tp.pruner.BNScalePruner(model, example, importance=tp.importance.BNScaleImportance(),
                                                   reg=strength, ignored_layers=ignored)
    elif kind == "group-lasso":
        regulariser = tp.pruner.GroupNormPruner(model, example, importance=tp.importance.GroupMagnitudeImportance(p=2),
                                                reg=strength, ignored_layers=ignored)
    else:
        raise ConfigError(f"unknown sparsity '{kind}'; known: none, {', '.join(SPARSITY_KINDS)}")

    def after_backward(trained: "torch.nn.Module") -> None:
        regulariser.regularize(trained)

    return after_backward


def prune_unstructured(model: "torch.nn.Module", ratio: float, keep: Sequence[str] = ()) -> dict[str, Any]:
    """Zero the `ratio` smallest-magnitude conv/linear weights over the whole model (in place), except in `keep`.

    Returns {"sparsity": zeroed share of the pruned weights, "layers": {name: zeroed share}}.
    """
    import torch.nn as nn
    import torch.nn.utils.prune as torch_prune

    targets = [(name, module) for name, module in model.named_modules()
               if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) and name not in keep]
    if not targets:
        raise ConfigError("unstructured pruning found no conv or linear weights to prune")
    if ratio > 0:
        torch_prune.global_unstructured([(m, "weight") for _, m in targets], pruning_method=torch_prune.L1Unstructured,
                                        amount=ratio)
        for _, module in targets:
            torch_prune.remove(module, "weight")  # bake the mask into the weight: a plain dense tensor with zeros
    layers = {name: float((module.weight == 0).float().mean()) for name, module in targets}
    total = sum(m.weight.numel() for _, m in targets)
    zeros = sum(int((m.weight == 0).sum()) for _, m in targets)
    return {"sparsity": zeros / total, "layers": layers}


def keep_zeros(model: "torch.nn.Module") -> Callable[["torch.nn.Module"], None]:
    """An `after_backward` hook that stops training from regrowing weights that are exactly zero now."""
    import torch.nn as nn

    masks = {module: module.weight != 0 for module in model.modules()
             if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear))}

    def after_backward(trained: "torch.nn.Module") -> None:
        for module, mask in masks.items():
            if module.weight.grad is not None:
                module.weight.grad.mul_(mask.to(module.weight.grad.dtype))

    return after_backward
