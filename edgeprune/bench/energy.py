"""Energy per inference: three proxies, each labelled with how it was obtained and where its numbers come from.

- ``power-x-latency`` (estimated): measured latency x (loaded - idle) watts of the target profile.
- ``op-count`` (estimated): MACs x energy per multiply-add + bytes moved x DRAM energy per byte, from
  Horowitz's 45 nm table below.
- ``rapl`` (measured): package energy counters read by device_runner.py around its timed loop (x86 Linux,
  when /sys/class/powercap is readable).

Each estimate is a dict ``{"method", "mj_per_inference", "source", "basis", "reference"}`` (the schema the
report renderers read under ``report["artifacts"][NAME]["energy"]``); the rapl entry also carries
``gross_mj_per_inference`` and ``net_mj_per_inference``. Units: ms x W = mJ; 1 pJ = 1e-9 mJ.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ..errors import TargetError
from ..targets import TargetProfile

Dtype = Literal["fp32", "int8"]

HOROWITZ_REFERENCE = "Horowitz, ISSCC 2014, 45 nm"
RAPL_REFERENCE = "/sys/class/powercap RAPL"

# Energy per operation in pJ. M. Horowitz, "Computing's energy problem (and what we can do about it)",
# ISSCC 2014, 45 nm at 0.9 V (as summarised in /work/shared/FINDINGS.md). These are ORDER-OF-MAGNITUDE figures
# for comparing models and precisions with one another, not any device's real energy: real chips are built on
# other process nodes (the Pi 4's BCM2711 is 28 nm), and caches, instruction overheads and idle power are
# not in them.
ENERGY_PJ: dict[str, float] = {
    "int8_add": 0.03,
    "int8_mult": 0.2,
    "fp32_add": 0.9,
    "fp32_mult": 3.7,
    "sram_read_64bit_8kb": 10.0,
    "dram_access_64bit_low": 1300.0,   # the table gives 1.3-2.6 nJ per 64-bit DRAM access
    "dram_access_64bit_high": 2600.0,
}

# One MAC = one multiply + one add of that dtype. (int8 kernels accumulate in int32, which Horowitz puts at
# 0.1 pJ per add; using the int8 add keeps to the cited pair and changes the compute share by < 0.1 pJ/MAC.)
MAC_PJ: dict[str, float] = {
    "fp32": ENERGY_PJ["fp32_mult"] + ENERGY_PJ["fp32_add"],  # 4.6 pJ
    "int8": ENERGY_PJ["int8_mult"] + ENERGY_PJ["int8_add"],  # 0.23 pJ
}

# DRAM energy per byte from the LOW end (1.3 nJ / 8 B = 162.5 pJ/B): op_count charges every weight byte as
# a DRAM read on every inference, which already overstates traffic for models whose weights stay in cache
# between inferences (all of edgeprune's small students); the low end keeps that upper-bound-ish memory
# term from being doubled again. It still dominates the compute term for small models.
DRAM_PJ_PER_BYTE = ENERGY_PJ["dram_access_64bit_low"] / 8

_PJ_TO_MJ = 1e-9


def _entry(method: str, mj: float, source: str, basis: str, reference: str) -> dict[str, Any]:
    return {"method": method, "mj_per_inference": mj, "source": source, "basis": basis, "reference": reference}


def profile_reference(profile: TargetProfile) -> str:
    """Where the profile's watts come from: ``targets/NAME.toml idle_watts/loaded_watts`` or the host note."""
    if profile.source.endswith(".toml"):
        return f"targets/{Path(profile.source).name} idle_watts/loaded_watts"
    return f"{profile.name} profile idle_watts/loaded_watts ({profile.source or 'no source recorded'})"


def power_x_latency(latency_ms: float, profile: TargetProfile, threads: int, *,
                    latency_from: str = "") -> dict[str, Any]:
    """Estimated energy = latency x (loaded - idle) W x min(threads, cores) / cores.

    The profile's loaded figure is "all cores busy", so a run on fewer threads is charged that share of the
    increase over idle (assumes each busy core adds about the same power; idle power is not charged to the
    model since the device draws it anyway). ``latency_from`` says whose latency it is (e.g. this host's).
    """
    if latency_ms <= 0:
        raise ValueError(f"latency_ms must be > 0, got {latency_ms}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    delta_w = profile.loaded_watts - profile.idle_watts
    if delta_w <= 0:
        raise TargetError(f"target '{profile.name}' ({profile.source}): loaded_watts {profile.loaded_watts} must be "
                          f"above idle_watts {profile.idle_watts} to estimate energy from latency")
    busy = min(threads, profile.cores)
    mj = latency_ms * delta_w * busy / profile.cores
    basis = (f"{latency_ms:.4g} ms x ({profile.loaded_watts:g} - {profile.idle_watts:g}) W x {busy}/{profile.cores} "
             f"cores busy = {mj:.4g} mJ")
    if latency_from:
        basis += f"; {latency_from}"
    return _entry("power-x-latency", mj, "estimated", basis, profile_reference(profile))


def op_count(macs: int, dtype: Dtype, bytes_moved: int, *, bytes_note: str = "") -> dict[str, Any]:
    """Estimated energy = MACs x (mult + add pJ of dtype) + bytes_moved x DRAM pJ/byte (Horowitz 2014).

    ``bytes_moved`` is what the caller counts as read from DRAM per inference (edgeprune: the artifact's file
    size as a proxy for its weights, plus the input tensor; ``bytes_note`` says so in the basis).
    """
    if dtype not in MAC_PJ:
        raise ValueError(f"dtype must be one of {', '.join(MAC_PJ)}, got {dtype!r}")
    if macs < 0 or bytes_moved < 0:
        raise ValueError(f"macs and bytes_moved must be >= 0, got {macs}, {bytes_moved}")
    compute_mj = macs * MAC_PJ[dtype] * _PJ_TO_MJ
    memory_mj = bytes_moved * DRAM_PJ_PER_BYTE * _PJ_TO_MJ
    mj = compute_mj + memory_mj
    basis = (f"{macs:,} MACs x {MAC_PJ[dtype]:g} pJ ({dtype} mult + add) = {compute_mj:.3g} mJ; "
             f"{bytes_moved:,} B x {DRAM_PJ_PER_BYTE:g} pJ/B (1.3 nJ per 64-bit DRAM access, low end) "
             f"= {memory_mj:.3g} mJ")
    if bytes_note:
        basis += f"; bytes counted: {bytes_note}"
    return _entry("op-count", mj, "estimated", basis, HOROWITZ_REFERENCE)


def rapl_net_uj(energy_uj: float, seconds: float, idle_energy_uj: float, idle_seconds: float) -> float:
    """Package energy over the run minus the idle baseline power x the run's duration (uJ)."""
    if idle_seconds <= 0:
        raise ValueError(f"idle_seconds must be > 0, got {idle_seconds}")
    return energy_uj - idle_energy_uj / idle_seconds * seconds


def rapl_energy(result: dict[str, Any]) -> dict[str, Any] | None:
    """The measured entry from a runner result's ``rapl`` dict, or None if RAPL was unavailable.

    Gross = whole-package energy over the timed loop / runs: it includes everything else running on the
    machine (and on a host, it is the host's energy, not the target's). Net subtracts the idle baseline the
    runner read before loading the model; mj_per_inference is the net when a positive net exists, else gross.
    """
    rapl = result.get("rapl")
    if not isinstance(rapl, dict) or "energy_uj" not in rapl:
        return None
    runs = rapl.get("runs") or result.get("runs")
    if not runs:
        return None
    energy_uj, seconds = float(rapl["energy_uj"]), float(rapl["seconds"])
    gross = energy_uj / 1000.0 / runs
    net = None
    if rapl.get("idle_seconds"):
        idle_uj, idle_s = float(rapl["idle_energy_uj"]), float(rapl["idle_seconds"])
        net = rapl_net_uj(energy_uj, seconds, idle_uj, idle_s) / 1000.0 / runs
    names = ", ".join(d["name"] for d in rapl.get("domains", [])) or "package"
    cpu = (result.get("device") or {}).get("cpu_model", "this machine")
    basis = f"{energy_uj / 1000:.4g} mJ ({names}) over {seconds:.3g} s / {runs} runs = gross {gross:.4g} mJ"
    if net is not None:
        idle_w = float(rapl["idle_energy_uj"]) / float(rapl["idle_seconds"]) / 1e6
        basis += f"; minus idle {idle_w:.3g} W x {seconds:.3g} s = net {net:.4g} mJ"
    basis += f"; whole-package energy of {cpu}, includes everything else running on it"
    out = _entry("rapl", net if net is not None and net > 0 else gross, "measured", basis, RAPL_REFERENCE)
    out["gross_mj_per_inference"], out["net_mj_per_inference"] = gross, net
    return out


def energy_estimates(*, profile: TargetProfile, threads: int, latency_ms: float | None = None,
                     latency_from: str = "", macs: int | None = None, dtype: Dtype = "fp32",
                     bytes_moved: int | None = None, bytes_note: str = "",
                     runner_result: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every estimate the inputs allow: power-x-latency (needs latency), op-count (needs MACs and bytes),
    rapl (needs a runner result with RAPL readings)."""
    out: list[dict[str, Any]] = []
    if latency_ms is not None:
        out.append(power_x_latency(latency_ms, profile, threads, latency_from=latency_from))
    if macs is not None and bytes_moved is not None:
        out.append(op_count(macs, dtype, bytes_moved, bytes_note=bytes_note))
    if runner_result is not None:
        measured = rapl_energy(runner_result)
        if measured is not None:
            out.append(measured)
    return out
