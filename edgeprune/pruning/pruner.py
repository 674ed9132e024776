"""Structured pruning: Torch-Pruning does the graph and the surgery; edgeprune chooses, rounds, and checks.

Every step is verified against the unpruned model with the removed channels zeroed (zeroing.py): the pruned model
must compute the same function within 1e-5 (relative to its output scale). A group that fails that check is found,
left whole with the reason, and the pruning is redone without it: edgeprune never returns a model whose outputs are
wrong for its weights.
"""
from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..errors import ConfigError, ModelError
from .groups import GroupInfo, channel_reshapes, group_members, module_names, survey
from .importance import IMPORTANCE, NEEDS_DATA
from .plan import PrunePlan, architecture_digest
from .zeroing import Member, zero_members

if TYPE_CHECKING:
    import torch

TOLERANCE = 1e-5  # max |pruned - zeroed original| / max(1, max |zeroed original|)


@dataclass(frozen=True)
class GroupReport:
    """One row of the prunability report: a group of coupled layers, its channels, and why it was not pruned."""

    root: str
    layers: tuple[str, ...]
    channels_before: int
    channels_after: int
    pruned: bool
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "layers": list(self.layers), "channels_before": self.channels_before,
                "channels_after": self.channels_after, "pruned": self.pruned, "reason": self.reason}


@dataclass(frozen=True)
class PruneResult:
    model: "torch.nn.Module"
    plan: PrunePlan
    groups: tuple[GroupReport, ...]
    max_error: float  # the largest verification error over all steps (relative, see TOLERANCE)
    removed: tuple[tuple[Member, ...], ...] = ()  # per step: every layer's removed channels, in that step's numbering


def layer_widths(model: "torch.nn.Module") -> dict[str, int]:
    """Output channels / features of every conv and linear layer, by module name."""
    import torch.nn as nn

    widths = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            widths[name] = module.out_channels
        elif isinstance(module, nn.Linear):
            widths[name] = module.out_features
    return widths


def _pruner_class() -> type:
    import torch_pruning as tp

    class RoundingPruner(tp.pruner.BasePruner):
        """Rounds kept widths to the nearest multiple of the target's, but never below one multiple (never zero)."""

        def _round_to(self, n_pruned: int, current_channels: int, round_to: int) -> int:
            keep = max(round_to, round((current_channels - n_pruned) / round_to) * round_to)
            return max(current_channels - keep, 0)

    return RoundingPruner


def _first_tensor(out: Any) -> "torch.Tensor":
    while isinstance(out, (tuple, list)):  # e.g. (logits, aux logits)
        out = out[0]
    return out


def _output(model: "torch.nn.Module", x: "torch.Tensor") -> "torch.Tensor":
    import torch

    with torch.no_grad():
        return _first_tensor(model(x))


def relative_error(model: "torch.nn.Module", reference: "torch.nn.Module", x: "torch.Tensor") -> float:
    """max |model(x) - reference(x)| / max(1, max |reference(x)|)."""
    want = _output(reference, x)
    try:
        got = _output(model, x)
    except RuntimeError:  # shapes no longer fit: the graph missed a dependency
        return float("inf")
    if got.shape != want.shape:
        return float("inf")
    return float((got - want).abs().max()) / max(1.0, float(want.abs().max()))


def _check_layer_names(model: "torch.nn.Module", names: Sequence[str], option: str) -> None:
    known = [n for n, _ in model.named_modules() if n]
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{option}: the model has no layer named '{name}'{hint}")


def check_options(model: "torch.nn.Module", *, importance: str, ignore: Sequence[str],
                  layer_ratios: Mapping[str, float]) -> None:
    """Fail early, naming the option, on an unknown criterion or a layer name the model does not have."""
    IMPORTANCE.get(importance)  # lists the known names
    _check_layer_names(model, list(ignore), "ignore")
    _check_layer_names(model, list(layer_ratios), "layer ratios")


def _is_under(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def prune(
    model: "torch.nn.Module",
    example_inputs: "torch.Tensor",
    *,
    ratio: float = 0.5,
    round_to: int = 1,
    importance: str = "l2",
    layer_ratios: Mapping[str, float] | None = None,
    max_layer_ratio: float = 1.0,
    ignore: Sequence[str] = (),
    global_pruning: bool = False,
    steps: int = 1,
    between_steps: Callable[["torch.nn.Module", int], None] | None = None,
    data: tuple["torch.Tensor", "torch.Tensor"] | None = None,
) -> PruneResult:
    """Return a pruned copy of `model` (the original is untouched), its replayable plan and the prunability report.

    ratio: share of each group's channels to remove (or of all channels with `global_pruning`); layer_ratios
    overrides it per layer (module name -> ratio); max_layer_ratio caps any layer. round_to: kept widths are
    multiples of it (the target's channel multiple). steps > 1 prunes iteratively, calling
    `between_steps(model, step)` after each step but the last (e.g. a short fine-tune). data: a few batches of real
    (inputs, labels), needed by the `taylor` criterion and used as the verification inputs when given.
    """
    import torch

    if not 0.0 <= ratio < 1.0:
        raise ConfigError(f"prune ratio must be in [0, 1), got {ratio}")
    if steps < 1:
        raise ConfigError(f"prune steps must be >= 1, got {steps}")
    if importance in NEEDS_DATA and data is None:
        raise ConfigError(f"importance '{importance}' needs a few batches of real data (pass data=(x, y))")
    check_options(model, importance=importance, ignore=ignore, layer_ratios=layer_ratios or {})
    base = copy.deepcopy(model).eval()
    probe = torch.randn((4, *example_inputs.shape[1:]), generator=torch.Generator().manual_seed(0))
    if data is not None:  # real samples too: they reach the ranges a trained model's layers really see
        probe = torch.cat([data[0][:16].float(), probe])
    settings = dict(ratio=ratio, round_to=max(1, round_to), importance=importance, layer_ratios=dict(layer_ratios or {}),
                    max_layer_ratio=max_layer_ratio, ignore=tuple(ignore), global_pruning=global_pruning, steps=steps)
    unsafe: dict[str, str] = {}
    for _ in range(8):
        outcome = _attempt(base, example_inputs, probe, settings, unsafe, between_steps, data)
        if isinstance(outcome, PruneResult):
            return outcome
        unsafe.update(outcome)
    raise ModelError("pruning kept failing its output check; layers excluded so far: " + ", ".join(unsafe))


def _attempt(base: "torch.nn.Module", example: "torch.Tensor", probe: "torch.Tensor", settings: dict[str, Any],
             unsafe: dict[str, str], between_steps: Any, data: Any) -> "PruneResult | dict[str, str]":
    """One pruning run; returns the result, or {root layer: reason} for groups whose pruning failed the check."""
    import torch.nn as nn
    import torch_pruning as tp
    from torch_pruning._helpers import to_plain_idxs

    student = copy.deepcopy(base).eval()
    names = module_names(student)
    modules = dict(student.named_modules())
    round_to = settings["round_to"]
    try:
        graph = tp.DependencyGraph().build_dependency(student, example_inputs=example)
    except Exception as exc:  # the graph tracer fails on code it cannot follow: say where, in one line
        reshapes = channel_reshapes(student, example)
        where = (f"; the channel axis is reshaped where the graph cannot follow it: {'; '.join(reshapes[:2])}"
                 " (e.g. a channel shuffle)" if reshapes else "")
        raise ModelError(f"pruning could not trace the model ({type(exc).__name__}: {str(exc)[:120]}){where}; "
                         "build it with --prune-ratio 0, or restructure those layers") from None
    infos: list[GroupInfo] = []
    ratios: dict[Any, float] = {}
    for info in survey(graph, student, example, min_channels=round_to, root_types=(nn.modules.conv._ConvNd, nn.Linear)):
        outs = [layer.split(" (")[0] for layer in info.layers if layer.endswith("(out)")]
        reason = info.blocked or unsafe.get(info.root)
        if reason is None and any(_is_under(name, settings["ignore"]) for name in outs):  # its outputs are kept
            reason = "ignored by request"
        if reason is None and not settings["global_pruning"]:
            ratio = next((settings["layer_ratios"][n] for n in outs if n in settings["layer_ratios"]), settings["ratio"])
            members = [layer.split(" (")[0] for layer in info.layers]
            ratios[modules[info.root]] = _rounded_ratio(min(ratio, settings["max_layer_ratio"]), info.channels,
                                                        _channel_groups(modules, members), round_to)
        infos.append(GroupInfo(info.root, info.layers, info.channels, reason))
    ignored = [modules[i.root] for i in infos if i.blocked] + [modules[n] for n in settings["ignore"]]
    pruner = _pruner_class()(
        student, example, importance=IMPORTANCE.get(settings["importance"])(), pruning_ratio=settings["ratio"],
        pruning_ratio_dict=ratios or None, max_pruning_ratio=settings["max_layer_ratio"],
        global_pruning=settings["global_pruning"], iterative_steps=settings["steps"], ignored_layers=ignored,
        # local pruning gets exact multiples from _rounded_ratio; global ranking rounds inside Torch-Pruning
        round_to=round_to if round_to > 1 and settings["global_pruning"] else None,
    )

    worst = 0.0
    removed = []
    for step in range(1, settings["steps"] + 1):
        if settings["importance"] in NEEDS_DATA:
            _accumulate_gradients(student, data)
        before_step = copy.deepcopy(student)
        reference = copy.deepcopy(student)
        # Torch-Pruning scores every group before it yields the first, so listing them all first gives the same
        # removals, with every group's indices in the unpruned model's numbering (what the reference needs).
        # Each is then pruned in turn, rebuilt on the graph as it stands (concat offsets shift as groups go).
        done = [(names[group[0].dep.target.module], to_plain_idxs(group[0].idxs),
                 group_members(pruner.DG, group, names)) for group in pruner.step(interactive=True)]
        for root, idxs, members in done:
            zero_members(reference, members)
            module = modules[root]
            pruner.DG.get_pruning_group(module, pruner.DG.get_pruner_of_module(module).prune_out_channels, idxs).prune()
        student.zero_grad(set_to_none=True)
        error = relative_error(student, reference, probe)
        if not error <= TOLERANCE:
            return _localise(before_step, example, probe, done, error)
        worst = max(worst, error)
        removed.append(tuple(member for _, _, members in done for member in members))
        if between_steps is not None and step < settings["steps"]:
            between_steps(student, step)
            student.eval()

    whole = f"kept whole at this ratio (widths in multiples of {round_to})"
    report = []
    for info in infos:
        after = int(pruner.DG.get_out_channels(modules[info.root]) or 0)
        pruned = after < info.channels
        report.append(GroupReport(root=info.root, layers=info.layers, channels_before=info.channels,
                                  channels_after=after, pruned=pruned,
                                  reason=info.blocked or (None if pruned else whole)))
    history = pruner.DG.pruning_history()
    plan = PrunePlan(
        input_shape=tuple(example.shape[1:]), ratio=settings["ratio"], round_to=round_to,
        importance=settings["importance"],
        history=tuple((str(n), bool(o), tuple(int(i) for i in idx)) for n, o, idx in history),
        widths_before=layer_widths(base), widths_after=layer_widths(student),
        ignored=tuple(r.root for r in report if r.reason and not r.pruned),
        architecture=architecture_digest(base), steps=settings["steps"],
    )
    return PruneResult(model=student, plan=plan, groups=tuple(report), max_error=worst, removed=tuple(removed))


def _channel_groups(modules: dict[str, Any], layers: Sequence[str]) -> int:
    """Channel groups a width must keep equal (grouped, not depthwise, convs reading or writing it)."""
    import math

    import torch.nn as nn

    groups = 1
    for name in layers:
        module = modules[name]
        if isinstance(module, nn.modules.conv._ConvNd) and 1 < module.groups < module.out_channels:
            groups = math.lcm(groups, module.groups)
    return groups


def _rounded_ratio(ratio: float, channels: int, groups: int, round_to: int) -> float:
    """The ratio Torch-Pruning needs so the kept width is the nearest multiple of round_to (at least one).

    With channel groups, each group keeps the same number, so that number is a multiple of
    round_to / gcd(round_to, groups). The half channel makes Torch-Pruning's int() land exactly on the width.
    """
    import math

    if ratio <= 0.0:
        return 0.0  # ratio 0 keeps every width as it is, even one that is not a multiple
    per_group = channels // groups
    unit = round_to // math.gcd(round_to, groups)
    keep = max(unit, round(per_group * (1.0 - ratio) / unit) * unit)
    if keep >= per_group:
        return 0.0
    return 1.0 - (keep + 0.5) / per_group


def _accumulate_gradients(model: "torch.nn.Module", data: tuple["torch.Tensor", "torch.Tensor"]) -> None:
    """Loss gradients over the given batches (first-order Taylor importance reads weight * grad)."""
    import torch.nn.functional as F

    x, y = data
    model.zero_grad(set_to_none=True)
    for i in range(0, len(x), 64):
        F.cross_entropy(_first_tensor(model(x[i:i + 64])), y[i:i + 64]).backward()


def _localise(before: "torch.nn.Module", example: "torch.Tensor", probe: "torch.Tensor",
              done: list[tuple[str, list[int], Any]], error: float) -> dict[str, str]:
    """Prune each group of the failed step alone to find the ones that break the outputs."""
    import torch_pruning as tp

    bad = {}
    for root, idxs, members in done:
        single = copy.deepcopy(before)
        graph = tp.DependencyGraph().build_dependency(single, example_inputs=example)
        module = dict(single.named_modules())[root]
        graph.get_pruning_group(module, graph.get_pruner_of_module(module).prune_out_channels, idxs).prune()
        reference = copy.deepcopy(before)
        zero_members(reference, members)
        alone = relative_error(single, reference, probe)
        if not alone <= TOLERANCE:
            bad[root] = (f"removing its channels changes the outputs for the same weights (error {alone:.1e}): the "
                         "dependency graph does not map its channels correctly (e.g. through a reshape or shuffle)")
    if not bad:
        raise ModelError(f"the pruned model's outputs differ from the original's with the removed channels zeroed "
                         f"(error {error:.1e}), and no single layer group explains it; refusing to prune")
    return bad


def prune_model(teacher: "torch.nn.Module", input_shape: tuple[int, ...], num_classes: int, *, ratio: float,
                round_to: int, importance: str = "l2") -> tuple["torch.nn.Module", PrunePlan]:
    """The build's short form: prune `teacher` for inputs of `input_shape`; returns (student, plan)."""
    import torch

    result = prune(teacher, torch.zeros((1, *input_shape)), ratio=ratio, round_to=round_to, importance=importance)
    out = _output(result.model, torch.zeros((1, *input_shape)))
    if out.shape[-1] != num_classes:
        raise ModelError(f"pruning changed the output to {tuple(out.shape)}; expected {num_classes} classes")
    return result.model, result.plan
