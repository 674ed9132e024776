"""Distillation options through the real CLI, and `edgeprune build` under torchrun (2 ranks, gloo, CPU).

Both builds use the same settings on digits (16x16): a width-0.5 student of the example architecture, distilled
with KD + feature matching through 1x1 adapters, the best of 4 epochs on a 10 % validation slice. The torchrun
build trains its own teacher too (separate cache), so teacher training and distillation both run data-parallel.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.slow

CONFIG = ("bench-runs = 30\nbench-warmup = 3\nbench-rounds = 1\nbench-min-seconds = 0\ncalibration-samples = 64\n"
          "batch-size = 32\n")


def _args(npz: Path, out: Path) -> list[str]:
    return ["build", "--target", "rpi4", "--model", "example", "--input-shape", "1,16,16", "--data", f"npz:{npz}",
            "--teacher-epochs", "4", "--distill-epochs", "4", "--student-width", "0.5", "--distill-loss", "kd+feature",
            "--validation-split", "0.1", "--early-stopping", "2", "--out", str(out), "--quiet", "--json"]


def _env(root: Path) -> dict:
    source = Path(__file__).resolve().parents[1]
    return {**os.environ, "EDGEPRUNE_CACHE": str(root / "cache"), "OMP_NUM_THREADS": "1",
            "PYTHONPATH": f"{source}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


@pytest.fixture(scope="module")
def builds(tmp_path_factory, digits_npz):
    results = {}
    for name, launcher in (("one", [sys.executable, "-m", "edgeprune.cli"]),
                           ("two", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                    "--nproc_per_node=2", "-m", "edgeprune.cli"])):
        import subprocess

        root = tmp_path_factory.mktemp(name)
        (root / "edgeprune.toml").write_text(CONFIG)
        run = subprocess.run([*launcher, *_args(digits_npz, root / "out"), "--config", str(root / "edgeprune.toml")],
                             env=_env(root), capture_output=True, text=True, timeout=900, cwd=root)
        assert run.returncode == 0, run.stderr[-3000:]
        results[name] = {"root": root, "out": root / "out", "stdout": run.stdout,
                         "report": json.loads((root / "out" / "report.json").read_text())}
    return results


def test_width_student_with_feature_adapters_is_built_and_recorded(builds):
    report = builds["one"]["report"]
    distill = report["stages"]["distill"]
    assert distill["config"]["student_width"] == 0.5 and distill["config"]["distill_loss"] == "kd+feature"
    training = distill["metrics"]["training"]
    assert [p["match"] for p in training["feature_layers"]] == ["1x1 adapter"] * 3
    assert 1 <= training["best_epoch"] <= training["stopped_epoch"] <= 4
    assert all("val_accuracy" in row for row in training["history"])
    student = report["models"]["student"]
    assert student["kind"] == "teacher architecture at width 0.5 (from scratch)"
    assert student["accuracy"]["value"] > 0.8
    assert student["params"]["value"] < 0.4 * report["models"]["teacher"]["params"]["value"]
    assert not list(builds["one"]["out"].glob(".*checkpoint*"))  # removed once distillation finished


def test_verify_rebuilds_the_width_student_from_its_weights(builds):
    """verify starts from the build folder alone: the student is rebuilt from the config and student.safetensors."""
    result = run_cli("verify", str(builds["one"]["out"]), "--quiet", env=_env(builds["one"]["root"]))
    assert result.returncode == 0, result.stderr
    assert "ok       model.onnx" in result.stdout


def test_build_under_torchrun_matches_one_process(builds):
    one, two = builds["one"], builds["two"]
    assert json.loads(two["stdout"])["artifact"] == "model.int8.tflite"  # rank 0 alone reports
    for name in ("teacher", "student"):
        a, b = one["report"]["models"][name]["accuracy"]["value"], two["report"]["models"][name]["accuracy"]["value"]
        assert abs(a - b) <= 0.04, (name, a, b)  # 397 test digits: 4 points is about 2 standard errors at 90 %
    assert two["report"]["models"]["student"]["accuracy"]["value"] > 0.8
    assert len(list((two["root"] / "cache" / "teachers").glob("*.safetensors"))) == 1  # only rank 0 wrote it
    assert not list((two["root"] / "cache" / "teachers").glob("*.checkpoint.pt"))
    assert sorted(p.name for p in two["out"].iterdir() if not p.name.startswith(".")) == \
        sorted(p.name for p in one["out"].iterdir() if not p.name.startswith("."))
