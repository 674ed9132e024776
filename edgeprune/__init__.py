"""edgeprune: prune, distil, export and benchmark a PyTorch model for an edge device."""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_pruned(factory: Any, plan: Any, weights: Any) -> Any:
    """Rebuild a pruned student from its factory, plan.json and student.safetensors (no pickle)."""
    from .prune import load_pruned as _load_pruned

    return _load_pruned(factory, plan, weights)


__all__ = ["__version__", "load_pruned"]
