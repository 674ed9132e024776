"""Distillation losses: Hinton soft targets, hard labels, and feature matching."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

LOSSES = ("kd", "hard", "kd+feature")  # --distill-loss


def hard_loss(student_logits: torch.Tensor, labels: torch.Tensor, *, label_smoothing: float = 0.0) -> torch.Tensor:
    """Plain cross-entropy on the labels: fine-tuning without a teacher."""
    return F.cross_entropy(student_logits, labels, label_smoothing=label_smoothing)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, *,
            temperature: float, alpha: float, label_smoothing: float = 0.0) -> torch.Tensor:
    """alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, labels).

    T^2 keeps the soft term's gradient on the same scale as the hard term's whatever T is (Hinton et al., 2015).
    """
    hard = hard_loss(student_logits, labels, label_smoothing=label_smoothing)
    if alpha == 0.0:
        return hard
    t = float(temperature)
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * t * t * soft + (1.0 - alpha) * hard


def feature_loss(student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the relative squared error ||s - t||^2 / ||t||^2.

    Relative, not plain MSE: activation scales differ by orders of magnitude between layers and models, and a
    scale-free term lets one weight (`feature-weight`) mean the same thing everywhere.
    """
    if len(student) != len(teacher) or not student:
        raise ValueError(f"feature_loss: {len(student)} student and {len(teacher)} teacher features")
    terms = []
    for s, t in zip(student, teacher):
        if s.shape != t.shape:
            raise ValueError(f"feature_loss: student feature {tuple(s.shape)} vs teacher {tuple(t.shape)}")
        terms.append((s - t).pow(2).sum() / t.pow(2).sum().clamp_min(1e-12))
    return torch.stack(terms).mean()
