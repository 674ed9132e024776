"""How much each group's pruning hurts, measured on data: what the budget search trades latency against.

A weight-norm importance says which channels of a group to remove, but not which group can lose channels at the
least cost to accuracy. So each group is pruned alone to every allowed width, its batch-norm statistics are
re-estimated on a few training batches (adaptive batch norm: EagleEye, Li et al. 2020, found the accuracy of a
pruned network after this step ranks candidates much like their accuracy after fine-tuning), and the damage is
scored as the KL divergence of its outputs from the unpruned model's on the same images: no labels needed, and
what distillation will then try to undo.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

BATCH = 128


def divergence_scorer(reference: "torch.nn.Module", images: "torch.Tensor") -> Callable[["torch.nn.Module"], float]:
    """A function scoring a pruned copy of `reference`: mean KL(reference || copy) over `images`, both with their
    batch-norm statistics re-estimated on those images (so the unpruned model scores 0). The copy is modified."""
    import copy

    import torch

    def outputs(model: "torch.nn.Module") -> "torch.Tensor":
        recalibrate_batch_norm(model, images)
        with torch.no_grad():
            return torch.cat([torch.log_softmax(model(batch), 1) for batch in images.split(BATCH)])

    targets = outputs(copy.deepcopy(reference))

    def score(model: "torch.nn.Module") -> float:
        return float(torch.nn.functional.kl_div(outputs(model), targets, log_target=True, reduction="batchmean"))

    return score


def recalibrate_batch_norm(model: "torch.nn.Module", images: "torch.Tensor") -> None:
    """Replace every batch-norm layer's running statistics by their plain average over `images` (then eval mode)."""
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for batch in images.split(BATCH):
            model(batch)
    model.eval()
