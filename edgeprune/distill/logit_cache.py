"""Teacher logits computed once per training image and view, so distillation costs about what fine-tuning costs.

With flip-only augmentation (the default) a training image has just two views, as it is and mirrored, and the
teacher runs in eval mode, so its logits for a batch are a lookup: row `index` of the plain or the flipped
table. Both tables are filled before the first epoch in batches of `batch_size`. The student still sees the
very view the teacher scored ("consistent" teaching, Beyer et al., 2022). Random shifts make the views too many
to enumerate: the trainer then runs the teacher per batch as before.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import StageError


@dataclass(frozen=True)
class TeacherLogits:
    """Logits of every training image: `plain[i]` for image i, `flipped[i]` for its mirror (None: no flips)."""

    plain: torch.Tensor
    flipped: torch.Tensor | None = None

    def lookup(self, index: torch.Tensor, flipped: torch.Tensor | None = None) -> torch.Tensor:
        """The teacher's logits for images `index`, mirrored where the boolean mask `flipped` is set."""
        rows = self.plain[index]
        if flipped is None:
            return rows
        if self.flipped is None:
            raise StageError("teacher logit cache: a flipped view was asked for, but flips were not cached")
        return torch.where(flipped[:, None], self.flipped[index], rows)


@torch.no_grad()
def _logits(teacher: nn.Module, x: torch.Tensor, batch_size: int, memory_format: torch.memory_format) -> torch.Tensor:
    """Teacher logits for every row of `x`, computed `batch_size` rows at a time in `memory_format`."""
    parts = [teacher(x[i:i + batch_size].contiguous(memory_format=memory_format)) for i in range(0, len(x), batch_size)]
    return torch.cat(parts).detach()


def cache_teacher_logits(teacher: nn.Module, x: torch.Tensor, *, flip: bool, batch_size: int = 500,
                         memory_format: torch.memory_format = torch.contiguous_format) -> TeacherLogits:
    """Score every row of `x` with `teacher` in eval mode, and, when `flip`, every image (N, C, H, W) mirrored."""
    if flip and x.dim() != 4:
        raise StageError(f"teacher logit cache: flipped views need images (N, C, H, W), got shape {tuple(x.shape)}")
    teacher.eval()
    plain = _logits(teacher, x, batch_size, memory_format)
    mirrored = _logits(teacher, x.flip(3), batch_size, memory_format) if flip else None
    return TeacherLogits(plain=plain, flipped=mirrored)
