"""The product's main job, exactly as the README runs it: `edgeprune build --target rpi4` on the defaults.

Slow (a cold build trains the teacher: minutes on 2 cores), so it carries the `slow` marker; CI runs it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import run_cli
from .test_build import BUILD_FILES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cold(tmp_path_factory):
    root = tmp_path_factory.mktemp("default")
    env = {**os.environ, "EDGEPRUNE_CACHE": str(root / "cache")}
    result = run_cli("build", "--target", "rpi4", "--out", str(root / "cold"), "--json", env=env, timeout=1500)
    assert result.returncode == 0, result.stderr[-2000:]
    return {"root": root, "env": env, "summary": json.loads(result.stdout),
            "report": json.loads((root / "cold" / "report.json").read_text())}


def test_cold_default_build_meets_the_product_promise(cold):
    out = cold["root"] / "cold"
    for name in BUILD_FILES:
        assert (out / name).is_file(), name
    report, summary = cold["report"], cold["summary"]
    teacher = report["models"]["teacher"]["accuracy"]["value"]
    assert teacher >= 0.92, f"bundled teacher reached only {teacher:.4f}"
    int8 = report["artifacts"]["model.int8.tflite"]
    assert int8["accuracy"]["value"] >= teacher - 0.010, (int8["accuracy"], teacher)
    assert int8["parity"]["samples"] == 10000
    # Speed-up: always a ratio measured side by side, never an absolute time. The build's own figure uses the
    # profile's threads capped at the cores (2 here); on 2 shared vCPUs 2-thread processes are bimodal (p50 CV
    # 10-29 %, benchmarks/results/aa_gate.md), so it only has to show that pruning made the model faster. The
    # promise is checked at 1 thread (CV ~5 %): teacher and student interleaved in 5 rounds of fresh processes.
    assert summary["speedup_vs_teacher_tflite_fp32"] >= 1.1, summary
    measured = cold["root"] / "speed.json"
    result = run_cli("bench", str(out / "teacher.tflite"), str(out / "model.int8.tflite"), "--threads", "1",
                     "--rounds", "5", "--json", str(measured), env=cold["env"])
    assert result.returncode == 0, result.stderr[-2000:]
    p50 = {Path(k).name: v["summary"]["p50"] for k, v in json.loads(measured.read_text()).items()}
    assert p50["teacher.tflite"] / p50["model.int8.tflite"] >= 1.6, p50
    assert report["models"]["teacher"]["origin"].startswith("trained by edgeprune")
    from edgeprune.export.metadata import read

    meta = read(out / "model.int8.tflite")  # what a device-side program needs to feed the model
    assert meta["labels"][:2] == ["t-shirt/top", "trouser"] and len(meta["normalization"]["mean"]) == 1


def test_warm_build_reuses_the_cached_teacher(cold):
    result = run_cli("build", "--target", "rpi4", "--out", str(cold["root"] / "warm"), "--json", "--quiet",
                     env=cold["env"], timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((cold["root"] / "warm" / "report.json").read_text())
    assert report["models"]["teacher"]["origin"].startswith("cached teacher")
    assert report["models"]["teacher"]["accuracy"] == cold["report"]["models"]["teacher"]["accuracy"]


def test_gate_on_the_default_build(cold):
    path = str(cold["root"] / "cold" / "report.json")
    assert run_cli("gate", path, "--budget-ms", "1000", "--max-size-kb", "10000", "--min-accuracy", "0.5").returncode == 0
    failed = run_cli("gate", path, "--min-accuracy", "0.9999")
    assert failed.returncode == 3 and "accuracy" in failed.stdout
