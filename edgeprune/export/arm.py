"""Arm check without a board: run artifacts under an emulated aarch64 Python (qemu-user) and compare with x86.

Both sides run the same self-contained device runner (bench/device_runner.py, `--outputs`) on the same real
samples, so only the platform of the runtime differs. The sysroot comes from scripts/arm-sysroot.sh; its
launcher is SYSROOT/bin/pyarm. Emulated timings are meaningless: this proves an artifact loads and computes
the same on Arm builds of its runtime, nothing about speed.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeprune.errors import StageError

FLOAT_TOLERANCE = 1e-4  # max abs diff, relative to the largest output when that is above 1
QUANTISED_AGREEMENT = 0.99  # int8 kernels may round differently per ISA; decisions must not move
TIMEOUT_SECONDS = 600


def launcher(sysroot: Path) -> Path:
    path = Path(sysroot) / "bin" / "pyarm"
    if not path.is_file():
        raise StageError(f"{sysroot}: no aarch64 Python here (bin/pyarm missing); create it with "
                         f"scripts/arm-sysroot.sh {sysroot}")
    return path


def _outputs(python: list[str], artifact: Path, inputs: Path, out: Path) -> dict[str, Any]:
    from ..bench import device_runner

    argv = [*python, device_runner.__file__, str(artifact), "--inputs", str(inputs), "--outputs", str(out)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise StageError(f"{artifact.name}: {python[0]} did not finish within {TIMEOUT_SECONDS} s") from None
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    if proc.returncode != 0 or "error" in result or not out.is_file():
        reason = result.get("error") or (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise StageError(f"{artifact.name} under {python[0]}: {reason}")
    return result


def compare_on_arm(artifacts: dict[str, bool], samples: np.ndarray, sysroot: Path) -> dict[str, dict[str, Any]]:
    """{name: record} for each artifact path in `artifacts` (path -> is it quantised?).

    A record holds both runtimes, max abs diff and top-1 agreement of the aarch64 outputs vs x86, and `ok`:
    float artifacts within FLOAT_TOLERANCE, quantised ones at QUANTISED_AGREEMENT or better.
    """
    arm = [str(launcher(sysroot))]
    records: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="edgeprune-arm-") as tmp:
        inputs = Path(tmp) / "inputs.npy"
        np.save(inputs, np.ascontiguousarray(samples, dtype=np.float32), allow_pickle=False)
        for path, quantised in artifacts.items():
            path = Path(path)
            x86 = _outputs([sys.executable], path, inputs, Path(tmp) / "x86.npy")
            aarch64 = _outputs(arm, path, inputs, Path(tmp) / "arm.npy")
            ref, got = np.load(Path(tmp) / "x86.npy"), np.load(Path(tmp) / "arm.npy")
            diff = float(np.abs(ref - got).max())
            agreement = float(np.mean(ref.argmax(1) == got.argmax(1)))
            allowed = FLOAT_TOLERANCE * max(1.0, float(np.abs(ref).max()))
            records[path.name] = {
                "source": "measured", "samples": len(samples), "quantised": quantised,
                "x86": f"{x86['runtime']} {x86['runtime_version']} on {x86['machine']}",
                "arm": f"{aarch64['runtime']} {aarch64['runtime_version']} on {aarch64['machine']} (qemu-user)",
                "max_abs_diff": diff, "top1_agreement": agreement,
                "ok": agreement >= QUANTISED_AGREEMENT if quantised else diff <= allowed,
            }
    return records
