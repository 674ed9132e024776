"""`edgeprune build --target host --budget-ms X`: the widths are searched, measured, and meet X as measured.

A Fashion-MNIST subset (2,000 / 500 images) keeps training short. The images are upsampled to 56x56: at 28x28 the
example model's int8 ONNX Runtime latency is mostly fixed cost (0.17 ms unpruned vs 0.12-0.17 ms at the narrowest
widths), a range that a shared machine's noise covers, so a budget inside it was met or missed by chance.
Slow: each build exports and measures real artifacts.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from edgeprune.stages.budget import ATTEMPTS

from .conftest import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    from edgeprune.data import load_data

    root = tmp_path_factory.mktemp("budget")
    data = load_data("fashion-mnist")

    def upsample(images: np.ndarray) -> np.ndarray:
        return images.repeat(2, axis=2).repeat(2, axis=3)

    np.savez(root / "fmnist.npz", x_train=upsample(data.x_train[:2000]), y_train=data.y_train[:2000],
             x_test=upsample(data.x_test[:500]), y_test=data.y_test[:500])
    (root / "edgeprune.toml").write_text("bench-runs = 60\nbench-warmup = 10\nbench-rounds = 2\n"
                                         "bench-min-seconds = 0.5\nteacher-epochs = 1\ndistill-epochs = 1\n")
    env = {**os.environ, "EDGEPRUNE_CACHE": str(root / "cache"), "EDGEPRUNE_CALIBRATION_DIR": str(root / "none")}
    return {"root": root, "env": env}


def _build(setup: dict, *args: str) -> "subprocess.CompletedProcess":  # noqa: F821
    root = setup["root"]
    return run_cli("build", "--target", "host", "--data", f"npz:{root / 'fmnist.npz'}", "--threads", "1",
                   "--out", str(root / "out"), "--quiet", *args, cwd=root, env=setup["env"])


def _narrowest_ms(stderr: str, budget: str) -> float | None:
    """The p95 the build measured at the narrowest widths, when it failed because even those miss `budget`."""
    found = re.search(rf"latency budget {re.escape(budget)} ms \(p95\) cannot be met: the best achievable is "
                      r"(\d+\.\d+) ms measured on host .* at the narrowest widths allowed", stderr)
    return float(found.group(1)) if found else None


def _aim(narrowest: float) -> float:
    """Between the narrowest and the unpruned latency (about 1.8-3x the narrowest here), clear of both by more than
    the p95's run-to-run noise (+-10 % with the other core busy)."""
    return round(1.6 * narrowest, 4)


def test_budget_build_meets_the_budget_or_names_the_best_latency(setup):
    proc = _build(setup, "--budget-ms", "0.0001")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    narrowest = _narrowest_ms(lines[0], "0.0001")
    assert narrowest, lines[0]

    budget = _aim(narrowest)
    for _ in range(3):
        proc = _build(setup, "--budget-ms", str(budget), "--json")
        narrowest = _narrowest_ms(proc.stderr, f"{budget:g}") if proc.returncode else None
        if narrowest is None:
            break
        # the machine slowed down between builds (CI saw the narrowest widths go from 0.137 to 0.219 ms): the build
        # rightly failed, because even the narrowest widths now miss the budget; aim again from what it measured
        budget = _aim(narrowest)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((setup["root"] / "out" / "report.json").read_text())
    record = report["models"]["pruned"]["budget"]
    assert record["budget_ms"] == budget and record["percentile"] == "p95" and not record["calibrated"]
    # every group's damage was measured at every width the search could give it, the unpruned width scoring ~0
    assert record["damage"]["images"] == 1024 and record["damage"]["by_width"]
    for by_width in record["damage"]["by_width"].values():
        widths = sorted(map(int, by_width))
        assert by_width[str(widths[-1])] == pytest.approx(0.0, abs=1e-4)
        assert by_width[str(widths[0])] > 1e-4
    assert record["measured"]["p95"] <= budget  # what the search measured for the widths it kept
    assert 1 <= len(record["attempts"]) <= ATTEMPTS
    # the widths the search chose are the student's, at multiples of the host's channel multiple
    widths = report["models"]["pruned"]["widths"]
    multiple = report["target"]["channel_multiple"]
    assert any(after < before for before, after in widths.values()) or not record["search"]
    assert all(after == before or after % multiple == 0 for before, after in widths.values())
    # the bench stage measures the distilled student's deployable artifact again; its median is within the budget
    summary = report["summary"]
    assert summary["artifact"] == "model.int8.onnx" and summary["latency_ms"]["p50"] <= budget
    latency_layers = report["models"]["pruned"]["latency_layers"]
    assert latency_layers["source"] == "estimated" and latency_layers["student_ms"] <= latency_layers["teacher_ms"]
    markdown = (setup["root"] / "out" / "report.md").read_text()
    assert f"Latency budget: p95 <= {budget:g} ms" in markdown and "Latency per layer, predicted for onnxruntime int8" in markdown

    proc = _build(setup, "--budget-ms", "1", "--prune-ratio", "0.3")
    assert proc.returncode == 1 and "give either 'prune-ratio' or 'budget-ms'" in proc.stderr
