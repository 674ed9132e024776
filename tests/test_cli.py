import json
import subprocess
import sys
import time

from click.testing import CliRunner

from edgeprune import __version__
from edgeprune.cli import cli


def test_help_is_instant_and_imports_nothing_heavy():
    code = ("import sys, time; t=time.perf_counter(); from edgeprune.cli import cli; "
            "heavy=[m for m in ('torch','onnxruntime','ai_edge_litert','litert_torch','torch_pruning','matplotlib') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "edgeprune.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "build" in result.stdout and "gate" in result.stdout
    assert time.perf_counter() - started < 5  # generous: a heavy import alone takes longer than this


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_targets_list_and_one():
    runner = CliRunner()
    listing = runner.invoke(cli, ["targets"])
    assert listing.exit_code == 0
    for name in ("rpi4", "rpi5", "rpi-zero2w", "arm64-generic", "x86-64", "x86-64-vnni", "host"):
        assert name in listing.output
    one = runner.invoke(cli, ["targets", "rpi4"])
    assert one.exit_code == 0 and "Cortex-A72" in one.output


def test_unknown_option_is_a_usage_error():
    result = CliRunner().invoke(cli, ["build", "--prune-ration", "0.5"])
    assert result.exit_code == 2 and "--prune-ratio" in result.output


def test_bad_config_value_is_exit_1_with_the_key(tmp_path):
    result = CliRunner().invoke(cli, ["build", "--prune-ratio", "1.5", "--out", str(tmp_path / "b")])
    assert result.exit_code == 1 and "prune-ratio" in result.output
    assert not (tmp_path / "b").exists()


def _report(tmp_path, **summary):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"schema": 1, "summary": summary}))
    return str(path)


def test_gate_exit_codes(tmp_path):
    runner = CliRunner()
    path = _report(tmp_path, latency_ms={"p95": 1.0, "p95_ci": [0.9, 1.1]}, peak_rss_mb=40.0, size_kb=100.0, accuracy=0.91)
    ok = runner.invoke(cli, ["gate", path, "--budget-ms", "2", "--max-memory-mb", "64", "--max-size-kb", "200",
                             "--min-accuracy", "90", "--junit", str(tmp_path / "j.xml")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "j.xml").read_text().startswith("<?xml")
    assert runner.invoke(cli, ["gate", path, "--budget-ms", "0.5"]).exit_code == 3
    assert runner.invoke(cli, ["gate", path, "--budget-ms", "1.0"]).exit_code == 4
    assert runner.invoke(cli, ["gate", path, "--min-accuracy", "0.95"]).exit_code == 3
    missing = runner.invoke(cli, ["gate", str(tmp_path / "nope.json"), "--budget-ms", "1"])
    assert missing.exit_code == 1 and "report not found" in missing.output


def test_bench_cli_on_a_real_onnx_file(tmp_path):
    from tests.test_bench import _conv_onnx

    artifact = _conv_onnx(tmp_path / "conv.onnx")
    result = CliRunner().invoke(cli, ["bench", str(artifact), "--runs", "20", "--warmup", "2", "--threads", "1", "--rounds", "2",
                                      "--json", str(tmp_path / "b.json"), "--budget-ms", "1000"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "b.json").read_text())
    assert len(data[str(artifact)]["samples_ms"]) >= 40 and "measured on host" in result.output
    assert len(data[str(artifact)]["round_p50_ms"]) == 2
    over = CliRunner().invoke(cli, ["bench", str(artifact), "--runs", "20", "--warmup", "2", "--budget-ms", "0.000001"])
    assert over.exit_code == 3


def test_report_command_rerenders_and_names_a_missing_folder(tmp_path):
    missing = CliRunner().invoke(cli, ["report", str(tmp_path / "nobuild")])
    assert missing.exit_code == 1 and "report.json" in missing.output
