"""Structured channel pruning on Torch-Pruning's dependency graph, recorded as a replayable plan."""
from __future__ import annotations

from .plan import PrunePlan, apply_plan, load_pruned
from .pruner import prune_model

__all__ = ["PrunePlan", "apply_plan", "load_pruned", "prune_model"]
