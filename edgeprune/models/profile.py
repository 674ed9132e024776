"""Per-layer MACs and parameters of a torch model, counted with Torch-Pruning's op counter.

`layer_table(teacher, student, input_shape)` is what the prune stage records in report.json under
`models.pruned.layers` (the student has the pruned model's architecture; distillation changes weights only):

    {"source": "computed", "model": COUNTER, "input_shape": [1, 28, 28], "unit": {"macs": "MAC", "params": "count"},
     "rows": [{"name": "features.0", "type": "Conv2d", "macs_teacher": 200704, "macs_student": 100352,
               "params_teacher": 320, "params_student": 160}, ...]}

Rows are the modules the counter counts as a unit (a module it has a formula for, or a leaf it has none for:
those count 0 MACs), in model order, leaving out units with neither MACs nor parameters. The rows' MACs add
up to the model's total MAC count, the figure in `models.*.macs`. A value is None when the layer is not in
that model.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import torch

COUNTER = ("torch-pruning count_ops_and_params(layer_wise=True), batch 1: counted from layer shapes "
           "(conv/linear multiply-accumulates + bias, batch norm 2 per element, ReLU / pooling 1 per element; "
           "functional ops such as torch.relu or x + y are not counted), not a latency measurement")


def _units(module: "torch.nn.Module", prefix: str = "") -> Iterator[tuple[str, "torch.nn.Module"]]:
    """The modules whose counts make up the total, as the counter's own recursion walks them."""
    from torch_pruning.utils.op_counter import is_supported_instance

    children = list(module.named_children())
    if is_supported_instance(module) or not children:
        yield prefix or "(model)", module
        return
    for name, child in children:
        yield from _units(child, f"{prefix}.{name}" if prefix else name)


def layer_counts(model: "torch.nn.Module", input_shape: tuple[int, ...]) -> dict[str, tuple[str, int, int]]:
    """{module name: (type name, MACs, parameters)} for one forward pass of a (1, *input_shape) zero input."""
    import torch
    import torch_pruning as tp

    _, _, macs, params = tp.utils.count_ops_and_params(model, torch.zeros((1, *input_shape)), layer_wise=True)
    return {name: (type(m).__name__, int(macs.get(m) or 0), int(params.get(m) or 0)) for name, m in _units(model)}


def layer_table(teacher: "torch.nn.Module", student: "torch.nn.Module", input_shape: tuple[int, ...]) -> dict[str, Any]:
    """The teacher's and the student's per-layer MACs and parameters side by side (see the module docstring)."""
    before, after = layer_counts(teacher, input_shape), layer_counts(student, input_shape)
    rows = []
    for name in [*before, *(n for n in after if n not in before)]:
        t, s = before.get(name), after.get(name)
        row = {"name": name, "type": (t or s)[0]}
        for i, key in ((1, "macs"), (2, "params")):
            row[f"{key}_teacher"], row[f"{key}_student"] = (None if t is None else t[i]), (None if s is None else s[i])
        if any(row[k] for k in row if k not in ("name", "type")):
            rows.append(row)
    return {"source": "computed", "model": COUNTER, "input_shape": list(input_shape),
            "unit": {"macs": "MAC", "params": "count"}, "rows": rows}
