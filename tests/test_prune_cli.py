"""`edgeprune prune` and the pruning options of a build, through the real CLI on a user's model and data."""
from __future__ import annotations

import json
import os

import pytest

from .conftest import run_cli


def _env(tmp_path):
    return {**os.environ, "EDGEPRUNE_CACHE": str(tmp_path / "cache")}


def _prune(spec, npz, out, *extra):
    return ["prune", "--model", spec, "--data", f"npz:{npz}", "--teacher-epochs", "1", "--out", str(out), "--quiet",
            *extra]


def test_prune_explain_prints_every_group_and_records_it(user_model_spec, digits_npz, tmp_path):
    out = tmp_path / "out"
    result = run_cli(*_prune(user_model_spec, digits_npz, out, "--explain", "--layer-ratios", "head.0=0.75",
                             "--sparsity", "group-lasso", "--sparsity-epochs", "1", "--prune-steps", "2",
                             "--importance", "taylor"), env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "NOT PRUNED: feeds the model's output directly" in result.stdout
    assert "layer groups pruned; plan:" in result.stdout
    report = json.loads((out / "report.json").read_text())
    pruned = report["models"]["pruned"]
    groups = {g["root"]: g for g in pruned["prunability"]}
    assert groups["head.0"]["channels_after"] == groups["head.0"]["channels_before"] // 4
    assert f"{groups['head.0']['channels_before']} -> {groups['head.0']['channels_after']}" in result.stdout
    assert pruned["verification"]["max_error"] <= pruned["verification"]["tolerance"] == 1e-5
    assert (out / "plan.json").is_file() and (out / "pruned.safetensors").is_file()
    assert not (out / "student.safetensors").exists(), "prune stops after the prune stage"
    assert pruned["sparsity_training"]["regulariser"] == "group-lasso"
    assert 0.0 < pruned["sparsity_training"]["accuracy"]["value"] <= 1.0
    assert json.loads((out / "plan.json").read_text())["steps"] == 2


@pytest.mark.parametrize("flag,value,message", [
    ("--ignore-layers", "heads.0", "ignore: the model has no layer named 'heads.0'; did you mean 'head.0'?"),
    ("--layer-ratios", "head.0=1.5", "'layer-ratios' for 'head.0' must be in [0, 1), got 1.5"),
    ("--importance", "taylor2", "unknown importance criterion 'taylor2'; known: bn-scale, l1, l2, random, taylor"),
])
def test_bad_pruning_options_are_one_line_errors(user_model_spec, digits_npz, tmp_path, flag, value, message):
    result = run_cli(*_prune(user_model_spec, digits_npz, tmp_path / "out", flag, value), env=_env(tmp_path))
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_unstructured_build_keeps_its_zeros_and_reports_what_they_buy(user_model_spec, digits_npz, tmp_path):
    from safetensors.numpy import load_file

    out = tmp_path / "out"
    config = tmp_path / "edgeprune.toml"
    config.write_text("bench-runs = 30\nbench-warmup = 3\nbench-rounds = 1\nbench-min-seconds = 0\n"
                      "calibration-samples = 64\n")
    result = run_cli("build", "--model", user_model_spec, "--data", f"npz:{digits_npz}", "--teacher-epochs", "2",
                     "--distill-epochs", "1", "--prune-mode", "unstructured", "--prune-ratio", "0.7",
                     "--config", str(config), "--out", str(out), "--quiet", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert 0.69 <= report["models"]["pruned"]["unstructured"]["sparsity"] <= 0.71
    weights = load_file(str(out / "student.safetensors"))
    conv = weights["head.0.weight"]
    assert float((conv == 0).mean()) > 0.5, "distillation regrew the pruned weights"
    assert report["models"]["student"]["params"]["value"] == report["models"]["teacher"]["params"]["value"]
    artifact = report["artifacts"]["model.onnx"]
    assert artifact["compressed_size"]["value"] < 0.6 * artifact["size"]["value"]
