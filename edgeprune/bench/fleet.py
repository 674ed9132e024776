"""Devices to benchmark on: one `--host`, the target profile's host, or an inventory file for a fleet.

Inventory (TOML)::

    [[device]]
    name = "kitchen-pi"          # label in reports (default: host)
    host = "pi@10.0.0.20"        # or an alias from ~/.ssh/config
    target = "rpi4"              # optional: profile for threads / python / work dir / throttle limit
    python = "/home/pi/venv/bin/python"   # optional, else the profile's [ssh] python
    work_dir = "/tmp"            # optional, else the profile's [ssh] work_dir

A fleet is benchmarked in parallel, one thread (and one SSH connection) per device; one device failing
does not lose the others' results.
"""
from __future__ import annotations

import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeprune.errors import ConfigError, EdgepruneError, InputFileError
from edgeprune.targets import TargetProfile, load_target

_DEVICE_KEYS = {"name", "host", "target", "python", "work_dir"}


@dataclass(frozen=True)
class Device:
    name: str
    host: str
    profile: TargetProfile
    python: str
    work_dir: str


def device_for(host: str, profile: TargetProfile, *, python: str | None = None, name: str | None = None,
               work_dir: str | None = None) -> Device:
    return Device(name=name or host, host=host, profile=profile, python=python or profile.ssh.python,
                  work_dir=work_dir or profile.ssh.work_dir)


def load_inventory(path: Path, default_profile: TargetProfile) -> list[Device]:
    """Parse an inventory file; every error names the file and the entry."""
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise InputFileError(f"{path}: inventory file not found") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputFileError(f"{path}: not a valid TOML inventory ({exc})") from None
    entries = raw.get("device")
    if set(raw) - {"device"} or not isinstance(entries, list) or not entries:
        raise InputFileError(f"{path}: expected one or more [[device]] tables and nothing else")
    devices: list[Device] = []
    for index, entry in enumerate(entries, 1):
        where = f"{path}: device #{index}"
        unknown = set(entry) - _DEVICE_KEYS
        if unknown:
            raise InputFileError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: "
                                 f"{', '.join(sorted(_DEVICE_KEYS))}")
        if not all(isinstance(v, str) and v for v in entry.values()):
            raise InputFileError(f"{where}: every value must be a non-empty string")
        if "host" not in entry:
            raise InputFileError(f"{where}: missing 'host'")
        profile = load_target(entry["target"]) if "target" in entry else default_profile
        devices.append(device_for(entry["host"], profile, python=entry.get("python"), name=entry.get("name"),
                                  work_dir=entry.get("work_dir")))
    names = [d.name for d in devices]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputFileError(f"{path}: device names must be unique; repeated: {', '.join(duplicates)}")
    return devices


def bench_on_device(device: Device, artifacts: list[Path], *, rounds: int, threads: int, warmup: int, runs: int,
                    min_seconds: float = 0.0, warmup_seconds: float = 0.0, cpus: tuple[int, ...] | None = None,
                    inputs: np.ndarray | None = None, trust_new_host: bool = False,
                    command_timeout: float = 600.0,
                    on_result: Callable[[Path, dict], None] | None = None) -> dict[Path, dict]:
    """Interleaved rounds on one device over one SSH session; remote files are removed on return."""
    from edgeprune.bench.local import bench_interleaved
    from edgeprune.bench.remote import DeviceSession
    from edgeprune.bench.ssh import resolve_host

    spec = resolve_host(device.host, trust_new_host=trust_new_host)
    with DeviceSession(spec, python=device.python, work_dir=device.work_dir, command_timeout=command_timeout,
                       inputs=inputs, throttle_celsius=device.profile.throttle_celsius) as session:
        return bench_interleaved(artifacts, rounds=rounds, threads=threads, warmup=warmup, runs=runs,
                                 min_seconds=min_seconds, warmup_seconds=warmup_seconds, cpus=cpus,
                                 on_result=on_result, run_one=session.bench)


def cycle_on_device(device: Device, artifacts: list[Path], *, threads: int, warmup: int, chunk: int, seconds: float,
                    min_chunks: int, cpus: tuple[int, ...] | None = None, trust_new_host: bool = False,
                    command_timeout: float = 3600.0) -> dict[Path, dict]:
    """Many artifacts timed in turns on the device, each runtime's in one process (`local.bench_cycled` there)."""
    from edgeprune.bench.remote import DeviceSession
    from edgeprune.bench.ssh import resolve_host

    spec = resolve_host(device.host, trust_new_host=trust_new_host)
    with DeviceSession(spec, python=device.python, work_dir=device.work_dir, command_timeout=command_timeout,
                       throttle_celsius=device.profile.throttle_celsius) as session:
        return session.cycle(artifacts, threads=threads, warmup=warmup, chunk=chunk, seconds=seconds,
                             min_chunks=min_chunks, cpus=cpus)


def bench_fleet(devices: list[Device], artifacts: list[Path], *, threads: int | None, **options: object
                ) -> dict[str, dict[Path, dict] | EdgepruneError]:
    """Every device in parallel; each entry is its results or the error that stopped it."""
    def one(device: Device) -> dict[Path, dict] | EdgepruneError:
        try:
            return bench_on_device(device, artifacts, threads=threads or device.profile.threads, **options)
        except EdgepruneError as exc:
            return exc

    if not devices:
        raise ConfigError("no devices to benchmark")
    with ThreadPoolExecutor(max_workers=len(devices)) as pool:
        return dict(zip((d.name for d in devices), pool.map(one, devices)))
