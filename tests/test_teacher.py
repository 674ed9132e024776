"""The teacher stage's own recipe: label smoothing is part of it and of its cache key."""
from __future__ import annotations

import pytest
import torch

from edgeprune.stages import teacher as stage

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _context(tmp_path, digits_npz, **extra):
    from edgeprune.config import BuildConfig
    from edgeprune.pipeline import open_context
    from edgeprune.progress import Progress
    from edgeprune.stages.common import prepare
    from edgeprune.targets import load_target

    config = BuildConfig(data=f"npz:{digits_npz}", input_shape=(1, 16, 16), teacher_epochs=1, batch_size=64,
                         out=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"), **extra)
    ctx = open_context(config, load_target("rpi4"), Progress(enabled=False))
    prepare(ctx)
    return ctx


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_teacher_recipe_smoothing_is_trained_with_and_keys_the_cache(tmp_path, digits_npz):
    ctx = _context(tmp_path, digits_npz)
    default = stage.TEACHER_LABEL_SMOOTHING
    other = 0.1 if default == 0.0 else 0.0
    assert stage._train_settings(ctx).label_smoothing == default
    assert stage._config(ctx)["label_smoothing"] == default
    assert stage.cached_path(ctx) == stage.cached_path(ctx, default)
    assert stage.cached_path(ctx, other) != stage.cached_path(ctx)

    # a teacher cached under another recipe (e.g. the old smoothing) is not reused: the default one is trained
    old, old_origin, old_history = stage.load_or_train(ctx, other)
    assert "trained by edgeprune" in old_origin and old_history["history"]
    assert stage.cached_path(ctx, other).is_file() and not stage.cached_path(ctx).exists()
    new, origin, history = stage.load_or_train(ctx)
    assert "trained by edgeprune" in origin and history["history"]
    assert not _same_weights(old, new)  # same start and seed: only the smoothing differs

    again, again_origin, again_history = stage.load_or_train(ctx)
    assert again_origin.startswith("cached teacher") and again_history == {}
    assert _same_weights(again, new)


def test_user_weights_key_the_stage_without_a_training_recipe(tmp_path, digits_npz):
    from edgeprune.models import build_model
    from edgeprune.stages.common import save_weights

    weights = tmp_path / "teacher.safetensors"
    save_weights(build_model("example", 1, 10), weights)
    config = stage._config(_context(tmp_path, digits_npz, weights=str(weights)))
    assert "weights" in config and "label_smoothing" not in config and "epochs" not in config
