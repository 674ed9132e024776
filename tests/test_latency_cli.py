"""`edgeprune calibrate` (here and over a real loopback sshd), estimates from `edgeprune bench --target NAME`."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from edgeprune.latency.calibration import cases
from edgeprune.targets import load_target
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def tflite_artifact(tmp_path_factory) -> Path:
    import torch

    from edgeprune.export.tflite import export_tflite_fp32
    from edgeprune.models.example import example_net

    path = tmp_path_factory.mktemp("artifact") / "model.tflite"
    export_tflite_fp32(example_net(width=0.5).eval(), torch.zeros(1, 1, 28, 28), path)
    return path


def test_calibrate_a_board_needs_its_device(tmp_path):
    proc = run_cli("calibrate", "--target", "rpi4", env={**os.environ, "EDGEPRUNE_CALIBRATION_DIR": str(tmp_path)})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "edgeprune: error: calibrating rpi4 needs the device: give --host (or [ssh] host in the profile); "
        "only the host target is calibrated on this machine"]
    proc = run_cli("targets", "rpi4", env={**os.environ, "EDGEPRUNE_CALIBRATION_DIR": str(tmp_path)})
    assert proc.returncode == 0 and "latency calibration    none: estimates come from the profile's facts" in proc.stdout
    proc = run_cli("calibrate", "--target", "host", "--runtimes", "tflite,coreml")
    assert proc.returncode == 1 and "--runtimes: unknown runtime 'coreml'; known: tflite, onnxruntime" in proc.stderr


@pytest.mark.parametrize("options, message", [
    (["--network", "example"], "--network needs --network-input C,H,W (the input its models are measured at)"),
    (["--network-input", "1,28,28"], "--network-input: give the architecture too (--network SPEC)"),
    (["--network", "nosuch.py:factory", "--network-input", "1,28,28"], "nosuch.py: model source file not found"),
    (["--network", "example", "--network-input", "1,28"],
     "example: fails on input shape 1,28 (expected 4D input (got 3D input))"),
    (["--network", "example", "--network-input", "1,28,28", "--network-ratios", "0,1.5"],
     "--network-ratios: 1.5 is not a share of channels to remove in [0, 1)"),
])
def test_calibrate_refuses_a_bad_network_before_measuring(tmp_path, options, message):
    out = tmp_path / "calibration.json"
    proc = run_cli("calibrate", "--target", "host", *options, "--out", str(out), "--work", str(tmp_path / "work"))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"edgeprune: error: {message}"]
    assert not out.exists() and not (tmp_path / "work").exists()  # refused before the first export


def test_bench_without_a_device_estimates_for_the_target(tflite_artifact, tmp_path):
    out = tmp_path / "estimate.json"
    env = {**os.environ, "EDGEPRUNE_CALIBRATION_DIR": str(tmp_path / "none")}
    proc = run_cli("bench", str(tflite_artifact), "--target", "rpi4", "--json", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"{tflite_artifact}: ESTIMATE for rpi4: " in proc.stdout
    assert "(tflite fp32, 4 threads;" in proc.stdout and "uncalibrated estimate from the rpi4 profile" in proc.stdout
    record = json.loads(out.read_text())[str(tflite_artifact)]
    assert record["latency_ms"]["source"] == "estimated" and record["latency_ms"]["value"] > 0
    assert abs(sum(record["layers_ms"].values()) - record["latency_ms"]["value"]) < 0.05  # plus the invoke cost
    proc = run_cli("bench", str(tflite_artifact), "--target", "rpi4", "--budget-ms", "5", env=env)
    assert proc.returncode == 1 and "--budget-ms gates measured latency: give --host" in proc.stderr


@pytest.mark.slow
def test_calibrate_on_a_device_over_ssh_then_estimates_say_calibrated(sshd, tmp_path, tflite_artifact, monkeypatch):
    """The quick grid measured through a real sshd on 127.0.0.1 (the 'device'), stored per device, then used."""
    home = tmp_path / "home"
    sshd.write_ssh_config(home)
    work_dir = tmp_path / "device-tmp"
    work_dir.mkdir()
    profile = tmp_path / "board.toml"
    profile.write_text(Path(load_target("rpi4").source).read_text()
                       .replace('name = "rpi4"', 'name = "board"').replace('work_dir = "/tmp"', f'work_dir = "{work_dir}"'))
    env = {**os.environ, "HOME": str(home), "EDGEPRUNE_CALIBRATION_DIR": str(tmp_path / "calibration")}
    env.pop("SSH_AUTH_SOCK", None)
    proc = run_cli("calibrate", "--target", str(profile), "--host", "device", "--remote-python", sys.executable,
                   "--quick", "--runtimes", "tflite", "--threads", "1", "--seconds", "1", "--statistic", "p10",
                   "--network", "example", "--network-input", "1,28,28", "--network-ratios", "0,0.5", env=env)
    assert proc.returncode == 0, proc.stderr
    stored = tmp_path / "calibration" / "board--device.json"
    assert f"calibrated board on device device (" in proc.stdout and str(stored) in proc.stdout
    document = json.loads(stored.read_text())
    assert set(document["models"]) == {"tflite-fp32", "tflite-int8"}
    assert document["runtime_versions"]["tflite"].startswith("ai-edge-litert ")
    # fp32 and int8 of 8 layers, 2 networks and the user's architecture at 2 widths
    assert len(document["samples"]) == 2 * (len(cases(quick=True)) + 2)
    assert {s["case"] for s in document["samples"]} >= {"model-example-1x28x28-r0", "model-example-1x28x28-r0.5"}
    assert document["architectures"] == [{"spec": "example", "input_shape": [1, 28, 28], "ratio": r, "round_to": 8}
                                         for r in (0.0, 0.5)]
    assert ", 12 micro-benchmarks and networks (2 of them example), quick grid," in document["models"]["tflite-int8"]["basis"]
    assert all(0 < s["p10_us"] <= s["p50_us"] and s["turns"] >= 30 for s in document["samples"])
    assert document["protocol"]["statistic"] == "p10"  # fitted to the 10th percentile of the turn medians, and says so
    assert document["models"]["tflite-int8"]["basis"].endswith("; fitted to the p10)")
    assert list(work_dir.iterdir()) == []  # the device's temp files are gone
    proc = run_cli("targets", str(profile), env=env)
    assert f"latency calibration    {stored}: device device (" in proc.stdout

    proc = run_cli("bench", str(tflite_artifact), "--target", str(profile), "--threads", "1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "ESTIMATE for board:" in proc.stdout and "(calibrated): calibrated on device device (" in proc.stdout
