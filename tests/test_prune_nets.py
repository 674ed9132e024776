"""Pruning on in-repo nets with the structures pruning libraries get wrong (tests/fixtures/prune_nets.py)."""
from __future__ import annotations

import pytest
import torch

from edgeprune.pruning import prune

from .fixtures.prune_nets import NETS, ShuffleNet
from .prune_checks import check_pruning, check_ratio_zero_is_identity, realistic

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("name", sorted(NETS))
def test_pruned_net_runs_shrinks_replays_exports_and_matches_its_zeroed_original(name, ratio, tmp_path):
    factory, shape = NETS[name]
    result = check_pruning(factory, shape, ratio, tmp_path)
    assert result.max_error <= 1e-5
    reasons = {g.root: g.reason for g in result.groups if not g.pruned}
    assert any("feeds the model's output" in (r or "") for r in reasons.values()), "the classifier must be kept"


@pytest.mark.parametrize("name", sorted(NETS))
def test_ratio_zero_leaves_the_model_untouched(name):
    check_ratio_zero_is_identity(*NETS[name])


def test_channel_shuffle_is_caught_by_the_output_check_and_left_whole():
    """Torch-Pruning maps the channels through view -> transpose -> view as if nothing moved: the check sees it."""
    result = prune(realistic(ShuffleNet()), torch.zeros(1, 3, 16, 16), ratio=0.5, round_to=8)
    caught = [g for g in result.groups if g.reason and "changes the outputs for the same weights" in g.reason]
    assert caught and all(not g.pruned for g in caught)
    assert any(g.pruned for g in result.groups), "the branch's inner width is still pruned"


def test_grouped_convs_keep_equal_groups():
    from .fixtures.prune_nets import ResNeXtNet

    result = prune(realistic(ResNeXtNet()), torch.zeros(1, 3, 16, 16), ratio=0.5, round_to=8)
    grouped = dict(result.model.named_modules())["blocks.0.1.0"]
    assert grouped.groups == 4 and grouped.in_channels % 4 == 0 and grouped.out_channels % 8 == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NETS))
def test_pruned_net_converts_to_tflite_with_equal_outputs(name, tmp_path):
    import numpy as np

    from edgeprune.export.runtime import run_tflite
    from edgeprune.export.tflite import export_tflite_fp32

    factory, shape = NETS[name]
    torch.manual_seed(0)
    model = prune(realistic(factory()), torch.zeros(1, *shape), ratio=0.5, round_to=8).model
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(4))
    export_tflite_fp32(model, x[:1], tmp_path / "model.tflite")
    got = run_tflite(tmp_path / "model.tflite", x.numpy())
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))
