"""The training loop and KD loss: loss identities, learning on real data, determinism."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgeprune.data import load_data
from edgeprune.distill.trainer import TrainSettings, augment_batch, evaluate, kd_loss, predict_logits, train
from edgeprune.models.example import example_net

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


def _logits(seed: int, n: int = 32, k: int = 10) -> torch.Tensor:
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed)) * 3


def test_kd_loss_is_cross_entropy_when_alpha_is_zero():
    s, t = _logits(0), _logits(1)
    y = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(2))
    for smoothing in (0.0, 0.1):
        got = kd_loss(s, t, y, temperature=4.0, alpha=0.0, label_smoothing=smoothing)
        assert torch.allclose(got, F.cross_entropy(s, y, label_smoothing=smoothing))


def test_kd_loss_is_zero_for_identical_logits_and_nonnegative():
    s, t = _logits(0), _logits(1)
    y = torch.randint(0, 10, (32,), generator=torch.Generator().manual_seed(2))
    assert float(kd_loss(s, s.clone(), y, temperature=4.0, alpha=1.0)) == pytest.approx(0.0, abs=1e-5)
    for alpha in (0.0, 0.5, 0.7, 1.0):
        assert float(kd_loss(s, t, y, temperature=2.0, alpha=alpha)) >= 0.0
    # the soft term is T^2 * KL(p_t || p_s), batch mean
    temp = 3.0
    p_t = F.softmax(t / temp, 1)
    expected = temp**2 * (p_t * (p_t.log() - F.log_softmax(s / temp, 1))).sum(1).mean()
    assert torch.allclose(kd_loss(s, t, y, temperature=temp, alpha=1.0), expected, atol=1e-5)


def test_augment_shifts_and_flips_within_bounds():
    x = torch.arange(4 * 1 * 6 * 6, dtype=torch.float32).reshape(4, 1, 6, 6)
    out = augment_batch(x, torch.Generator().manual_seed(0), max_shift=2, flip=True)
    assert out.shape == x.shape
    assert not torch.equal(out, x)
    for i in range(4):  # every output value comes from the same image
        assert set(out[i].flatten().tolist()) <= set(x[i].flatten().tolist())
    same = augment_batch(x, torch.Generator().manual_seed(0), max_shift=2, flip=True)
    assert torch.equal(out, same)


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_example_net_runs_on_8x8_and_28x28(width):
    model = example_net(1, 10, width=width).eval()
    assert all(c % 8 == 0 for c in model.widths)
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert example_net(3, 7)(torch.zeros(1, 3, 16, 16)).shape == (1, 7)


def test_one_epoch_on_digits_learns_and_is_deterministic(digits):
    settings = TrainSettings(epochs=1, batch_size=64, learning_rate=3e-3, seed=3)
    models = []
    for _ in range(2):
        torch.manual_seed(0)  # weight initialisation is the caller's; train() seeds everything after it
        model = example_net(1, digits.num_classes)
        result = train(model, digits, settings)
        models.append(model)
    assert not models[0].training
    assert len(result["history"]) == 1
    row = result["history"][0]
    assert set(row) == {"epoch", "train_loss", "test_accuracy", "seconds"}
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert result["test_accuracy"] > 0.5  # chance is 0.1
    assert result["test_accuracy"] == pytest.approx(evaluate(models[0], digits.x_test, digits.y_test))
    for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values()):
        assert torch.equal(a, b)
    for p in models[0].parameters():  # back in the default layout (safetensors needs contiguous)
        assert p.is_contiguous()
    logits = predict_logits(models[0], digits.x_test)
    assert logits.shape == (len(digits.x_test), 10)
    assert np.mean(logits.argmax(1) == digits.y_test) == pytest.approx(result["test_accuracy"])


def test_distillation_with_teacher_and_different_seed_changes_weights(digits):
    small = dataclasses.replace(digits, x_train=digits.x_train[:512], y_train=digits.y_train[:512])
    teacher = example_net(1, 10)
    train(teacher, small, TrainSettings(epochs=1, batch_size=64, seed=0))
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    students = []
    for seed in (0, 1):
        student = example_net(1, 10, width=0.5)
        result = train(student, small, TrainSettings(epochs=1, batch_size=64, seed=seed), teacher=teacher)
        assert np.isfinite(result["history"][0]["train_loss"])
        students.append(student)
    for k, v in teacher.state_dict().items():  # the teacher is only read
        assert torch.equal(v, before[k])
    assert not torch.equal(students[0].classifier.weight, students[1].classifier.weight)


def test_settings_reject_bad_values():
    with pytest.raises(ValueError):
        TrainSettings(epochs=0)
    with pytest.raises(ValueError):
        TrainSettings(epochs=1, alpha=1.5)


def test_a_run_of_a_few_steps_trains_with_a_flat_rate(digits):
    """One-cycle divides by its warm-up step count: a 4-step run (tiny data) must still train, not crash."""
    small = dataclasses.replace(digits, x_train=digits.x_train[:64], y_train=digits.y_train[:64])
    model = example_net(in_channels=1, num_classes=10, width=0.25)
    before = [p.detach().clone() for p in model.parameters()]
    result = train(model, small, TrainSettings(epochs=1, batch_size=16, augment=False))
    assert len(result["history"]) == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
