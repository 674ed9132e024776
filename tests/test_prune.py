import dataclasses

import numpy as np
import pytest
import torch

from edgeprune.models.example import example_net
from edgeprune.pruning import PrunePlan, apply_plan, layer_widths, prune_model

from tests.fixtures.user_models import small_net

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # and restores the count: later tests train on it

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

    with pytest.raises(ConfigError, match="known: bn-scale, l1, l2, random, taylor"):
        prune_model(small_net(), (1, 16, 16), 10, ratio=0.5, round_to=8, importance="taylor2")


# --- options of edgeprune.prune --------------------------------------------------------------------------------

def _digits_batches():
    from edgeprune.data import load_data

    data = load_data("digits")
    x = torch.from_numpy(np.kron(data.x_train[:256], np.ones((1, 1, 2, 2), np.float32)))
    return x, torch.from_numpy(data.y_train[:256].astype(np.int64))


def test_top_level_api_rounds_to_the_targets_multiple():
    import edgeprune

    result = edgeprune.prune(small_net(), torch.zeros(1, 1, 16, 16), ratio=0.5, target="rpi4")
    assert result.plan.round_to == 8
    assert all(g.channels_after % 8 == 0 for g in result.groups if g.pruned)
    assert result.max_error <= 1e-5


def test_taylor_needs_data_and_ranks_by_gradients():
    from edgeprune.errors import ConfigError
    from edgeprune.pruning import prune

    with pytest.raises(ConfigError, match="importance 'taylor' needs a few batches of real data"):
        prune(small_net(), torch.zeros(1, 1, 16, 16), ratio=0.5, importance="taylor")
    torch.manual_seed(0)
    model = small_net().eval()
    taylor = prune(model, torch.zeros(1, 1, 16, 16), ratio=0.5, importance="taylor", data=_digits_batches())
    l2 = prune(model, torch.zeros(1, 1, 16, 16), ratio=0.5, importance="l2")
    assert layer_widths(taylor.model) == layer_widths(l2.model)  # same widths ...
    assert [h[2] for h in taylor.plan.history] != [h[2] for h in l2.plan.history]  # ... other channels


def test_layer_ratios_max_ratio_ignore_and_global():
    from edgeprune.pruning import prune

    torch.manual_seed(0)
    model = example_net(1, 10).eval()
    x = torch.zeros(1, 1, 28, 28)
    before = layer_widths(model)
    custom = prune(model, x, ratio=0.5, round_to=8, layer_ratios={"features.0": 0.75}, ignore=["features.4"])
    widths = layer_widths(custom.model)
    assert widths["features.0"] == before["features.0"] // 4
    assert widths["features.4"] == before["features.4"]
    assert any(g.reason == "ignored by request" for g in custom.groups)
    capped = prune(model, x, ratio=0.5, round_to=8, layer_ratios={"features.0": 0.75}, max_layer_ratio=0.5)
    assert layer_widths(capped.model)["features.0"] == before["features.0"] // 2
    ranked = prune(model, x, ratio=0.5, round_to=8, global_pruning=True)
    assert ranked.max_error <= 1e-5 and _params(ranked.model) < _params(model)


def test_unknown_layer_names_are_a_clear_error():
    from edgeprune.errors import ConfigError
    from edgeprune.pruning import prune

    with pytest.raises(ConfigError, match="no layer named 'features.44'; did you mean 'features.4'"):
        prune(example_net(1, 10), torch.zeros(1, 1, 28, 28), ratio=0.5, ignore=["features.44"])


def test_iterative_pruning_calls_the_finetune_between_steps():
    from edgeprune.pruning import prune

    calls = []
    one = prune(example_net(1, 10).eval(), torch.zeros(1, 1, 28, 28), ratio=0.5, round_to=8)
    three = prune(example_net(1, 10).eval(), torch.zeros(1, 1, 28, 28), ratio=0.5, round_to=8, steps=3,
                  between_steps=lambda model, step: calls.append((step, _params(model))))
    assert [step for step, _ in calls] == [1, 2]
    assert calls[0][1] > calls[1][1] > _params(three.model)  # each step removes more
    assert layer_widths(three.model) == layer_widths(one.model)  # and ends at the same rounded widths
    assert len(three.removed) == 3 and three.max_error <= 1e-5


def test_plan_replay_on_another_architecture_fails_clearly(tmp_path):
    from edgeprune.errors import ModelError

    _, plan = prune_model(small_net(), (1, 16, 16), 10, ratio=0.5, round_to=8)
    plan.save(tmp_path / "plan.json")
    with pytest.raises(ModelError, match="plan.json was made for another architecture"):
        apply_plan(example_net(1, 10), PrunePlan.load(tmp_path / "plan.json"))


def test_sparsity_training_shrinks_bn_scales_and_unstructured_keeps_its_zeros():
    from edgeprune.data import load_data
    from edgeprune.distill.trainer import TrainSettings, train
    from edgeprune.pruning.sparsity import keep_zeros, prune_unstructured, sparsity_regulariser

    data = load_data("digits")
    settings = TrainSettings(epochs=2, batch_size=64, seed=0, augment=False)

    def bn_l1(strength):
        torch.manual_seed(0)
        model = example_net(1, 10)
        hook = sparsity_regulariser("bn-l1", model, torch.zeros(1, 1, 8, 8), strength) if strength else None
        # with AdamW a constant L1 push moves a scale by about the learning rate per step: enough steps to show it
        train(model, data, dataclasses.replace(settings, batch_size=16, learning_rate=1e-2), after_backward=hook)
        return sum(float(m.weight.detach().abs().sum()) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))

    assert bn_l1(0.1) < 0.5 * bn_l1(0.0)

    torch.manual_seed(0)
    model = example_net(1, 10)
    info = prune_unstructured(model, 0.6, keep=["classifier"])
    assert 0.59 <= info["sparsity"] <= 0.61 and "classifier" not in info["layers"]
    assert float((model.classifier.weight == 0).float().mean()) == 0.0
    zeros = {n: (m.weight == 0) for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    train(model, data, settings, after_backward=keep_zeros(model))
    for name, module in model.named_modules():
        if name in zeros:
            assert bool((module.weight[zeros[name]] == 0).all()), name
