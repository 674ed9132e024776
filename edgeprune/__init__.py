"""edgeprune: prune, distil, export and benchmark a PyTorch model for an edge device."""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_pruned(factory: Any, plan: Any, weights: Any) -> Any:
    """Rebuild a pruned student from its factory, plan.json and student.safetensors (no pickle)."""
    from .pruning import load_pruned as _load_pruned

    return _load_pruned(factory, plan, weights)


def prune(model: Any, example_inputs: Any, **options: Any) -> Any:
    """Prune a torch model: returns a PruneResult (model, plan, prunability report); see pruning.pruner.prune.

    `target=` (a profile name, file or TargetProfile) sets `round_to` to the profile's channel multiple.
    """
    from .pruning import prune as _prune

    target = options.pop("target", None)
    if target is not None and "round_to" not in options:
        from .targets import TargetProfile, load_target

        profile = target if isinstance(target, TargetProfile) else load_target(str(target))
        options["round_to"] = profile.channel_multiple
    return _prune(model, example_inputs, **options)


__all__ = ["__version__", "load_pruned", "prune"]
