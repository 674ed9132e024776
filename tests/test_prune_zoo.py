"""Pruning torchvision's zoo (random weights, 10 classes, small inputs): every architecture the issue names.

Each model at ratios 0.3 / 0.5 / 0.7 must run, lose MACs and parameters, keep its output shape, keep widths in
multiples of 8, match its zeroed original, replay from plan.json bit-identically and export to ONNX with equal
outputs (tests/prune_checks.py). At 0.5 it must also convert to TFLite with equal outputs. shufflenet_v2's channel
shuffle is refused with an error naming the layer.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeprune.errors import ModelError
from edgeprune.pruning import prune

from .prune_checks import check_pruning, check_ratio_zero_is_identity, realistic

torchvision = pytest.importorskip("torchvision")

# name: (extra factory arguments, input side, slow)
ZOO = {
    "resnet18": ({}, 32, False),
    "mobilenet_v2": ({}, 32, False),
    "mobilenet_v3_small": ({}, 32, False),
    "squeezenet1_1": ({}, 64, False),
    "mnasnet0_5": ({}, 32, False),
    "resnet50": ({}, 32, True),
    "efficientnet_b0": ({}, 32, True),
    "regnet_y_400mf": ({}, 32, True),
    "densenet121": ({}, 32, True),
    "convnext_tiny": ({}, 32, True),
    "vit_b_16": ({"image_size": 32}, 32, True),
}


def _factory(name):
    extra, _, _ = ZOO[name]
    return lambda: getattr(torchvision.models, name)(weights=None, num_classes=10, **extra)


def _cases(ratios):
    return [pytest.param(name, ratio, marks=[pytest.mark.slow] if ZOO[name][2] or ratio != 0.5 else [])
            for name in ZOO for ratio in ratios]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name,ratio", _cases([0.3, 0.5, 0.7]))
def test_zoo_model_prunes_safely(name, ratio, tmp_path):
    side = ZOO[name][1]
    result = check_pruning(_factory(name), (3, side, side), ratio, tmp_path)
    assert not [g for g in result.groups if g.reason and "changes the outputs" in g.reason], \
        "the dependency graph got a group wrong (caught and left whole, but the zoo should prune cleanly)"
    if name in ("convnext_tiny", "vit_b_16"):  # residual widths live under LayerNorm: kept, with the reason
        assert any(g.reason and "LayerNorm" in g.reason for g in result.groups)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ZOO))
def test_pruned_zoo_model_converts_to_tflite_with_equal_outputs(name, tmp_path):
    from edgeprune.export.runtime import run_tflite
    from edgeprune.export.tflite import export_tflite_fp32

    side = ZOO[name][1]
    torch.manual_seed(0)
    model = prune(realistic(_factory(name)()), torch.zeros(1, 3, side, side), ratio=0.5, round_to=8).model
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(4))
    export_tflite_fp32(model, x[:1], tmp_path / "model.tflite")
    got = run_tflite(tmp_path / "model.tflite", x.numpy())
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if ZOO[n][2] else []) for n in ZOO])
def test_zoo_model_at_ratio_zero_is_untouched(name):
    side = ZOO[name][1]
    check_ratio_zero_is_identity(_factory(name), (3, side, side))


def test_channel_shuffle_of_shufflenet_is_refused_naming_the_layer():
    model = torchvision.models.shufflenet_v2_x1_0(weights=None, num_classes=10).eval()
    with pytest.raises(ModelError, match=r"'stage2\.0' reshapes \(1, 116, 8, 8\) -> \(1, 2, 58, 8, 8\)"):
        prune(model, torch.zeros(1, 3, 64, 64), ratio=0.5, round_to=8)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "squeezenet1_1", "mnasnet0_5",
                                  pytest.param("densenet121", marks=pytest.mark.slow),
                                  pytest.param("efficientnet_b0", marks=pytest.mark.slow)])
def test_mac_count_agrees_with_torch_flop_counter(name):
    """A second counter: torch.utils.flop_counter on the conv/linear work (2 FLOPs per MAC).

    Ours also counts one add per output for a bias; the flop counter does not, so those are added to its figure.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from edgeprune.models.profile import layer_counts

    side = ZOO[name][1]
    for model in (_factory(name)().eval(),
                  prune(_factory(name)().eval(), torch.zeros(1, 3, side, side), ratio=0.5, round_to=8).model):
        ours = sum(macs for kind, macs, _ in layer_counts(model, (3, side, side)).values() if kind in ("Conv2d", "Linear"))
        bias_adds = []
        hooks = [m.register_forward_hook(lambda m, i, o: bias_adds.append(o.numel())) for m in model.modules()
                 if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None]
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.zeros(1, 3, side, side))
        for hook in hooks:
            hook.remove()
        theirs = counter.get_total_flops() // 2 + sum(bias_adds)
        assert ours == theirs, (ours, theirs)
