import numpy as np
import pytest
import torch

from edgeprune.models.example import example_net
from edgeprune.pruning import PrunePlan, apply_plan, prune_model
from edgeprune.pruning.pruner import layer_widths
from tests.fixtures.user_models import small_net

MODELS = {"example": (lambda: example_net(1, 10), (1, 28, 28)), "small_net": (small_net, (1, 16, 16))}


def _params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("ratio,round_to", [(0.5, 8), (0.3, 16)])
def test_prune_removes_channels_rounds_widths_and_replays(name, ratio, round_to, tmp_path):
    factory, shape = MODELS[name]
    torch.manual_seed(0)
    teacher = factory().eval()
    for module in teacher.modules():  # non-trivial BN statistics so a wrong replay would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student, plan = prune_model(teacher, shape, 10, ratio=ratio, round_to=round_to)

    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items()), "teacher must stay untouched"
    assert _params(student) < _params(teacher)
    widths = layer_widths(student)
    for layer, width in widths.items():
        if layer in plan.ignored:
            assert width == 10
        else:
            assert width > 0 and (width % round_to == 0 or width == plan.widths_before[layer]), (layer, width)
    x = torch.randn(3, *shape)
    with torch.no_grad():
        assert student(x).shape == (3, 10)

    plan.save(tmp_path / "plan.json")
    replayed = apply_plan(factory(), PrunePlan.load(tmp_path / "plan.json"))
    replayed.load_state_dict(student.state_dict())
    replayed.eval()
    with torch.no_grad():
        assert torch.allclose(replayed(x), student(x), atol=1e-6)


def test_ratio_zero_keeps_the_architecture():
    teacher = small_net().eval()
    student, plan = prune_model(teacher, (1, 16, 16), 10, ratio=0.0, round_to=8)
    assert layer_widths(student) == layer_widths(teacher) and plan.history == ()


def test_corrupt_plan_is_a_clear_error(tmp_path):
    from edgeprune.errors import InputFileError

    path = tmp_path / "plan.json"
    path.write_text('{"schema": 1, "history": "nope"}')
    with pytest.raises(InputFileError, match="not a valid edgeprune plan"):
        PrunePlan.load(path)


def test_unknown_importance_lists_the_known_ones():
    from edgeprune.errors import ConfigError

    with pytest.raises(ConfigError, match="known: bn-scale, l1, l2, random"):
        prune_model(small_net(), (1, 16, 16), 10, ratio=0.5, round_to=8, importance="taylor2")
