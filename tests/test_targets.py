import re

import pytest

from edgeprune.errors import TargetError
from edgeprune.targets import available_targets, load_profile_file, load_target, targets_dir

REQUIRED = {"rpi4", "rpi5", "rpi-zero2w", "arm64-generic", "x86-64", "x86-64-vnni", "host"}


def test_required_profiles_exist():
    assert REQUIRED <= set(available_targets())


@pytest.mark.parametrize("name", sorted(REQUIRED - {"host"}))
def test_profiles_load_and_every_figure_has_a_source_comment(name):
    profile = load_target(name)
    assert profile.name == name and profile.cores > 0 and profile.channel_multiple in (4, 8, 16, 32)
    assert profile.runtime in ("tflite", "onnxruntime")
    text = (targets_dir() / f"{name}.toml").read_text()
    for line in text.splitlines():
        if re.match(r"^(cores|clock_ghz|peak_gflops_fp32|peak_gops_int8|memory_bandwidth_gbs|idle_watts|loaded_watts)\s*=", line):
            assert "#" in line, f"{name}: figure without a source comment: {line}"


def test_rpi4_facts():
    rpi4 = load_target("rpi4")
    assert rpi4.cpu == "Cortex-A72" and rpi4.cores == 4 and "dotprod" not in rpi4.isa_features
    assert rpi4.int8_activations == "int8" and rpi4.runtime == "tflite"


def test_host_is_detected():
    host = load_target("host")
    assert host.cores >= 1 and host.cpu and host.arch


def test_unknown_target_suggests_closest():
    with pytest.raises(TargetError, match="did you mean 'rpi5'"):
        load_target("rpi6")


def test_profile_file_errors_name_file_and_key(tmp_path):
    good = (targets_dir() / "rpi4.toml").read_text()
    bad = tmp_path / "mine.toml"
    bad.write_text(good.replace("cores = 4", "corez = 4"))
    with pytest.raises(TargetError) as info:
        load_profile_file(bad)
    assert str(bad) in str(info.value) and "'corez'" in str(info.value) and "cores" in str(info.value)
    bad.write_text(good.replace('runtime = "tflite"', 'runtime = "tvm"'))
    with pytest.raises(TargetError, match="runtime"):
        load_target(str(bad))
    bad.write_text(good.replace("onnx_opset = 17", "onnx_opset = 21"))
    with pytest.raises(TargetError, match="'onnx_opset' must be between 13 .* and 20 .*got 21"):
        load_target(str(bad))
    assert load_target("rpi4").onnx_opset == 17
