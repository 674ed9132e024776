"""The teacher logit cache: cached logits equal recomputed ones for both views, and KD trained from the cache
ends where KD that runs the teacher on every batch ends."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from edgeprune.data import load_data
from edgeprune.distill.logit_cache import TeacherLogits, cache_teacher_logits
from edgeprune.distill.trainer import TrainSettings, augment_views, train
from edgeprune.errors import StageError
from edgeprune.models.example import example_net

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    """Digits with augmentation switched on, so the flipped view is exercised too."""
    return dataclasses.replace(load_data("digits"), augment=True)


@pytest.fixture(scope="module")
def teacher(digits):
    torch.manual_seed(0)
    model = example_net(1, 10)
    train(model, digits, TrainSettings(epochs=3, batch_size=64, seed=0))  # about 93 % on the 360 test digits
    return model.eval()


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_cached_logits_equal_recomputed_ones_for_both_views(digits, teacher, memory_format):
    x = torch.from_numpy(digits.x_train).float()
    cache = cache_teacher_logits(teacher, x, flip=True, memory_format=memory_format)
    assert cache.plain.shape == cache.flipped.shape == (len(x), 10)
    generator = torch.Generator().manual_seed(1)
    index = torch.randperm(len(x), generator=generator)[:128]
    views, flips = augment_views(x[index], generator, max_shift=0, flip=True)
    assert 20 < int(flips.sum()) < 108  # both views are in the batch
    with torch.no_grad():
        recomputed = teacher(views.contiguous(memory_format=memory_format))
    looked_up = cache.lookup(index, flips)
    assert torch.allclose(looked_up, recomputed, rtol=0, atol=1e-5)
    assert float((looked_up - recomputed).abs().max()) < 1e-5
    # the mirrored table really is different: a lookup that ignored the flips would be wrong
    assert float((cache.plain[index] - recomputed).abs().max()) > 1e-2


def test_a_cache_without_flips_refuses_a_flipped_lookup(digits, teacher):
    x = torch.from_numpy(digits.x_train[:40]).float()
    cache = cache_teacher_logits(teacher, x, flip=False)
    assert cache.flipped is None
    assert torch.equal(cache.lookup(torch.arange(3)), cache.plain[:3])
    with pytest.raises(StageError, match="flips were not cached"):
        cache.lookup(torch.arange(3), torch.tensor([True, False, True]))
    with pytest.raises(StageError, match=r"\(N, C, H, W\)"):
        cache_teacher_logits(teacher, x[:, 0], flip=True)  # mirrors need images; plain rows need not
    assert isinstance(cache, TeacherLogits)


def test_kd_from_the_cache_trains_like_kd_that_runs_the_teacher(digits, teacher):
    results, states = [], []
    for cached in (True, False):
        torch.manual_seed(0)
        student = example_net(1, 10, width=0.5)
        settings = TrainSettings(epochs=3, batch_size=64, seed=2, temperature=2.0, alpha=1.0, teacher_cache=cached)
        results.append(train(student, digits, settings, teacher=teacher))
        states.append(student.state_dict())
    losses = [[row["train_loss"] for row in r["history"]] for r in results]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    assert results[0]["test_accuracy"] == pytest.approx(results[1]["test_accuracy"], abs=0.006)  # <= 2 of 360 images
    assert results[0]["test_accuracy"] > 0.8  # chance is 0.1
    for name, value in states[0].items():
        if value.is_floating_point():
            assert torch.allclose(value, states[1][name], atol=1e-3), name


def test_kd_with_shifts_runs_the_teacher_on_the_students_view(digits, monkeypatch):
    """Random shifts give too many views to cache: the trainer must skip the cache and run the teacher on the
    very batch the student sees ("consistent" teaching), shifted views included."""
    import edgeprune.distill.trainer as trainer

    def no_cache(*args, **kwargs):
        raise AssertionError("the logit cache covers flips only; it must not be built with shifts")

    monkeypatch.setattr(trainer, "cache_teacher_logits", no_cache)
    torch.manual_seed(0)
    teacher, student = example_net(1, 10, width=0.5).eval(), example_net(1, 10, width=0.5)
    seen: dict[str, list[torch.Tensor]] = {"teacher": [], "student": []}
    teacher.register_forward_pre_hook(lambda _m, inputs: seen["teacher"].append(inputs[0].detach().clone()))
    student.register_forward_pre_hook(
        lambda m, inputs: seen["student"].append(inputs[0].detach().clone()) if m.training else None)
    settings = TrainSettings(epochs=1, batch_size=64, seed=0, temperature=1.0, alpha=1.0, max_shift=2)
    train(student, digits, settings, teacher=teacher)
    assert len(seen["teacher"]) == len(seen["student"]) == len(digits.x_train) // 64
    for t_view, s_view in zip(seen["teacher"], seen["student"]):
        assert torch.equal(t_view, s_view)
    # the views really are shifted: some are neither a training image nor its mirror
    originals = torch.from_numpy(digits.x_train).float()
    known = {bytes(v.numpy().tobytes()) for v in torch.cat([originals, originals.flip(3)])}
    views = torch.cat(seen["teacher"]).contiguous()
    assert sum(bytes(v.numpy().tobytes()) not in known for v in views) > len(views) // 2
