"""Model specs -> nn.Module.

`example` (bundled reference CNN), `path/to/file.py:factory`, `package.module:factory`, `torchvision:NAME`.
A factory is called with no arguments, or with `num_classes=` when it accepts it. Weights come separately
(`load_weights`): safetensors, or a state dict read with `torch.load(weights_only=True)`; never a pickled module.
"""
from __future__ import annotations

from .resolve import build_model, check_runs, check_traceable, load_weights, model_fingerprint

__all__ = ["build_model", "check_runs", "check_traceable", "load_weights", "model_fingerprint"]
