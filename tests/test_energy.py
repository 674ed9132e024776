"""Energy proxies: power x latency, op count (Horowitz 2014), RAPL from the device runner."""
from __future__ import annotations

import dataclasses
import itertools
import os
from types import SimpleNamespace

import numpy as np
import pytest

from edgeprune.bench import device_runner
from edgeprune.bench.energy import (
    DRAM_PJ_PER_BYTE,
    HOROWITZ_REFERENCE,
    RAPL_REFERENCE,
    energy_estimates,
    op_count,
    power_x_latency,
    rapl_energy,
    rapl_net_uj,
)
from edgeprune.bench.local import bench_interleaved, bench_local
from edgeprune.errors import TargetError
from edgeprune.targets import load_target

from .test_bench import _conv_onnx

SCHEMA = {"method", "mj_per_inference", "source", "basis", "reference"}


@pytest.fixture(scope="module")
def rpi4():
    return load_target("rpi4")


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    return _conv_onnx(tmp_path_factory.mktemp("energy") / "model.onnx")


def _fake_powercap(root, zones: dict[str, tuple[str, str, str | None]]):
    """A fake /sys/class/powercap: {zone dir: (name, energy_uj text, max_energy_range_uj text)}."""
    for zone, (name, energy, max_range) in zones.items():
        d = root / zone
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "energy_uj").write_text(energy + "\n")
        if max_range is not None:
            (d / "max_energy_range_uj").write_text(max_range + "\n")
    return root


# ---------------------------------------------------------------- power x latency

def test_power_x_latency_rpi4_full_threads(rpi4):
    e = power_x_latency(1.0, rpi4, threads=4)
    assert e["mj_per_inference"] == pytest.approx(3.7)  # 1 ms x (6.4 - 2.7) W
    assert e["method"] == "power-x-latency" and e["source"] == "estimated"
    assert e["reference"] == "targets/rpi4.toml idle_watts/loaded_watts"
    assert "6.4" in e["basis"] and "2.7" in e["basis"] and "4/4" in e["basis"]


def test_power_x_latency_scales_by_busy_cores(rpi4):
    assert power_x_latency(1.0, rpi4, threads=2)["mj_per_inference"] == pytest.approx(1.85)
    assert power_x_latency(2.0, rpi4, threads=1)["mj_per_inference"] == pytest.approx(2 * 3.7 / 4)
    assert power_x_latency(1.0, rpi4, threads=16)["mj_per_inference"] == pytest.approx(3.7)  # capped at cores
    e = power_x_latency(1.0, rpi4, threads=2, latency_from="latency is the p50 measured on host x")
    assert e["basis"].endswith("latency is the p50 measured on host x")


def test_power_x_latency_rejects_loaded_not_above_idle(rpi4):
    flat = dataclasses.replace(rpi4, loaded_watts=2.7)
    with pytest.raises(TargetError, match="loaded_watts"):
        power_x_latency(1.0, flat, threads=4)
    with pytest.raises(ValueError):
        power_x_latency(0.0, rpi4, threads=4)


# ---------------------------------------------------------------- op count

def test_op_count_numbers():
    fp32 = op_count(1_000_000, "fp32", 0)
    int8 = op_count(1_000_000, "int8", 0)
    assert fp32["mj_per_inference"] == pytest.approx(1e6 * 4.6e-9)   # (3.7 + 0.9) pJ per MAC
    assert int8["mj_per_inference"] == pytest.approx(1e6 * 0.23e-9)  # (0.2 + 0.03) pJ per MAC
    mem = op_count(0, "fp32", 8)
    assert DRAM_PJ_PER_BYTE == pytest.approx(1300 / 8)
    assert mem["mj_per_inference"] == pytest.approx(1.3e-6)  # one 64-bit DRAM access = 1.3 nJ
    assert fp32["reference"] == HOROWITZ_REFERENCE and fp32["source"] == "estimated"
    assert fp32["method"] == "op-count" and "1,000,000 MACs" in fp32["basis"]


def test_op_count_int8_below_fp32_for_same_work():
    for macs, moved in [(1, 0), (1_040_642, 50_000), (10**9, 10**6)]:
        assert op_count(macs, "int8", moved)["mj_per_inference"] < op_count(macs, "fp32", moved)["mj_per_inference"]


def test_op_count_rejects_unknown_dtype():
    with pytest.raises(ValueError, match="fp32, int8"):
        op_count(10, "fp16", 0)  # type: ignore[arg-type]


# ---------------------------------------------------------------- RAPL arithmetic and sysfs reading

def test_rapl_delta_wraps_around():
    top = 262_143_328_850
    assert device_runner.rapl_delta_uj(1_000, 5_000, top) == 4_000
    assert device_runner.rapl_delta_uj(top - 100, 50, top) == 150
    assert device_runner.rapl_delta_uj(10, 5, 0) is None  # went backwards, range unknown


def test_rapl_zones_keeps_readable_package_zones_only(tmp_path):
    root = _fake_powercap(tmp_path / "powercap", {
        "intel-rapl:0": ("package-0", "1000", "262143328850"),
        "intel-rapl:0:0": ("core", "400", "262143328850"),   # sub-zone of package 0: not counted twice
        "intel-rapl:1": ("psys", "9000", "262143328850"),     # whole platform: not a package
        "intel-rapl:2": ("package-1", "7", None),
    })
    zones, reason = device_runner.rapl_zones(str(root))
    assert reason is None
    assert [(z["name"], z["zone"], z["max_range_uj"]) for z in zones] == [
        ("package-0", "intel-rapl:0", 262143328850), ("package-1", "intel-rapl:2", 0)]
    assert device_runner.rapl_read(zones) == [1000, 7]


def test_rapl_zones_reasons(tmp_path):
    zones, reason = device_runner.rapl_zones(str(tmp_path / "absent"))
    assert zones == [] and "does not exist" in reason
    root = tmp_path / "powercap"
    (root / "intel-rapl:0").mkdir(parents=True)
    (root / "intel-rapl:0" / "name").write_text("package-0")
    (root / "intel-rapl:0" / "energy_uj").mkdir()  # unreadable as a file, even for root
    zones, reason = device_runner.rapl_zones(str(root))
    assert zones == [] and "energy_uj is not readable" in reason and "root" in reason


def test_rapl_measurement_sums_domains_with_wrap(tmp_path):
    zones = [{"name": "package-0", "zone": "intel-rapl:0", "path": "", "max_range_uj": 1_000_000},
             {"name": "package-1", "zone": "intel-rapl:1", "path": "", "max_range_uj": 1_000_000}]
    m = device_runner.rapl_measurement(zones, [999_000, 10], [1_000, 3_010], 0.5, 100, idle=(200, 0.2))
    assert m["energy_uj"] == 2_000 + 3_000
    assert [d["energy_uj"] for d in m["domains"]] == [2_000, 3_000]
    assert m["runs"] == 100 and m["seconds"] == 0.5 and m["idle_energy_uj"] == 200
    assert "unavailable" in device_runner.rapl_measurement(zones, None, [1, 2], 0.5, 100)


def test_rapl_energy_gross_and_net():
    result = {"runs": 1000, "device": {"cpu_model": "Test CPU"},
              "rapl": {"energy_uj": 2_000_000, "seconds": 1.0, "runs": 1000,
                       "domains": [{"name": "package-0", "zone": "intel-rapl:0", "energy_uj": 2_000_000}],
                       "idle_energy_uj": 200_000, "idle_seconds": 0.2}}
    e = rapl_energy(result)
    assert e["gross_mj_per_inference"] == pytest.approx(2.0)  # 2 J / 1000 runs
    assert e["net_mj_per_inference"] == pytest.approx(1.0)    # minus 1 W idle x 1 s
    assert e["mj_per_inference"] == pytest.approx(1.0)
    assert e["source"] == "measured" and e["reference"] == RAPL_REFERENCE
    assert "whole-package" in e["basis"] and "Test CPU" in e["basis"] and "package-0" in e["basis"]
    assert rapl_net_uj(10.0, 2.0, 1.0, 1.0) == pytest.approx(8.0)
    no_idle = rapl_energy({"runs": 10, "rapl": {"energy_uj": 5_000, "seconds": 0.1, "runs": 10, "domains": []}})
    assert no_idle["mj_per_inference"] == pytest.approx(0.5) and no_idle["net_mj_per_inference"] is None
    assert rapl_energy({"runs": 10, "rapl": {"unavailable": "no powercap"}}) is None
    assert rapl_energy({"runs": 10}) is None


# ---------------------------------------------------------------- the runner's JSON

def test_runner_json_has_rapl_and_device_after(small_onnx):
    result = bench_local(small_onnx, threads=1, warmup=1, runs=5)
    rapl = result["rapl"]
    if "unavailable" in rapl:
        assert isinstance(rapl["unavailable"], str) and rapl["unavailable"]
        if not os.path.isdir(device_runner.RAPL_ROOT):
            assert device_runner.RAPL_ROOT in rapl["unavailable"]
    else:
        assert rapl["energy_uj"] >= 0 and rapl["runs"] == result["runs"] and rapl["domains"]
    after = result["device_after"]
    assert after["hostname"] == result["device"]["hostname"] and after["cpu_count"] >= 1


def test_runner_reads_rapl_around_the_timed_loop(small_onnx, monkeypatch):
    """A fake counter advancing 900 uJ per read, wrapping at 2500: idle pair, then the timed pair across the wrap."""
    zones = [{"name": "package-0", "zone": "intel-rapl:0", "path": "", "max_range_uj": 2_500}]
    counter = itertools.count(0, 900)
    reads: list[int] = []

    def fake_read(z):
        reads.append(next(counter) % 2_500)
        return [reads[-1]]

    monkeypatch.setattr(device_runner, "rapl_zones", lambda root=None: (zones, None))
    monkeypatch.setattr(device_runner, "rapl_read", fake_read)
    result = device_runner.benchmark(str(small_onnx), threads=1, warmup=0, runs=4)
    assert reads == [0, 900, 1_800, 200]  # idle before/after, then timed before/after (wrapped)
    rapl = result["rapl"]
    assert rapl["idle_energy_uj"] == 900 and rapl["energy_uj"] == 900 and rapl["runs"] == 4
    assert rapl["idle_seconds"] >= 0.2 and rapl["domains"][0]["name"] == "package-0"
    assert rapl["seconds"] == pytest.approx(result["timed_seconds"])


# ---------------------------------------------------------------- the list and its wiring into the build

def test_energy_estimates_schema(rpi4):
    runner = {"runs": 100, "rapl": {"energy_uj": 50_000, "seconds": 0.1, "runs": 100, "domains": [],
                                    "idle_energy_uj": 1_000, "idle_seconds": 0.2}}
    full = energy_estimates(profile=rpi4, threads=4, latency_ms=0.5, macs=1_000_000, dtype="int8",
                            bytes_moved=50_000, runner_result=runner)
    assert [e["method"] for e in full] == ["power-x-latency", "op-count", "rapl"]
    assert [e["source"] for e in full] == ["estimated", "estimated", "measured"]
    for e in full:
        assert SCHEMA <= e.keys()
        assert isinstance(e["mj_per_inference"], float) and e["mj_per_inference"] > 0
        assert isinstance(e["basis"], str) and e["basis"] and isinstance(e["reference"], str)
    assert full[0]["mj_per_inference"] == pytest.approx(0.5 * 3.7)
    assert full[1]["mj_per_inference"] == pytest.approx(1e6 * 0.23e-9 + 50_000 * 162.5e-9)
    assert [e["method"] for e in energy_estimates(profile=rpi4, threads=4, latency_ms=0.5)] == ["power-x-latency"]
    unavailable = {"runs": 1, "rapl": {"unavailable": "x"}}
    assert energy_estimates(profile=rpi4, threads=1, runner_result=unavailable) == []


@pytest.mark.parametrize("name, dtype", [("model.int8.onnx", "int8"), ("teacher.onnx", "fp32")])
def test_bench_stage_writes_energy(tmp_path, rpi4, name, dtype):
    from edgeprune.stages.bench import _summarise

    artifact = _conv_onnx(tmp_path / name)
    (path, result), = bench_interleaved([artifact], rounds=1, threads=2, warmup=1, runs=5).items()
    models = {"student": {"macs": {"value": 1_000_000}}, "teacher": {"macs": {"value": 4_000_000}}}
    ctx = SimpleNamespace(report={"artifacts": {}, "models": models}, target=rpi4)
    bench = _summarise(result, 2, ctx)
    assert bench["latency_ms"]["p50"] == result["summary"]["p50"]
    energy = ctx.report["artifacts"][name]["energy"]
    methods = [e["method"] for e in energy]
    assert methods[:2] == ["power-x-latency", "op-count"]
    assert ("rapl" in methods) == ("energy_uj" in result["rapl"])
    pxl, ops = energy[0], energy[1]
    assert pxl["mj_per_inference"] == pytest.approx(result["summary"]["p50"] * 3.7 * 2 / 4)
    assert "not on rpi4" in pxl["basis"]
    macs = 4_000_000 if name.startswith("teacher") else 1_000_000
    moved = artifact.stat().st_size + 3 * 16 * 16 * 4  # file + float32 1x3x16x16 input
    assert ops["mj_per_inference"] == pytest.approx(op_count(macs, dtype, moved)["mj_per_inference"])
    assert f"{dtype} mult + add" in ops["basis"] and f"{artifact.stat().st_size:,} B" in ops["basis"]
