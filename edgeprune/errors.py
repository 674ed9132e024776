"""Typed errors: each carries the process exit code the CLI returns for it.

Exit codes (stable contract, see DESIGN.md): 0 ok, 1 error, 2 usage, 3 gate failed, 4 gate inconclusive.
"""
from __future__ import annotations


class EdgepruneError(Exception):
    """Base class: one clear line for the user, and the exit code to end with."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(EdgepruneError):
    """A bad option, config key or value."""


class InputFileError(EdgepruneError):
    """A missing, unreadable or malformed user file (weights, data, model source)."""


class ModelError(EdgepruneError):
    """The model cannot be built, run on the example input, or traced."""


class DataError(EdgepruneError):
    """The data set is missing or has the wrong keys, shapes or dtypes."""


class TargetError(EdgepruneError):
    """Unknown or invalid target profile."""


class StageError(EdgepruneError):
    """A pipeline stage failed for a reason that is not the user's input."""


class BuildLockedError(EdgepruneError):
    """Another build holds the build folder's lock."""


class DeviceError(EdgepruneError):
    """A remote device could not be reached or could not run the benchmark."""


class BudgetError(EdgepruneError):
    """No allowed widths meet the latency budget; `result` holds the narrowest widths the search reached."""

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result


class GateFailed(EdgepruneError):
    """A budget is broken."""

    exit_code = 3


class GateInconclusive(EdgepruneError):
    """The measurement cannot tell whether the budget holds."""

    exit_code = 4
