"""The checks every pruned architecture must pass (test nets and torchvision zoo alike)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch_pruning as tp

from edgeprune.export.onnx import export_onnx
from edgeprune.export.runtime import run_onnx
from edgeprune.pruning import PrunePlan, PruneResult, apply_plan, layer_widths, prune
from edgeprune.pruning.pruner import relative_error
from edgeprune.pruning.zeroing import zero_members

ROUND_TO = 8


def realistic(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics and scales, as in a trained model, so a wrong index shows in the outputs."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(torch.rand(module.running_mean.shape, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
                if module.affine:
                    module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                    module.bias.copy_(torch.rand(module.bias.shape, generator=generator) * 0.4 - 0.2)
    return model.eval()


def counts(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, int]:
    macs, params = tp.utils.count_ops_and_params(model, x)
    return int(macs), int(params)


def check_pruning(factory: Callable[[], torch.nn.Module], shape: tuple[int, ...], ratio: float, tmp_path: Path,
                  *, expect_smaller: bool = True) -> PruneResult:
    """Prune at `ratio` and assert everything the pruning issue promises; returns the result for extra checks."""
    torch.manual_seed(0)
    original = realistic(factory())
    before_state = {k: v.clone() for k, v in original.state_dict().items()}
    x = torch.randn((3, *shape), generator=torch.Generator().manual_seed(2))
    example = torch.zeros((1, *shape))
    result = prune(original, example, ratio=ratio, round_to=ROUND_TO)
    student = result.model
    assert all(torch.equal(before_state[k], v) for k, v in original.state_dict().items()), "the original was changed"

    with torch.no_grad():
        want_shape = original(x).shape
        assert student(x).shape == want_shape, "pruning changed the output shape"
    macs0, params0 = counts(original, example)
    macs1, params1 = counts(student, example)
    if expect_smaller:
        assert macs1 < macs0 and params1 < params0, (macs0, macs1, params0, params1)

    for group in result.groups:  # target-aware widths: multiples of the channel multiple, never zero
        if group.pruned:
            assert 0 < group.channels_after < group.channels_before
            assert group.channels_after % ROUND_TO == 0, (group.root, group.channels_after)
        else:
            assert group.reason and group.channels_after == group.channels_before
    assert all(width > 0 for width in layer_widths(student).values())

    # Silent corruption: zero exactly what pruning removes, everywhere it flows, then prune the zeroed model.
    # Zeroed channels score lowest, so the same channels go, and the result must equal the zeroed original.
    if result.removed:
        zeroed = copy.deepcopy(original)
        zero_members(zeroed, result.removed[0])
        again = prune(zeroed, example, ratio=ratio, round_to=ROUND_TO)
        assert [set(h[2]) for h in again.plan.history] == [set(h[2]) for h in result.plan.history]
        assert relative_error(again.model, zeroed, x) <= 1e-5

    # Replay: plan.json on a fresh model of the original architecture gives bit-identical outputs.
    result.plan.save(tmp_path / "plan.json")
    replayed = apply_plan(factory(), PrunePlan.load(tmp_path / "plan.json"))
    replayed.load_state_dict(student.state_dict())
    replayed.eval()
    with torch.no_grad():
        assert torch.equal(replayed(x), student(x))

    # The exported ONNX computes what the pruned torch model computes.
    export_onnx(student, example, tmp_path / "model.onnx")
    got = run_onnx(tmp_path / "model.onnx", x.numpy())
    with torch.no_grad():
        want = student(x).numpy()
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))
    return result


def check_ratio_zero_is_identity(factory: Callable[[], torch.nn.Module], shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    original = realistic(factory())
    result = prune(original, torch.zeros((1, *shape)), ratio=0.0, round_to=ROUND_TO)
    x = torch.randn((2, *shape), generator=torch.Generator().manual_seed(3))
    assert result.plan.history == () and layer_widths(result.model) == layer_widths(original)
    with torch.no_grad():
        assert torch.equal(result.model(x), original(x))
