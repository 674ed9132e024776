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

    with torch.random.fork_rng():  # seeded initial weights, without moving the caller's random stream
        torch.manual_seed(seed)
        if student_spec is not None:
            return build_model(student_spec, in_channels, num_classes)
        return build_model(teacher_spec, in_channels, num_classes, width=width)


def check_student(teacher_spec: str, student_spec: str | None, width: float | None, input_shape: tuple[int, ...],
                  num_classes: int) -> None:
    """Fail before any training when the student cannot be built, run on the data or be traced for export."""
    from ..models import check_runs, check_traceable

    model = custom_student(teacher_spec, student_spec, width, input_shape[0], num_classes, seed=0)
    if model is not None:
        what = student_spec or f"{teacher_spec} at width {width:g}"
        check_runs(model, input_shape, num_classes, what)
        check_traceable(model, input_shape, what)


def describe(student_spec: str | None, width: float | None) -> str:
    if student_spec is not None:
        return f"{student_spec} (from scratch)"
    if width is not None:
        return f"teacher architecture at width {width:g} (from scratch)"
    return "pruned teacher"
