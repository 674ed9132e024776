"""Turn `file.py:name` / `package.module:name` into the Python object it names."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputFileError, ModelError


def import_from_spec(spec: str, what: str = "factory") -> Any:
    """Import the object after the last ':'; a path ending in .py is loaded as a file."""
    source, sep, name = spec.rpartition(":")
    if not sep or not source or not name:
        raise ConfigError(f"'{spec}': expected FILE.py:{what} or package.module:{what}")
    if source.endswith(".py"):
        path = Path(source)
        if not path.is_file():
            raise InputFileError(f"{path}: model source file not found")
        module_name = f"_edgeprune_user_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise InputFileError(f"{path}: cannot be imported as a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:  # user code: report its failure in one line
            raise ModelError(f"{path}: importing it raised {type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(source)
        except ImportError as exc:
            raise ConfigError(f"'{spec}': cannot import module '{source}' ({exc})") from None
    try:
        return getattr(module, name)
    except AttributeError:
        raise ConfigError(f"'{spec}': '{source}' has no {what} named '{name}'") from None
