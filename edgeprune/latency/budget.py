"""Widths that meet a latency budget: a NetAdapt-style greedy search on the latency model's predictions.

Start from the unpruned model. At each step, try shrinking every prunable group (the coupled layers Torch-Pruning
finds) by one width step, predict the latency of each candidate, and commit the one with the most predicted
milliseconds saved per unit of accuracy cost (`_Group.cost`; the group's lowest-ranked channels go first). The
cost is measured when data is at hand (`sensitivity_table`: each group pruned alone to each width, scored on
images, see pruning/sensitivity.py), else it is the importance lost relative to what the group keeps. Stop when
the prediction is within the budget. Above one channel tile the step is the tile the calibration found (when it is
a multiple of the target's channel multiple): widths between tiles cost as much or more, so they only lose
accuracy. Below one tile it is the target's multiple. Latency depends on shapes alone, so candidates are shaped
copies (which channels go does not matter); the build then prunes the real channels with these widths.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import BudgetError
from .costmodel import LatencyModel
from .predict import predict_model

if TYPE_CHECKING:
    import numpy as np
    import torch


MIN_DAMAGE = 1e-4  # nats of KL divergence


@dataclass(frozen=True)
class _Group:
    root: str
    channels: int
    floor: int  # the narrowest width allowed
    scores: "np.ndarray"  # channel importance, ascending, normalised to mean 1
    damage: dict[int, float] | None = None  # measured: width -> score of the model with this group alone at it

    def widths(self, step: int, round_to: int) -> list[int]:
        """The widths the search may give this group, widest first: multiples of `step` down to one step, then
        multiples of `round_to` (a layer narrower than one channel tile still runs faster the narrower it is: an
        int8 3x3 conv at 32 channels took 0.76x its time at 64 on an AMX Xeon, benchmarks/channel_steps.py)."""
        found = [self.channels]
        while True:
            unit = step if found[-1] > step else max(1, round_to)
            if (narrower := max(self.floor, (found[-1] - 1) // unit * unit)) >= found[-1]:
                return found
            found.append(narrower)

    def cost(self, width: int, narrower: int) -> float:
        """What shrinking from `width` to `narrower` channels costs. Measured: the increase of the damage score
        (at least MIN_DAMAGE: below it, differences are noise and the larger saving should decide). Else the log
        of the share of the group's kept importance that remains: losing a fixed amount of importance costs more
        the less the group keeps (8 of 16 channels is a bigger loss than 8 of 48)."""
        if self.damage is not None:
            return max(self.damage[narrower] - self.damage[width], MIN_DAMAGE)
        kept = float(self.scores[self.channels - width:].sum())
        return math.log(kept / max(float(self.scores[self.channels - narrower:].sum()), 1e-12))


@dataclass
class SearchResult:
    widths: dict[str, tuple[int, int]]  # group root -> (channels before, kept)
    predicted_ms: float
    unpruned_ms: float
    step: int
    trace: list[dict[str, Any]] = field(default_factory=list)  # every committed step

    def widths_kept(self) -> dict[str, int]:
        return {root: kept for root, (_, kept) in self.widths.items()}

    def layer_ratios(self) -> dict[str, float]:
        """The widths as `prune(layer_ratios=...)` takes them."""
        return {root: 1 - kept / before for root, (before, kept) in self.widths.items() if kept < before}


def width_step(round_to: int, block: int) -> int:
    """The calibration's channel tile when it is a multiple of the target's multiple, else that multiple."""
    round_to = max(1, round_to)
    return block if block > round_to and block % round_to == 0 else round_to


def _groups(model: "torch.nn.Module", example: "torch.Tensor", *, round_to: int, importance: str,
            ignore: Sequence[str], max_layer_ratio: float) -> list[_Group]:
    import numpy as np
    import torch.nn as nn
    import torch_pruning as tp

    from ..pruning.groups import module_names, survey
    from ..pruning.importance import IMPORTANCE

    work = copy.deepcopy(model).eval()
    graph = tp.DependencyGraph().build_dependency(work, example_inputs=example)
    names = module_names(work)
    scorer = IMPORTANCE.get(importance)()
    infos = {info.root: info for info in survey(graph, work, example, min_channels=round_to,
                                                root_types=(nn.modules.conv._ConvNd, nn.Linear))}
    found = []
    for group in graph.get_all_groups(ignored_layers=[], root_module_types=(nn.modules.conv._ConvNd, nn.Linear)):
        root = names.get(group[0].dep.target.module, "?")
        info = infos.get(root)
        if info is None or info.blocked or any(root == i or root.startswith(i + ".") for i in ignore):
            continue
        scores = np.sort(np.asarray(scorer(group).detach().cpu(), dtype=float))
        scores = scores / max(float(scores.mean()), 1e-12)
        floor = max(round_to, math.ceil(info.channels * (1 - max_layer_ratio) / round_to) * round_to)
        if floor < info.channels:
            found.append(_Group(root, info.channels, floor, scores))
    return found


def shaped(model: "torch.nn.Module", example: "torch.Tensor", widths: dict[str, int]) -> "torch.nn.Module":
    """A copy of `model` with each group's root at the given width (the first channels removed)."""
    import torch_pruning as tp

    work = copy.deepcopy(model).eval()
    graph = tp.DependencyGraph().build_dependency(work, example_inputs=example)
    modules = dict(work.named_modules())
    for root, kept in widths.items():
        module = modules[root]
        current = int(graph.get_out_channels(module))
        if kept < current:
            graph.get_pruning_group(module, graph.get_pruner_of_module(module).prune_out_channels,
                                    idxs=list(range(current - kept))).prune()
    return work


def sensitivity_table(model: "torch.nn.Module", example: "torch.Tensor", score: Callable[["torch.nn.Module"], float],
                      step: int, *, round_to: int, importance: str = "l2", ignore: Sequence[str] = (),
                      max_layer_ratio: float = 1.0, progress: Any = None) -> dict[str, dict[int, float]]:
    """For every prunable group, `score` of the model with that group alone pruned (its lowest-ranked channels, as
    the prune stage would) to each width the search may give it: {group root: {width: score}}."""
    from ..pruning import prune

    table: dict[str, dict[int, float]] = {}
    for group in _groups(model, example, round_to=round_to, importance=importance, ignore=ignore,
                         max_layer_ratio=max_layer_ratio):
        table[group.root] = {group.channels: score(copy.deepcopy(model))}
        for width in group.widths(step, round_to)[1:]:
            pruned = prune(model, example, ratio=0.0, round_to=round_to, importance=importance, ignore=ignore,
                           layer_ratios={group.root: 1 - width / group.channels}).model
            table[group.root][width] = score(pruned)
        if progress is not None:
            progress(f"[budget] {group.root}: damage by width "
                     + ", ".join(f"{w}: {d:.4f}" for w, d in table[group.root].items()))
    return table


def search(model: "torch.nn.Module", example: "torch.Tensor", latency: LatencyModel, budget_ms: float, *,
           round_to: int, importance: str = "l2", ignore: Sequence[str] = (), max_layer_ratio: float = 1.0,
           damage: dict[str, dict[int, float]] | None = None, progress: Any = None) -> SearchResult:
    """The widths whose predicted latency is within `budget_ms` (see the module docstring); BudgetError when even
    the narrowest widths allowed are predicted over it. `damage` is a `sensitivity_table` (same step)."""
    shape = tuple(example.shape[1:])
    step = width_step(round_to, latency.block)
    groups = _groups(model, example, round_to=round_to, importance=importance, ignore=ignore,
                     max_layer_ratio=max_layer_ratio)
    if damage is not None:
        groups = [replace(g, damage=damage[g.root]) for g in groups]
    kept = {g.root: g.channels for g in groups}
    current = unpruned = predict_model(model, shape, latency).total_ms
    trace: list[dict[str, Any]] = []
    while current > budget_ms:
        best: tuple[float, _Group, int, float] | None = None
        for group in groups:
            narrower = [w for w in group.widths(step, round_to) if w < kept[group.root]]
            if not narrower:
                continue
            width = narrower[0]
            candidate = predict_model(shaped(model, example, {**kept, group.root: width}), shape, latency).total_ms
            value = (current - candidate) / max(group.cost(kept[group.root], width), 1e-9)
            if current - candidate > 0 and (best is None or value > best[0]):
                best = (value, group, width, candidate)
        if best is None:
            narrowest = SearchResult({g.root: (g.channels, kept[g.root]) for g in groups}, current, unpruned, step, trace)
            raise BudgetError(f"latency budget {budget_ms:g} ms cannot be met: the best achievable is "
                              f"{current:.4f} ms (predicted, {latency.runtime} {latency.dtype}, {latency.threads} "
                              f"threads) at the narrowest widths allowed (multiples of {round_to}, max layer ratio "
                              f"{max_layer_ratio:g}); raise the budget or allow narrower layers", narrowest)
        _, group, width, current = best
        trace.append({"group": group.root, "width": [kept[group.root], width], "predicted_ms": round(current, 5)})
        kept[group.root] = width
        if progress is not None:
            progress(f"[budget] {group.root}: {trace[-1]['width'][0]} -> {width} channels, "
                     f"predicted {current:.4f} ms (budget {budget_ms:g} ms)")
    return SearchResult({g.root: (g.channels, kept[g.root]) for g in groups}, current, unpruned, step, trace)
