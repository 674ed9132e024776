"""Which student layer is matched to which teacher layer, and how (kept channels or a learned adapter)."""
from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import ConfigError
from .features import FeaturePair, check_layers, parse_layers, stage_outputs


def feature_pairs(student: nn.Module, teacher: nn.Module, input_shape: tuple[int, ...], layers: str | None,
                  plan: Any = None) -> list[FeaturePair]:
    """Pairs for `--feature-layers` (None: each stage's output). With `plan` (the student is the pruned teacher),
    a layer matched to the teacher layer of the same name compares the channels the plan kept, one to one."""
    named = parse_layers(layers)
    if named is None:
        teacher_names = stage_outputs(teacher, input_shape)
        student_names = teacher_names if plan is not None else stage_outputs(student, input_shape)
        if len(student_names) != len(teacher_names):
            raise ConfigError(f"--feature-layers: the student has {len(student_names)} stages "
                              f"({', '.join(student_names)}) and the teacher {len(teacher_names)} "
                              f"({', '.join(teacher_names)}); name the pairs, e.g. --feature-layers "
                              f"{student_names[-1]}={teacher_names[-1]}")
        named = list(zip(student_names, teacher_names))
    check_layers(student, [s for s, _ in named], "student")
    check_layers(teacher, [t for _, t in named], "teacher")
    kept: dict[str, tuple[int, ...]] = {}
    if plan is not None:
        from .channels import kept_channels

        kept = kept_channels(teacher, plan, [t for s, t in named if s == t])
    return [FeaturePair(student=s, teacher=t, channels=kept.get(t) if s == t else None) for s, t in named]
