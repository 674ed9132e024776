"""Training checkpoints: written atomically at the end of every epoch, so a killed run resumes where it stopped.

A checkpoint holds everything the next epoch depends on (weights, optimizer and scheduler state, the data /
augmentation generator and torch's global RNG, history, best weights so far) plus a key naming the run
(settings and starting weights): a checkpoint of another run is ignored, never resumed from.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import InputFileError
from ..fileio import atomic_path


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path | None, key: str) -> dict[str, Any] | None:
    """The checkpoint at `path` if it belongs to the run `key`, else None (no file, or another run's)."""
    if path is None or not Path(path).is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # atomic writes make this rare: a file damaged after it was written
        raise InputFileError(f"{path}: unreadable training checkpoint ({type(exc).__name__}); delete it to "
                             "start this training from scratch") from None
    return state if isinstance(state, dict) and state.get("key") == key else None


def remove_checkpoint(path: Path | None) -> None:
    if path is not None:
        Path(path).unlink(missing_ok=True)
