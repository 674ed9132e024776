"""Target profiles: facts about a device, kept as data in targets/*.toml (shipped inside the package).

`host` is not a file: it is detected at run time from this machine.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import platform
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import TargetError

RUNTIMES = ("tflite", "onnxruntime")
ACTIVATION_TYPES = ("int8", "uint8")
OPSETS = (13, 20)  # per-channel QDQ needs 13; the TorchScript exporter stops at 20


@dataclass(frozen=True)
class SshDefaults:
    python: str = "python3"
    work_dir: str = "/tmp"
    host: str = ""  # a default device ([USER@]HOST[:PORT] or ~/.ssh/config alias); empty = measure on this machine


@dataclass(frozen=True)
class TargetProfile:
    name: str
    description: str
    arch: str
    cpu: str
    cores: int
    clock_ghz: float
    isa_features: tuple[str, ...]
    peak_gflops_fp32: float
    peak_gops_int8: float
    memory_bandwidth_gbs: float
    ram_mb: int
    idle_watts: float
    loaded_watts: float
    runtime: str
    threads: int
    int8_activations: str
    channel_multiple: int
    throttle_celsius: float
    onnx_opset: int = 17  # the highest opset the device's ONNX Runtime must support
    int8_reduce_range: bool = False  # 7-bit int8 weights: x86 without VNNI saturates 8-bit U8S8 products
    ssh: SshDefaults = field(default_factory=SshDefaults)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELDS = {f.name: f for f in dataclasses.fields(TargetProfile)}
_REQUIRED = [f.name for f in dataclasses.fields(TargetProfile)
             if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def targets_dir() -> Path:
    """Installed package data first, else the repository's top-level targets/ (editable installs)."""
    packaged = Path(__file__).with_name("targets")
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "targets"


def available_targets() -> list[str]:
    return sorted([p.stem for p in targets_dir().glob("*.toml")] + ["host"])


def _check_value(path: Path, key: str, value: Any) -> Any:
    expected = _FIELDS[key].type
    where = f"{path}: '{key}'"
    if expected in ("int",) and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise TargetError(f"{where} must be a positive integer, got {value!r}")
    if expected == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise TargetError(f"{where} must be a positive number, got {value!r}")
        return float(value)
    if expected == "bool" and not isinstance(value, bool):
        raise TargetError(f"{where} must be true or false, got {value!r}")
    if expected == "str" and not isinstance(value, str):
        raise TargetError(f"{where} must be a string, got {value!r}")
    if expected == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TargetError(f"{where} must be a list of strings")
        return tuple(value)
    return value


def load_profile_file(path: Path) -> TargetProfile:
    """Parse and validate one profile file; errors name the file and key."""
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{path}: not valid TOML ({exc})") from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _FIELDS or key == "source":
            close = difflib.get_close_matches(key, _FIELDS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise TargetError(f"{path}: unknown key '{key}'{hint}")
        if key == "ssh":
            unknown = set(value) - {f.name for f in dataclasses.fields(SshDefaults)}
            if unknown:
                raise TargetError(f"{path}: unknown key(s) in [ssh]: {', '.join(sorted(unknown))}")
            values[key] = SshDefaults(**value)
        else:
            values[key] = _check_value(path, key, value)
    missing = [k for k in _REQUIRED if k not in values]
    if missing:
        raise TargetError(f"{path}: missing key(s) {', '.join(missing)}")
    if values["runtime"] not in RUNTIMES:
        raise TargetError(f"{path}: 'runtime' must be one of {', '.join(RUNTIMES)}, got '{values['runtime']}'")
    if values["int8_activations"] not in ACTIVATION_TYPES:
        raise TargetError(f"{path}: 'int8_activations' must be int8 or uint8, got '{values['int8_activations']}'")
    if not OPSETS[0] <= values.get("onnx_opset", OPSETS[0]) <= OPSETS[1]:
        raise TargetError(f"{path}: 'onnx_opset' must be between {OPSETS[0]} (int8 QDQ) and {OPSETS[1]} "
                          f"(torch's ONNX exporter), got {values['onnx_opset']}")
    return TargetProfile(**values, source=str(path))


def _cpu_model() -> str:
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().splitlines() if ":" in line)
    except OSError:
        fields = {}
    fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
    for key in ("model name", "hardware", "model"):  # x86, older Arm kernels, Raspberry Pi
        if fields.get(key):
            return fields[key]
    return platform.processor() or platform.machine()


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def host_profile() -> TargetProfile:
    """Facts of this machine, detected now. Figures that cannot be detected are marked as estimates."""
    flags = _cpu_flags()
    machine = platform.machine()
    is_x86 = machine in ("x86_64", "AMD64")
    features = tuple(sorted(f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "asimd", "asimddp") if f in flags))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    except (ValueError, OSError, AttributeError):
        ram_mb = 1024
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    clock = 2.5  # estimate: /proc/cpuinfo MHz moves with frequency scaling
    return TargetProfile(
        name="host", description=f"this machine: {_cpu_model()}", arch=machine, cpu=_cpu_model(), cores=cores,
        clock_ghz=clock, isa_features=features,
        peak_gflops_fp32=cores * clock * lanes * 2 * 2,  # estimate: 2 FMA pipes x lanes x 2 FLOP
        peak_gops_int8=cores * clock * lanes * 2 * 8,  # estimate
        memory_bandwidth_gbs=10.0,  # estimate, not measured
        ram_mb=int(ram_mb), idle_watts=10.0, loaded_watts=30.0,  # estimates, not measured
        runtime="onnxruntime" if is_x86 else "tflite", threads=cores,
        int8_activations="uint8" if is_x86 else "int8", channel_multiple=lanes if is_x86 else 8,
        int8_reduce_range=is_x86 and not flags & {"avx512_vnni", "avx_vnni"},
        throttle_celsius=100.0, source="detected at run time (figures marked estimate are not measured)",
    )


def load_target(name: str) -> TargetProfile:
    """A profile by name, or a path to a .toml/.yaml profile file."""
    if name == "host":
        return host_profile()
    candidate = Path(name)
    if candidate.suffix == ".toml":
        if not candidate.is_file():
            raise TargetError(f"{candidate}: target profile file not found")
        return load_profile_file(candidate)
    path = targets_dir() / f"{name}.toml"
    if not path.is_file():
        known = available_targets()
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise TargetError(f"unknown target '{name}': {hint}known targets: {', '.join(known)}")
    return load_profile_file(path)
