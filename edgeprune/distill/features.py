"""Feature distillation: which layers to match, and how a student's features meet the teacher's.

A pruned student keeps a subset of the teacher's channels in every layer, so each kept channel is matched to
the same channel of the teacher (indices from distill/channels.py): no extra parameters. A student of another
architecture gets a learned 1x1 adapter per matched layer that maps its channels onto the teacher's (FitNets,
Romero et al., 2015); adapters train with the student and are thrown away afterwards.

Layers are named by module (`--feature-layers features.3,features.7`, or `student=teacher` pairs when the names
differ) or chosen automatically: the output of each stage, i.e. the last module output at each spatial size.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError


@dataclass(frozen=True)
class FeaturePair:
    student: str  # module name in the student
    teacher: str  # module name in the teacher
    channels: tuple[int, ...] | None = None  # teacher channels the (pruned) student kept; None: learned adapter


@contextlib.contextmanager
def capture(model: nn.Module, names: Sequence[str]) -> Iterator[list[torch.Tensor | None]]:
    """Record the outputs of the named modules during the forward passes inside the block (latest call wins)."""
    modules = dict(model.named_modules())
    outputs: list[torch.Tensor | None] = [None] * len(names)
    handles = []
    for i, name in enumerate(names):
        def hook(module: nn.Module, args: object, output: torch.Tensor, i: int = i) -> None:
            outputs[i] = output
        handles.append(modules[name].register_forward_hook(hook))
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def check_layers(model: nn.Module, names: Sequence[str], which: str) -> None:
    known = dict(model.named_modules())
    for name in names:
        if not name or name not in known:
            import difflib

            close = difflib.get_close_matches(name, [n for n in known if n], n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"--feature-layers: the {which} has no layer '{name}'{hint}")


@torch.no_grad()
def stage_outputs(model: nn.Module, input_shape: tuple[int, ...]) -> list[str]:
    """The module that ends each stage: the last 4-D module output before the spatial size changes.

    Where several nested modules return the same tensor (a block and its final ReLU), the outer one is named.
    Pooling layers are skipped: they only resample the stage before them (a global pool adds nothing).
    """
    was_training = model.training
    model.eval()
    seen: list[tuple[str, torch.Tensor]] = []
    pools = (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
             nn.modules.pooling._AvgPoolNd, nn.modules.pooling._MaxPoolNd)
    handles = [module.register_forward_hook(lambda m, a, out, name=name: seen.append((name, out)))
               for name, module in model.named_modules() if name and not isinstance(module, pools)]
    try:
        model(torch.zeros((2, *input_shape)))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    ends: list[tuple[str, torch.Tensor]] = []
    for name, out in seen:
        if not isinstance(out, torch.Tensor) or out.ndim != 4:
            continue
        if ends and ends[-1][1].shape[-2:] == out.shape[-2:]:
            previous_name, previous = ends[-1]
            same = out is previous and len(previous_name) < len(name)
            ends[-1] = (previous_name, previous) if same else (name, out)
        else:
            ends.append((name, out))
    return [name for name, _ in ends]


def parse_layers(text: str | None) -> list[tuple[str, str]] | None:
    """`a,b` -> [(a, a), (b, b)]; `s=t` pairs a student layer with a differently named teacher layer; None: auto."""
    if text is None or text.strip() in ("", "auto"):
        return None
    pairs = []
    for item in text.split(","):
        student, _, teacher = item.strip().partition("=")
        if not student.strip():
            raise ConfigError(f"--feature-layers: empty layer name in {text!r}")
        pairs.append((student.strip(), (teacher or student).strip()))
    return pairs


def probe(model: nn.Module, names: Sequence[str], input_shape: tuple[int, ...]) -> list[torch.Tensor]:
    """The named modules' outputs for a batch of zeros (eval mode, no gradients; the model's mode is restored)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), capture(model, names) as outputs:
            model(torch.zeros((2, *input_shape)))
    finally:
        model.train(was_training)
    for name, out in zip(names, outputs):
        if not isinstance(out, torch.Tensor) or out.ndim not in (2, 4):
            raise ConfigError(f"--feature-layers: layer '{name}' does not output a 2-D or 4-D tensor; pick another")
    return outputs


def output_channels(model: nn.Module, names: Sequence[str], input_shape: tuple[int, ...]) -> list[int]:
    """Channel count (dim 1) of each named module's output."""
    return [int(out.shape[1]) for out in probe(model, names, input_shape)]


def _adapter(student_channels: int, teacher_channels: int, ndim: int) -> nn.Module:
    if ndim == 4:
        return nn.Conv2d(student_channels, teacher_channels, 1, bias=False)
    return nn.Linear(student_channels, teacher_channels, bias=False)


class FeatureStudent(nn.Module):
    """The student plus its adapters, as one module so DDP averages the adapters' gradients too.

    forward(x) -> (logits, [student features in the teacher's channel space, one per pair]).
    """

    def __init__(self, student: nn.Module, pairs: Sequence[FeaturePair], input_shape: tuple[int, ...],
                 teacher_channels: Sequence[int]) -> None:
        super().__init__()
        self.student = student
        self.names = [p.student for p in pairs]
        adapters = []
        for pair, ct, out in zip(pairs, teacher_channels, probe(student, self.names, input_shape)):
            cs = int(out.shape[1])
            if pair.channels is not None:
                if len(pair.channels) != cs:
                    raise ConfigError(f"--feature-layers: student layer '{pair.student}' has {cs} channels but "
                                      f"{len(pair.channels)} kept teacher channels were found")
                adapters.append(nn.Identity())
            else:
                adapters.append(_adapter(cs, ct, out.ndim))
        self.adapters = nn.ModuleList(adapters)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with capture(self.student, self.names) as outputs:
            logits = self.student(x)
        return logits, [adapter(out) for adapter, out in zip(self.adapters, outputs)]


@torch.no_grad()
def teacher_features(teacher: nn.Module, x: torch.Tensor, pairs: Sequence[FeaturePair],
                     student_features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Teacher logits and its features cut to what each student feature is compared with: the kept channels of a
    pruned student, and the student's spatial size when it differs (average pooling)."""
    with capture(teacher, [p.teacher for p in pairs]) as outputs:
        logits = teacher(x)
    targets = []
    for pair, out, s in zip(pairs, outputs, student_features):
        if pair.channels is not None:
            out = out[:, list(pair.channels)]
        if out.ndim == 4 and out.shape[-2:] != s.shape[-2:]:
            out = F.adaptive_avg_pool2d(out, s.shape[-2:])
        targets.append(out)
    return logits, targets
