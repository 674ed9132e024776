"""Zero, in a copy of the unpruned model, exactly the channels a pruning removes, everywhere they flow.

A correct pruning computes the same function as that zeroed copy (a removed channel contributes nothing, and a
kept channel is untouched), so comparing the two on real inputs catches any index the dependency graph got wrong
(concat offsets, grouped convs, channel shuffles, flatten -> linear) and any layer whose kept channels depend on the
removed ones (LayerNorm statistics). Zeroing happens on both sides of a channel: the producer's weights, bias and
BatchNorm (weight, bias, running mean), and the consumers' input weights.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    import torch

# (module name, True for output channels / False for input channels, channel indices)
Member = tuple[str, bool, tuple[int, ...]]


class CannotZero(Exception):
    """A layer type whose channels this module does not know how to zero (so a pruning of it cannot be checked)."""


def zero_members(model: "torch.nn.Module", members: Iterable[Member]) -> None:
    """Zero every member's channels in `model` (in place)."""
    import torch

    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, is_out, idxs in members:
            _zero(modules[name], is_out, list(idxs))


def _zero(module: "torch.nn.Module", is_out: bool, idxs: list[int]) -> None:
    import torch.nn as nn

    if not idxs:
        return
    if isinstance(module, nn.modules.conv._ConvNd):
        _zero_conv(module, is_out, idxs)
    elif isinstance(module, nn.Linear):
        if is_out:
            module.weight[idxs] = 0
            if module.bias is not None:
                module.bias[idxs] = 0
        else:
            module.weight[:, idxs] = 0
    elif isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
                             nn.LayerNorm, nn.GroupNorm)):
        for tensor in (module.weight, module.bias, getattr(module, "running_mean", None)):
            if tensor is not None:
                tensor[idxs] = 0
    elif isinstance(module, nn.Embedding):
        module.weight[:, idxs] = 0
    elif unsupported(module):
        raise CannotZero(unsupported(module))


def unsupported(module: "torch.nn.Module") -> str | None:
    """The layer type, when its channels cannot be zeroed here; None when they can."""
    import torch.nn as nn

    known = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
             nn.LayerNorm, nn.GroupNorm, nn.Embedding, nn.PReLU)  # PReLU(0) = 0: nothing to zero
    if isinstance(module, nn.modules.conv._ConvNd) and module.transposed and module.groups != 1:
        return f"grouped {type(module).__name__}"
    if isinstance(module, known) or not any(True for _ in module.parameters(recurse=False)):
        return None  # weightless modules (pooling, activations) pass zeros through
    return type(module).__name__


def _zero_conv(conv: "torch.nn.Module", is_out: bool, idxs: list[int]) -> None:
    weight = conv.weight
    depthwise = conv.groups > 1 and conv.groups == conv.in_channels
    if conv.transposed:  # weight: (in, out / groups, ...); grouped ones are refused by unsupported()
        if is_out:
            weight[:, idxs] = 0
            if conv.bias is not None:
                conv.bias[idxs] = 0
        else:
            weight[idxs] = 0
        return
    if depthwise:  # a depthwise channel is one input, one filter and one output: all go together
        out_per_in = conv.out_channels // conv.in_channels
        rows = [c * out_per_in + k for c in idxs for k in range(out_per_in)] if not is_out else idxs
        weight[rows] = 0
        if conv.bias is not None:
            conv.bias[rows] = 0
    elif is_out:
        weight[idxs] = 0
        if conv.bias is not None:
            conv.bias[idxs] = 0
    else:  # weight: (out, in / groups, ...); input channel c feeds only its group's output rows
        in_per_group, out_per_group = conv.in_channels // conv.groups, conv.out_channels // conv.groups
        for c in idxs:
            group = c // in_per_group
            weight[group * out_per_group:(group + 1) * out_per_group, c % in_per_group] = 0
