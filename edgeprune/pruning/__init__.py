"""Structured channel pruning on Torch-Pruning's dependency graph, verified, and recorded as a replayable plan."""
from __future__ import annotations

from .plan import PrunePlan, apply_plan, load_pruned
from .pruner import GroupReport, PruneResult, check_options, layer_widths, prune, prune_model

__all__ = ["GroupReport", "PrunePlan", "PruneResult", "apply_plan", "check_options", "layer_widths", "load_pruned", "prune",
           "prune_model"]
