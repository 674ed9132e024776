"""Importance criteria by name, wrapping Torch-Pruning's: which channels of a group matter least."""
from __future__ import annotations

from typing import Any, Callable

from ..registry import Registry

IMPORTANCE: Registry[Callable[[], Any]] = Registry("importance criterion")
NEEDS_DATA = frozenset({"taylor"})  # criteria that read loss gradients on real batches


@IMPORTANCE.register("l1")
def _l1() -> Any:
    import torch_pruning as tp

    return tp.importance.MagnitudeImportance(p=1)


@IMPORTANCE.register("l2")
def _l2() -> Any:
    import torch_pruning as tp

    return tp.importance.MagnitudeImportance(p=2)


@IMPORTANCE.register("bn-scale")
def _bn_scale() -> Any:
    import torch_pruning as tp

    return tp.importance.BNScaleImportance()


@IMPORTANCE.register("random")
def _random() -> Any:
    import torch_pruning as tp

    return tp.importance.RandomImportance()


@IMPORTANCE.register("taylor")
def _taylor() -> Any:
    """First-order Taylor expansion of the loss, |weight x gradient| (Molchanov et al. 2019)."""
    import torch_pruning as tp

    return tp.importance.GroupTaylorImportance()
