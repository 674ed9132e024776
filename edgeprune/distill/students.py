"""The student: the pruned teacher (default), a width-scaled copy of the teacher's architecture, or any model spec.

A width-scaled copy and a user spec start from fresh weights (seeded) and learn everything from the teacher,
which is how "prune a large model, then distil into a small one" runs as one build.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def custom_student(teacher_spec: str, student_spec: str | None, width: float | None, in_channels: int,
                   num_classes: int, seed: int) -> "torch.nn.Module | None":
    """A freshly initialised student when `student_spec` or `width` is given, else None (the pruned teacher)."""
    if student_spec is None and width is None:
        return None
    import torch

    from ..models import build_model

    torch.manual_seed(seed)
    if student_spec is not None:
        return build_model(student_spec, in_channels, num_classes)
    return build_model(teacher_spec, in_channels, num_classes, width=width)


def describe(student_spec: str | None, width: float | None) -> str:
    if student_spec is not None:
        return f"{student_spec} (from scratch)"
    if width is not None:
        return f"teacher architecture at width {width:g} (from scratch)"
    return "pruned teacher"
