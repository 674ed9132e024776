"""Distillation: losses, feature layers and the kept-channel map, students, validation / early stopping,
resume after an interruption (in-process and SIGKILL), and data-parallel training under torchrun."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeprune.config import load_config
from edgeprune.data import load_data
from edgeprune.distill.features import FeatureStudent, output_channels, stage_outputs
from edgeprune.distill.losses import feature_loss
from edgeprune.distill.pairs import feature_pairs
from edgeprune.distill.trainer import TrainSettings, evaluate, train
from edgeprune.errors import ConfigError
from edgeprune.models import build_model
from edgeprune.models.example import example_net
from edgeprune.pruning import prune_model

from .conftest import FIXTURES


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


@pytest.fixture(scope="module")
def teacher(digits):
    torch.manual_seed(0)
    model = example_net(1, 10)
    train(model, digits, TrainSettings(epochs=2, batch_size=64))
    return model


def test_feature_loss_is_zero_on_a_match_and_scale_free():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(4, 8, 5, 5, generator=g), torch.randn(4, 8, 5, 5, generator=g)
    assert float(feature_loss([t], [t.clone()])) == 0.0
    assert float(feature_loss([s], [t])) == pytest.approx(float(feature_loss([100 * s], [100 * t])), rel=1e-5)
    assert float(feature_loss([torch.zeros_like(t)], [t])) == pytest.approx(1.0)


def test_stage_outputs_name_the_end_of_each_resolution(user_model_spec):
    assert stage_outputs(example_net(1, 10), (1, 28, 28)) == ["features.3", "features.7", "features"]
    assert stage_outputs(build_model(user_model_spec, 1, 10), (1, 16, 16)) == ["block", "head"]


def test_kept_channels_follow_the_plan(teacher, digits):
    """The map read back from the tagged replay agrees with the plan and with the pruned weights themselves."""
    student, plan = prune_model(teacher, digits.input_shape, 10, ratio=0.5, round_to=8)
    pairs = {p.student: p for p in feature_pairs(student, teacher, digits.input_shape, None, plan)}
    assert set(pairs) == {"features.3", "features.7", "features"}
    removed = dict((name, idx) for name, out, idx in plan.history if out)
    expected = tuple(i for i in range(96) if i not in set(removed["features.8"]))  # conv feeding the last stage
    assert pairs["features"].channels == expected
    # the stage-1 output is BN features.3.body.4 (+ the stem's BN features.1 on the residual): same channels
    kept = list(pairs["features.3"].channels)
    assert len(kept) == 16
    for bn in ("features.1", "features.3.body.4"):
        t_bn, s_bn = dict(teacher.named_modules())[bn], dict(student.named_modules())[bn]
        assert torch.equal(s_bn.weight, t_bn.weight[kept]) and torch.equal(s_bn.running_mean, t_bn.running_mean[kept])


def test_pruned_students_match_channels_without_parameters_other_students_get_adapters(teacher, digits):
    pruned, plan = prune_model(teacher, digits.input_shape, 10, ratio=0.75, round_to=8)
    pairs = feature_pairs(pruned, teacher, digits.input_shape, None, plan)
    channels = output_channels(teacher, [p.teacher for p in pairs], digits.input_shape)
    wrapped = FeatureStudent(pruned, pairs, digits.input_shape, channels)
    assert sum(p.numel() for p in wrapped.parameters()) == sum(p.numel() for p in pruned.parameters())
    narrow = example_net(1, 10, width=0.25)
    pairs = feature_pairs(narrow, teacher, digits.input_shape, "features.7,features", None)
    assert [p.channels for p in pairs] == [None, None]
    wrapped = FeatureStudent(narrow, pairs, digits.input_shape, [48, 96])
    extra = sum(p.numel() for p in wrapped.adapters.parameters())
    assert extra == 16 * 48 + 24 * 96  # two 1x1 convs, student channels -> teacher channels, no bias
    logits, features = wrapped(torch.zeros(2, *digits.input_shape))
    assert logits.shape == (2, 10) and [f.shape[1] for f in features] == [48, 96]


def test_feature_layer_mistakes_are_one_clear_error(teacher, digits):
    with pytest.raises(ConfigError, match=r"student has no layer 'features\.77'; did you mean 'features\.7'"):
        feature_pairs(example_net(1, 10, 0.5), teacher, digits.input_shape, "features.77", None)
    with pytest.raises(ConfigError, match="the student has 2 stages"):
        feature_pairs(build_model(f"{FIXTURES / 'user_models.py'}:small_net", 1, 10), teacher, digits.input_shape,
                      None, None)


@pytest.mark.parametrize("loss", ["hard", "kd", "kd+feature"])
def test_each_loss_recovers_a_pruned_student(teacher, digits, loss):
    student, plan = prune_model(teacher, digits.input_shape, 10, ratio=0.75, round_to=8)
    before = evaluate(student, digits.x_test, digits.y_test)
    pairs = feature_pairs(student, teacher, digits.input_shape, None, plan) if loss == "kd+feature" else None
    result = train(student, digits, TrainSettings(epochs=2, batch_size=64, seed=1),
                   teacher=None if loss == "hard" else teacher, features=pairs)
    assert result["test_accuracy"] > max(0.8, before + 0.3)
    assert set(student.state_dict()) == set(example_net(1, 10).state_dict())  # no adapter left behind


def test_validation_split_keeps_the_best_epoch_and_stops_early(digits):
    torch.manual_seed(0)
    model = example_net(1, 10, width=0.5)
    # a rate far too high (SGD at 3.0): training diverges, validation accuracy stalls, patience 1 stops it early
    settings = TrainSettings(epochs=6, batch_size=64, learning_rate=3.0, optimizer="sgd", val_fraction=0.2,
                             early_stopping=1, seed=0)
    result = train(model, digits, settings)
    scores = [row["val_accuracy"] for row in result["history"]]
    assert result["best_epoch"] == 1 + int(np.argmax(scores))
    assert result["stopped_epoch"] == len(scores) == result["best_epoch"] + 1
    assert result["stopped_epoch"] < 6
    from edgeprune.distill.trainer import validation_split

    _, val_rows = validation_split(len(digits.x_train), 0.2, 0)
    assert evaluate(model, digits.x_train[val_rows], digits.y_train[val_rows]) == pytest.approx(max(scores))
    assert len(val_rows) == round(0.2 * len(digits.x_train))


class _Stop(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_weights(digits, tmp_path, teacher):
    """In-process version of the SIGKILL test: the run is stopped mid-epoch 2 and resumed from the checkpoint."""
    small = dataclasses.replace(digits, x_train=digits.x_train[:640], y_train=digits.y_train[:640])
    settings = TrainSettings(epochs=3, batch_size=64, seed=5, val_fraction=0.1)
    torch.manual_seed(1)
    reference = example_net(1, 10, width=0.5)
    start = {k: v.clone() for k, v in reference.state_dict().items()}
    expected = train(reference, small, settings, teacher=teacher)

    checkpoint = tmp_path / "run.ckpt"
    model = example_net(1, 10, width=0.5)
    model.load_state_dict(start)
    calls = 0

    def crash(_: torch.nn.Module) -> None:
        nonlocal calls
        calls += 1
        if calls == 9 + 4:  # 9 steps per epoch: in the middle of epoch 2
            raise _Stop

    with pytest.raises(_Stop):
        train(model, small, settings, teacher=teacher, after_backward=crash, checkpoint=checkpoint)
    assert checkpoint.is_file()
    model = example_net(1, 10, width=0.5)
    model.load_state_dict(start)
    resumed = train(model, small, settings, teacher=teacher, checkpoint=checkpoint)
    assert [r["epoch"] for r in resumed["history"]] == [1, 2, 3]
    def same(row: dict) -> dict:
        return {k: v for k, v in row.items() if k != "seconds"}

    assert [same(r) for r in resumed["history"]] == [same(r) for r in expected["history"]]
    for a, b in zip(model.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(a, b)
    assert not checkpoint.exists()  # removed once training finished
    # a checkpoint of another run (other seed) is never resumed from
    other = example_net(1, 10, width=0.5)
    other.load_state_dict(start)
    with pytest.raises(_Stop):
        calls = 0
        train(other, small, settings, teacher=teacher, after_backward=crash, checkpoint=checkpoint)
    fresh = train(example_net(1, 10, width=0.5), small, dataclasses.replace(settings, seed=6), checkpoint=checkpoint)
    assert [r["epoch"] for r in fresh["history"]] == [1, 2, 3]


def test_config_checks_the_distillation_settings(tmp_path):
    assert load_config(overrides={"distill_loss": "kd+feature", "feature_layers": "a,b"}, cwd=tmp_path).feature_layers == "a,b"
    bad = [({"student_width": 1.5}, r"'student-width' must be in \(0, 1\]"),
           ({"distill_loss": "kl"}, "must be one of kd, hard, kd\\+feature"),
           ({"early_stopping": 3}, "'early-stopping' needs a 'validation-split'"),
           ({"feature_layers": "features.3"}, "'feature-layers' needs 'distill-loss = kd\\+feature'"),
           ({"student": "example", "student_width": 0.5}, "either 'student' or 'student-width'"),
           ({"validation_split": 1.0}, r"must be in \[0, 1\)")]
    for overrides, message in bad:
        with pytest.raises(ConfigError, match=message):
            load_config(overrides=overrides, cwd=tmp_path)
    (tmp_path / "edgeprune.toml").write_text('distil-loss = "kd"\n')
    with pytest.raises(ConfigError, match="did you mean 'distill-loss'"):
        load_config(cwd=tmp_path)


def test_students_come_from_a_spec_or_a_width(user_model_spec):
    from edgeprune.distill.students import custom_student

    assert custom_student("example", None, None, 1, 10, seed=0) is None  # the pruned teacher
    narrow = custom_student("example", None, 0.5, 1, 10, seed=0)
    assert narrow.widths == (16, 24, 48)
    again = custom_student("example", None, 0.5, 1, 10, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(narrow.state_dict().values(), again.state_dict().values()))
    user = custom_student("example", user_model_spec, None, 1, 10, seed=0)
    assert type(user).__name__ == "SmallNet"
    with pytest.raises(ConfigError, match="takes no width= argument; give the student as its own model"):
        custom_student(user_model_spec, None, 0.5, 1, 10, seed=0)


def _job(out: Path, *extra: str, torchrun: int = 0) -> list[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={torchrun}"] \
        if torchrun else [sys.executable]
    return [*launcher, str(FIXTURES / "train_job.py"), str(out), *extra]


def _env() -> dict:
    root = Path(__file__).resolve().parents[1]
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_the_same_final_weights(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    reference.mkdir(), killed.mkdir()
    subprocess.run(_job(reference), check=True, env=_env(), capture_output=True, timeout=300)
    # 1437 training rows (10 % held out for validation -> 1293) at batch 64: 20 steps per epoch
    process = subprocess.Popen(_job(killed, "--slow-steps", "0.05"), env=_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        if line.strip() == "step 30":  # in the middle of epoch 2; epoch 1's checkpoint is on disk
            break
    assert (killed / "checkpoint.pt").is_file()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "result-0.json").exists()
    resumed = subprocess.run(_job(killed), env=_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr and "after epoch 1" in resumed.stderr
    a = json.loads((reference / "result-0.json").read_text())
    b = json.loads((killed / "result-0.json").read_text())
    assert b["steps_run_here"] == 3 * 20  # epochs 2-4 only
    assert a["weights_sha256"] == b["weights_sha256"] and a["losses"] == b["losses"]


@pytest.mark.slow
def test_torchrun_two_processes_train_like_one(tmp_path):
    """2 ranks (gloo, CPU) see the same global batches as 1 process; only BatchNorm statistics (per-rank half
    batches) and summation order differ, so accuracy agrees within noise: bound 3 points on 360 test digits."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    subprocess.run(_job(one), check=True, env=_env(), capture_output=True, timeout=300)
    run = subprocess.run(_job(two, torchrun=2), env=_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    single = json.loads((one / "result-0.json").read_text())
    ranks = [json.loads((two / f"result-{r}.json").read_text()) for r in (0, 1)]
    assert single["world_size"] == 1 and [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]  # every rank ends with the same model
    assert ranks[0]["weights_sha256"] != single["weights_sha256"]  # really trained apart
    assert ranks[0]["test_accuracy"] > 0.9 and single["test_accuracy"] > 0.9
    assert abs(ranks[0]["test_accuracy"] - single["test_accuracy"]) <= 0.03
    assert ranks[0]["losses"][-1] < ranks[0]["losses"][0]
    assert np.allclose(ranks[0]["losses"], single["losses"], rtol=0.15)
    assert not (two / "checkpoint.pt").exists()


@pytest.mark.parametrize("flags, needle", [
    (["--student-width", "0.5"], "takes no width= argument"),
    (["--distill-loss", "kd+feature", "--feature-layers", "stem"], None),  # valid: checked in the stage
])
def test_a_bad_student_fails_before_anything_is_written(tmp_path, digits_npz, user_model_spec, flags, needle):
    from .conftest import run_cli

    out = tmp_path / "out"
    args = ["build", "--model", user_model_spec, "--input-shape", "1,16,16", "--data", f"npz:{digits_npz}",
            "--out", str(out), "--quiet", *flags]
    if needle is None:  # only the option parsing: a build that fails at once on an unknown target
        args += ["--target", "no-such-board"]
        needle = "no-such-board"
    result = run_cli(*args, cwd=tmp_path, env={**_env(), "EDGEPRUNE_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert not (out / "teacher.safetensors").exists()


def test_training_leaves_buffers_resizable(digits):
    """Fake-quantizers (QAT) resize their observer buffers in place: the run key must hash copies, not views."""
    small = dataclasses.replace(digits, x_train=digits.x_train[:128], y_train=digits.y_train[:128])
    model = example_net(1, 10, width=0.25)
    model.register_buffer("observer", torch.zeros(0))
    train(model, small, TrainSettings(epochs=1, batch_size=64), teacher=example_net(1, 10, width=0.25))
    model.observer.resize_(4)
    assert model.observer.shape == (4,)
