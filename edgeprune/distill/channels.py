"""Which of the teacher's channels a pruned student kept, for any module output (per-channel feature matching).

plan.json records removals per dependency group, not per module output, so the mapping is read back by
replaying the plan on a tagged copy of the teacher: every BatchNorm (or, without one, every biased conv /
linear layer) outputs the constant `channel index + 1` on its channel, and the copy is pruned with the plan.
Module outputs built from those layers (BN, ReLU, residual sums of one channel group, pooling) then carry a
value per channel that is a one-to-one function of the teacher channel, and each student channel is matched
to the teacher channel with the same value.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from ..errors import ModelError
from .features import probe


def _tag(model: nn.Module) -> nn.Module:
    """A copy whose BN (or biased conv/linear) layers output their channel index + 1, whatever their input."""
    tagged = copy.deepcopy(model).eval()
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in tagged.modules())
    with torch.no_grad():
        for module in tagged.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.zero_()
                module.bias.copy_(torch.arange(1, module.num_features + 1, dtype=module.bias.dtype))
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
            elif not has_bn and isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) and module.bias is not None:
                module.weight.zero_()
                module.bias.copy_(torch.arange(1, module.bias.numel() + 1, dtype=module.bias.dtype))
    return tagged


def _channel_values(model: nn.Module, names: Sequence[str], input_shape: tuple[int, ...]) -> list[torch.Tensor]:
    """One value per output channel of each named module (the spatial mean of a constant map)."""
    return [out.double().flatten(2).mean(2)[0] if out.ndim == 4 else out.double()[0]
            for out in probe(model, names, input_shape)]


def kept_channels(teacher: nn.Module, plan, names: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """For each named module: the teacher's output channels, in the student's order, that the plan kept."""
    from ..pruning import apply_plan

    tagged = _tag(teacher)
    before = _channel_values(tagged, names, plan.input_shape)
    after = _channel_values(apply_plan(_tag(teacher), plan), names, plan.input_shape)
    result = {}
    for name, full, kept in zip(names, before, after):
        lookup: dict[float, int] = {}
        for index, value in enumerate(full.tolist()):
            if value in lookup or value == 0.0:
                lookup[value] = -1  # ambiguous: no one-to-one tag on this output
            else:
                lookup[value] = index
        indices = [lookup.get(value, -1) for value in kept.tolist()]
        if -1 in indices or len(set(indices)) != len(indices):
            raise ModelError(f"--feature-layers: cannot tell which teacher channels layer '{name}' kept (its output "
                             "is not built from BatchNorm or biased layers channel by channel); pick a layer that "
                             "ends in BatchNorm, e.g. one of the automatic stage outputs")
        result[name] = tuple(indices)
    return result
