"""report.json: the build manifest. Schema, stage records, metric provenance."""
from __future__ import annotations

import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from .fileio import write_json_atomic

SCHEMA = 1
REPORT_NAME = "report.json"
TRACKED_PACKAGES = ("torch", "torch-pruning", "onnx", "onnxruntime", "onnxscript", "litert-torch",
                    "ai-edge-litert", "numpy", "safetensors")


def metric(value: Any, unit: str, source: str, **provenance: Any) -> dict[str, Any]:
    """A number that says how it was obtained: source is measured / computed / estimated / configured."""
    return {"value": value, "unit": unit, "source": source, **provenance}


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    from . import __version__

    versions["edgeprune"] = __version__
    return versions


def new_report(config: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": sys.argv,
        "config": config,
        "target": target,
        "host": {"machine": platform.machine(), "node": platform.node(), "system": platform.platform()},
        "versions": package_versions(),
        "inputs": {},
        "stages": {},
        "models": {},
        "artifacts": {},
        "summary": {},
    }


def read_report(path: Path) -> dict[str, Any] | None:
    """An existing manifest, or None when missing, corrupt or of another schema (then every stage re-runs)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    return data


def write_report(path: Path, report: dict[str, Any]) -> None:
    write_json_atomic(path, report)
