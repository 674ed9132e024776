"""The pruning groups of a model (Torch-Pruning's dependency graph), and why a group must stay whole.

A group is a set of coupled layers whose channels are removed together: a conv, its BatchNorm, every layer that
reads its output, and everything tied to it by residual adds or concatenations. edgeprune leaves a group unpruned,
and says why, when pruning it would not be a plain removal of channels: when it feeds the model's output, when its
channels are normalised together (LayerNorm, GroupNorm: the statistics of the kept channels would change), when it
runs through attention or recurrent layers whose widths are tied to other widths, or when a layer in it has weights
edgeprune cannot check.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .zeroing import Member, unsupported

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class GroupInfo:
    """One pruning group as found before pruning."""

    root: str  # the module whose output channels define the group
    layers: tuple[str, ...]  # every coupled layer, "name (out)" / "name (in)"
    channels: int  # prunable channels of the root
    blocked: str | None  # why it stays unpruned, or None when it can be pruned


def module_names(model: "torch.nn.Module") -> dict[Any, str]:
    return {module: name for name, module in model.named_modules()}


def group_members(graph: Any, group: Any, names: dict[Any, str]) -> tuple[Member, ...]:
    """The group's weighted layers with their channel indices (Torch-Pruning op nodes carry no weights)."""
    from torch_pruning._helpers import to_plain_idxs

    members = []
    for dep, idxs in group:
        module = dep.target.module
        if module in names:
            members.append((names[module], graph.is_out_channel_pruning_fn(dep.handler),
                            tuple(sorted(int(i) for i in to_plain_idxs(idxs)))))
    return tuple(members)


def _layer_label(member: Member) -> str:
    return f"{member[0]} ({'out' if member[1] else 'in'})"


def output_layers(model: "torch.nn.Module", example: "torch.Tensor") -> set[str]:
    """Names of the modules whose output tensor is (part of) the model's output."""
    import torch

    produced: dict[int, tuple[Any, str]] = {}  # holds the tensors too, so that no id is reused

    def remember(name: str) -> Any:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            produced.setdefault(id(output), (output, name))  # the innermost module that made it hooks first
        return hook

    hooks = [module.register_forward_hook(remember(name)) for name, module in model.named_modules() if name]
    try:
        with torch.no_grad():
            out = model(example)
    finally:
        for hook in hooks:
            hook.remove()
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return {produced[id(o)][1] for o in outs if id(o) in produced}


def channel_reshapes(model: "torch.nn.Module", example: "torch.Tensor") -> list[str]:
    """Where the forward pass reshapes the channel axis (other than flattening to 2-D), e.g. a channel shuffle.

    Torch-Pruning's graph cannot follow such reshapes; this names them, module and shapes, for the error message.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    from ..models.module_stack import module_stack

    found: list[str] = []

    class Watch(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            name = getattr(func, "__name__", "")
            if name in ("view", "reshape") and isinstance(out, torch.Tensor) and isinstance(args[0], torch.Tensor):
                before, after = tuple(args[0].shape), tuple(out.shape)
                if len(before) >= 3 and len(after) >= 3 and before[1] != after[1]:
                    found.append(f"'{stack[-1] or 'the model itself'}' reshapes {before} -> {after}")
            return out

    with module_stack(model) as stack, torch.no_grad(), Watch():
        model(example)
    return found


def blocking_reason(graph: Any, group: Any, names: dict[Any, str], min_channels: int,
                    outputs: set[str]) -> str | None:
    """Why this group must not be pruned, or None."""
    import torch.nn as nn
    from torch_pruning import ops

    for dep, _ in group:
        module = dep.target.module
        label = names.get(module, type(module).__name__)
        if isinstance(module, ops._OutputOp) or (label in outputs and graph.is_out_channel_pruning_fn(dep.handler)):
            return "feeds the model's output directly: every output channel is kept"
        if dep.target.type == ops.OPTYPE.PARAMETER:
            return "includes a bare parameter (e.g. a positional embedding or class token) tied to this width"
        if isinstance(module, nn.LayerNorm) or (isinstance(module, nn.GroupNorm)
                                                and module.num_groups != module.num_channels):
            return (f"normalised together by {type(module).__name__} '{label}': removing channels would change the "
                    "statistics of the channels kept")
        if isinstance(module, nn.MultiheadAttention):
            return (f"runs through nn.MultiheadAttention '{label}', whose head width is tied to the residual width "
                    "(its embed_dim); attention heads are kept")
        if isinstance(module, nn.RNNBase):
            return f"runs through recurrent layer '{label}': its gate widths are kept"
    channels = graph.get_out_channels(group[0].dep.target.module)
    if channels is None or channels < min_channels:
        return f"has {channels} channels, fewer than the target's channel multiple ({min_channels})"
    for dep, _ in group:
        if dep.target.module in names and unsupported(dep.target.module):
            return f"includes a {unsupported(dep.target.module)} layer, whose channels edgeprune cannot check"
    return None


def survey(graph: Any, model: "torch.nn.Module", example: "torch.Tensor", *, min_channels: int,
           root_types: tuple[type, ...]) -> list[GroupInfo]:
    """Every pruning group of `model` with its blocking reason (or None), in graph order."""
    names = module_names(model)
    outputs = output_layers(model, example)
    found = []
    for group in graph.get_all_groups(ignored_layers=[], root_module_types=root_types):
        members = group_members(graph, group, names)
        found.append(GroupInfo(root=names.get(group[0].dep.target.module, "?"),
                                layers=tuple(_layer_label(m) for m in members),
                                channels=int(graph.get_out_channels(group[0].dep.target.module) or 0),
                                blocked=blocking_reason(graph, group, names, min_channels, outputs)))
    return found
