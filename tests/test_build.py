"""End to end through the real CLI on a user's own model file and .npz data (small, so it stays fast)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgeprune.fileio import sha256_file

from .conftest import FIXTURES, run_cli

BUILD_FILES = ["report.json", "report.md", "report.html", "teacher.safetensors", "student.safetensors", "plan.json",
               "model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite", "model.fp16.tflite",
               "model.dynamic-int8.tflite"]


def _hashes(folder: Path) -> dict[str, str]:
    """Content of every visible file (the .lock file only holds the last builder's pid)."""
    return {p.name: sha256_file(p) for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def _env(tmp_path: Path) -> dict:
    return {**os.environ, "EDGEPRUNE_CACHE": str(tmp_path / "cache")}


def _args(spec: str, npz: Path, out: Path, *extra: str) -> list[str]:
    return ["build", "--target", "rpi4", "--model", spec, "--input-shape", "1,16,16", "--data", f"npz:{npz}",
            "--teacher-epochs", "4", "--distill-epochs", "2", "--out", str(out), "--quiet", *extra]


@pytest.fixture(scope="module")
def built(tmp_path_factory, user_model_spec, digits_npz):
    root = tmp_path_factory.mktemp("build")
    out = root / "out"
    config = root / "edgeprune.toml"
    config.write_text("bench-runs = 30\nbench-warmup = 3\nbench-rounds = 2\nbench-min-seconds = 0\n"
                      "calibration-samples = 64\nbatch-size = 32\n")
    result = run_cli(*_args(user_model_spec, digits_npz, out, "--config", str(config), "--json"), env=_env(root))
    assert result.returncode == 0, result.stderr
    return {"root": root, "out": out, "config": config, "stdout": result.stdout}


def test_build_writes_every_file_and_a_json_summary(built):
    for name in BUILD_FILES:
        assert (built["out"] / name).is_file(), name
    assert not list(built["out"].glob(".*partial*")), "no half-written file may remain"
    summary = json.loads(built["stdout"])
    assert summary["artifact"] == "model.int8.tflite" and summary["target"] == "rpi4"
    assert 0.5 < summary["accuracy"] <= 1.0


def test_report_says_how_each_number_was_obtained(built):
    report = json.loads((built["out"] / "report.json").read_text())
    assert report["schema"] == 1 and report["versions"]["torch"].startswith("2.")
    assert set(report["stages"]) == {"teacher", "prune", "distill", "export", "bench"}
    teacher = report["models"]["teacher"]
    student = report["models"]["student"]
    assert student["params"]["value"] < teacher["params"]["value"]
    assert student["macs"]["value"] < teacher["macs"]["value"]
    assert teacher["macs"]["source"] == "computed" and teacher["accuracy"]["source"] == "measured"
    for name in ("model.onnx", "model.tflite"):
        assert report["artifacts"][name]["parity"]["max_abs_diff"] < 1e-4
    for name in ("model.int8.onnx", "model.int8.tflite"):
        parity = report["artifacts"][name]["parity"]
        assert parity["top1_agreement"] >= 0.9 and parity["samples"] == 397
    latency = report["artifacts"]["model.int8.tflite"]["bench"]["latency_ms"]
    assert latency["source"] == "measured" and latency["where"].startswith("host ")
    assert "not on rpi4" in latency["note"] and latency["runs"] >= 60 and len(latency["round_p50_ms"]) == 2
    assert latency["p50"] <= latency["p95"] <= latency["p99"]
    assert report["summary"]["latency_ms"]["p95"] == latency["p95"]
    markdown = (built["out"] / "report.md").read_text()
    assert "these are not rpi4 figures" in markdown and "| model.int8.tflite |" in markdown
    assert "<table>" in (built["out"] / "report.html").read_text()
    for name, entry in report["artifacts"].items():  # every artifact lists its ops; none left in float
        assert entry["ops"]["total"] >= 5 and entry["ops"]["float_ops"] == {} and entry["ops"]["runtime_issues"] == []
    layers = report["artifacts"]["model.int8.onnx"]["layer_sqnr"]["layers"]
    assert len(layers) >= 3 and all(row["module"] for row in layers if row["op"].startswith("Conv"))
    assert layers[0]["sqnr_lost_db"] == max(row["sqnr_lost_db"] for row in layers)


def test_plan_and_weights_rebuild_the_student_without_pickle(built):
    import torch

    from edgeprune import load_pruned
    from edgeprune.models.loading import import_from_spec

    factory = import_from_spec(f"{FIXTURES / 'user_models.py'}:small_net")
    student = load_pruned(factory, built["out"] / "plan.json", built["out"] / "student.safetensors")
    plan = json.loads((built["out"] / "plan.json").read_text())
    for name, after in plan["widths_after"].items():
        assert (after % 8 == 0 and after > 0) or name in plan["ignored"], (name, after)
    assert plan["widths_after"]["fc"] == 10
    from edgeprune.export.runtime import run_onnx

    data = np.random.default_rng(0).standard_normal((4, 1, 16, 16)).astype(np.float32)
    with torch.no_grad():
        expected = student(torch.from_numpy(data)).numpy()
    assert np.abs(run_onnx(built["out"] / "model.onnx", data) - expected).max() < 1e-4


def test_second_build_skips_every_stage(built, user_model_spec, digits_npz):
    before = _hashes(built["out"])
    result = run_cli(*_args(user_model_spec, digits_npz, built["out"], "--config", str(built["config"])),
                     env=_env(built["root"]))
    assert result.returncode == 0, result.stderr
    report = json.loads((built["out"] / "report.json").read_text())
    assert all(stage["skipped"] for stage in report["stages"].values())
    after = _hashes(built["out"])
    assert {k: v for k, v in after.items() if not k.startswith("report")} == \
        {k: v for k, v in before.items() if not k.startswith("report")}


def _bad_weights(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    return path


def _bad_npz(tmp_path: Path) -> Path:
    path = tmp_path / "wrongkeys.npz"
    np.savez(path, images=np.zeros((4, 1, 16, 16), np.float32), labels=np.zeros(4, np.int64))
    return path


@pytest.mark.parametrize("case", ["missing weights", "corrupt weights", "wrong input shape", "unknown target",
                                  "untraceable model", "wrong data keys", "wrong data dtype", "missing model file"])
def test_bad_input_is_one_line_exit_1_and_loses_nothing(built, case, user_model_spec, digits_npz, tmp_path):
    spec, npz, extra = user_model_spec, digits_npz, []
    needle = {
        "missing weights": "weights file not found", "corrupt weights": "cannot read weights",
        "wrong input shape": "does not match the data", "unknown target": "unknown target 'rpi9'",
        "untraceable model": "cannot be traced", "wrong data keys": "missing array(s) x_train",
        "wrong data dtype": "must be float32", "missing model file": "model source file not found",
    }[case]
    if case == "missing weights":
        extra = ["--weights", str(tmp_path / "nope.safetensors")]
    elif case == "corrupt weights":
        extra = ["--weights", str(_bad_weights(tmp_path))]
    elif case == "untraceable model":
        spec = f"{FIXTURES / 'user_models.py'}:untraceable"
    elif case == "wrong data keys":
        npz = _bad_npz(tmp_path)
    elif case == "wrong data dtype":
        npz = tmp_path / "f64.npz"
        with np.load(digits_npz) as arrays:
            np.savez(npz, **{k: (v.astype(np.float64) if k.startswith("x") else v) for k, v in arrays.items()})
    elif case == "missing model file":
        spec = f"{tmp_path / 'nothere.py'}:factory"
    args = _args(spec, npz, built["out"], *extra)
    if case == "wrong input shape":
        args[args.index("1,16,16")] = "3,16,16"
    if case == "unknown target":
        args[args.index("rpi4")] = "rpi9"
    before = _hashes(built["out"])
    result = run_cli(*args, env=_env(built["root"]))
    assert result.returncode == 1, (case, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgeprune: error: ") and needle in lines[0], result.stderr
    assert _hashes(built["out"]) == before


def test_killed_build_resumes_from_the_last_finished_stage(built, user_model_spec, digits_npz, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    args = [sys.executable, "-m", "edgeprune.cli", *_args(user_model_spec, digits_npz, out, "--config", str(built["config"]))]
    process = subprocess.Popen(args, env=_env(built["root"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    try:
        while time.time() < deadline and process.poll() is None:
            try:
                stages = json.loads((out / "report.json").read_text())["stages"]
            except (OSError, ValueError):
                stages = {}
            if "prune" in stages:  # teacher and prune finished; distillation or export is under way
                break
            time.sleep(0.05)
        assert process.poll() is None, "the build finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    report = json.loads((out / "report.json").read_text())
    for record in report["stages"].values():  # whatever the manifest calls finished really is
        for name, digest in record["outputs"].items():
            assert sha256_file(out / name) == digest
    assert "bench" not in report["stages"]
    result = run_cli(*_args(user_model_spec, digits_npz, out, "--config", str(built["config"])), env=_env(built["root"]))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["stages"]["teacher"]["skipped"] and report["stages"]["prune"]["skipped"]
    assert not report["stages"]["bench"]["skipped"]
    assert not list(out.glob(".*partial*"))


def test_a_second_build_on_a_locked_folder_fails_at_once(built, user_model_spec, digits_npz):
    from edgeprune.pipeline import build_lock

    with build_lock(built["out"]):
        result = run_cli(*_args(user_model_spec, digits_npz, built["out"]), env=_env(built["root"]))
    assert result.returncode == 1
    assert "another edgeprune build is using this folder" in result.stderr


def test_report_command_compares_two_builds(built, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(built["out"], other)
    result = run_cli("report", str(built["out"]), "--compare", str(other))
    assert result.returncode == 0, result.stderr
    html = (built["out"] / "report.html").read_text()
    assert "other" in html and "data:image/png;base64," in html and "http://" not in html


def test_build_with_host_measures_on_the_device_and_reruns_only_bench(built, user_model_spec, digits_npz, sshd,
                                                                       tmp_path):
    import shutil
    import sys

    out = tmp_path / "device-build"
    shutil.copytree(built["out"], out)
    home = tmp_path / "home"
    sshd.write_ssh_config(home)
    before = set(Path("/tmp").glob("edgeprune-*"))
    env = {**_env(built["root"]), "HOME": str(home)}
    env.pop("SSH_AUTH_SOCK", None)
    result = run_cli(*_args(user_model_spec, digits_npz, out, "--config", str(built["config"]), "--host", "device",
                            "--remote-python", sys.executable), env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert {name for name, stage in report["stages"].items() if not stage["skipped"]} == {"bench"}
    latency = report["artifacts"]["model.int8.tflite"]["bench"]["latency_ms"]
    assert latency["where"].startswith("device device (") and latency["note"] == ""
    assert latency["threads"] == 4 and latency["throttled"] is False  # rpi4 profile: 4 threads on the device
    raw = json.loads((out / "bench.json").read_text())
    assert raw["model.int8.tflite"]["host"] == "device" and len(raw["model.int8.tflite"]["samples_ms"]) == 60
    assert "device device" in (out / "report.html").read_text()
    assert set(Path("/tmp").glob("edgeprune-*")) == before  # nothing left on the "device"

    unknown = tmp_path / "empty_known_hosts"
    unknown.write_text("")
    sshd.write_ssh_config(home, f"Host stranger\n  HostName 127.0.0.1\n  Port {sshd.port}\n"
                                f"  IdentityFile {sshd.client_key}\n  UserKnownHostsFile {unknown}\n")
    again = tmp_path / "unknown-host"
    result = run_cli(*_args(user_model_spec, digits_npz, again, "--config", str(built["config"]), "--host", "stranger"),
                     env=env)
    assert result.returncode == 1 and "stranger: host key ssh-ed25519" in result.stderr
    assert not (again / "teacher.safetensors").exists()  # refused before any training


def test_verify_rechecks_parity_and_catches_a_swapped_artifact(built, tmp_path):
    import shutil

    result = run_cli("verify", str(built["out"]), "--quiet", cwd=None, env=_env(built["root"]))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 7 and all(line.startswith("ok ") for line in lines)
    assert any(line.startswith("ok       model.int8.tflite: top-1 agreement") for line in lines)

    swapped = tmp_path / "swapped"
    shutil.copytree(built["out"], swapped)
    shutil.copy(swapped / "teacher.tflite", swapped / "model.tflite")  # a valid model, but not the student
    result = run_cli("verify", str(swapped), "--quiet", env=_env(built["root"]))
    assert result.returncode == 1 and "model.tflite: fp32 output differs from torch" in result.stderr

    result = run_cli("verify", str(tmp_path / "nothing"), "--quiet")
    assert result.returncode == 1 and "report.json: no report.json of a build" in result.stderr


def test_every_artifact_carries_metadata_and_inspect_prints_it(built):
    from edgeprune.export.metadata import read

    documents = {name: read(built["out"] / name) for name in
                 ("model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite", "teacher.tflite")}
    digests = {doc["build_digest"] for doc in documents.values()}
    assert len(digests) == 1 and len(digests.pop()) == 64  # one build, one digest
    int8 = documents["model.int8.tflite"]
    assert int8["input"]["dtype"] == "int8" and int8["input"]["shape"] == [1, 1, 16, 16]
    assert int8["labels"] == [] and int8["edgeprune_version"]  # an .npz carries no class names or normalisation
    assert int8["normalization"]["note"].startswith("none recorded")
    result = run_cli("inspect", str(built["out"] / "model.int8.tflite"))
    assert result.returncode == 0, result.stderr
    assert "int8 [1, 1, 16, 16] NCHW, scale" in result.stdout and "labels         not recorded" in result.stdout


def test_int8_options_rerun_only_export_and_bench_and_are_reported(built, user_model_spec, digits_npz, tmp_path):
    import shutil

    out = tmp_path / "fallback-build"
    shutil.copytree(built["out"], out)
    result = run_cli(*_args(user_model_spec, digits_npz, out, "--config", str(built["config"]), "--max-int8-drop", "0.5",
                            "--qat-epochs", "1", "--calibration-method", "percentile", "--onnx-dynamic-batch"),
                     env=_env(built["root"]))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert {name for name, stage in report["stages"].items() if not stage["skipped"]} == {"export", "bench"}
    assert report["stages"]["export"]["config"]["calibration_method"] == "percentile"
    int8 = report["artifacts"]["model.int8.onnx"]
    fallback = int8["fallback"]
    print(json.dumps(fallback, indent=1))
    assert fallback["max_drop_pp"] == 0.5 and fallback["steps"][-1]["drop_pp"] <= 0.5
    assert fallback["reference_accuracy"] == pytest.approx(int8["parity"]["reference_accuracy"])
    assert fallback["steps"][-1]["accuracy"] == pytest.approx(int8["parity"]["accuracy"])
    tflite = report["artifacts"]["model.int8.tflite"]["int8_drop"]
    print(json.dumps(tflite, indent=1))
    final = tflite.get("quantisation_aware", tflite["post_training"])
    assert final["drop_pp"] <= 0.5 and final["accuracy"] == pytest.approx(
        report["artifacts"]["model.int8.tflite"]["parity"]["accuracy"])
    if "quantisation_aware" in tflite:
        assert tflite["post_training"]["drop_pp"] > 0.5 and tflite["quantisation_aware"]["epochs"] == 1
    if fallback["needed"]:
        assert fallback["steps"][0]["drop_pp"] > 0.5 and fallback["latency_cost"]["ratio"] > 0
        assert fallback["float_layers"] and all(layer["module"] for layer in fallback["float_layers"])
    import onnx
    dims = onnx.load(str(out / "model.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 16, 16]

    result = run_cli(*_args(user_model_spec, digits_npz, tmp_path / "bad", "--calibration-method", "kl"))
    assert result.returncode == 2 and "'kl' is not one of" in result.stderr


@pytest.mark.slow
def test_verify_on_emulated_arm_matches_x86(built, tmp_path):
    """`verify --arm` runs every artifact under qemu-aarch64 (sysroot from scripts/arm-sysroot.sh, which the
    test setup builds) and compares with x86; a tampered launcher must fail loudly, not pass."""
    sysroot = Path(os.environ.get("EDGEPRUNE_ARM_SYSROOT", Path(__file__).parent.parent / ".venv" / "arm-sysroot"))
    if not (sysroot / "bin" / "pyarm").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{sysroot}: no aarch64 sysroot; the test setup must run scripts/arm-sysroot.sh")
        pytest.skip("no aarch64 sysroot (scripts/arm-sysroot.sh)")
    result = run_cli("verify", str(built["out"]), "--quiet", "--arm", str(sysroot), env=_env(built["root"]))
    assert result.returncode == 0, result.stderr
    arm_lines = [line for line in result.stdout.splitlines() if line.startswith("arm ok ")]
    assert len(arm_lines) == 7 and all("on aarch64 (qemu-user) vs" in line and "on x86_64" in line for line in arm_lines)
    assert any(line.startswith("arm ok   model.int8.tflite: ai-edge-litert") for line in arm_lines)

    result = run_cli("verify", str(built["out"]), "--quiet", "--arm", str(tmp_path), env=_env(built["root"]))
    assert result.returncode == 1 and f"{tmp_path}: no aarch64 Python here" in result.stderr


@pytest.mark.slow
def test_auto_converter_falls_back_to_onnx2tf_when_litert_torch_fails(digits_npz, tmp_path):
    """A global max-pool head has no litert-torch lowering: the TFLite artifacts come from onnx2tf, say so,
    and pass the same parity checks; forcing litert-torch fails with the converter's reason in one line."""
    pytest.importorskip("onnx2tf")
    spec = f"{FIXTURES / 'user_models.py'}:max_pool_net"
    config = tmp_path / "edgeprune.toml"
    config.write_text("bench-runs = 10\nbench-warmup = 1\nbench-rounds = 1\nbench-min-seconds = 0\n"
                      "calibration-samples = 32\nbatch-size = 64\n")
    out = tmp_path / "out"
    result = run_cli(*_args(spec, digits_npz, out, "--config", str(config), "--teacher-epochs", "2",
                            "--distill-epochs", "1"), env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    artifacts = json.loads((out / "report.json").read_text())["artifacts"]
    for name in ("model.tflite", "model.int8.tflite", "teacher.tflite"):
        converter = artifacts[name]["converter"]
        assert converter.startswith("onnx2tf 1.28.8") and "adaptive_max_pool2d" in converter, converter
    assert artifacts["model.tflite"]["parity"]["max_abs_diff"] <= 1e-4
    assert artifacts["model.int8.tflite"]["parity"]["top1_agreement"] >= 0.9
    assert artifacts["model.onnx"]["converter"].startswith("torch.onnx")

    result = run_cli(*_args(spec, digits_npz, tmp_path / "forced", "--config", str(config), "--teacher-epochs", "2",
                            "--distill-epochs", "1", "--tflite-converter", "litert-torch"), env=_env(tmp_path))
    assert result.returncode == 1 and "Lowering not found: aten.adaptive_max_pool2d" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
