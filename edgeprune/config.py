"""Build configuration: one frozen dataclass, read from edgeprune.toml / [tool.edgeprune], overridden by flags.

Validation happens here, at the boundary: an unknown key or a bad value is a ConfigError naming the key
(and where it came from) with the closest valid key suggested. Settings are never silently rewritten.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError


@dataclass(frozen=True)
class BuildConfig:
    """Everything a build depends on. Stage records hash the parts each stage reads."""

    target: str = "rpi4"
    model: str = "example"
    weights: str | None = None
    data: str = "fashion-mnist"
    data_dir: str | None = None
    input_shape: tuple[int, ...] | None = None
    prune_ratio: float = 0.5
    budget_ms: float | None = None  # instead of prune_ratio: widths searched to meet this latency (measured)
    budget_percentile: str = "p95"  # the latency the budget bounds: p95 (what the gate checks) or p50
    importance: str = "l2"
    prune_mode: str = "structured"  # or "unstructured": magnitude zeros in place, same architecture
    prune_steps: int = 1  # iterative pruning: N steps, a short distillation between steps
    prune_finetune_epochs: int = 1  # distillation epochs between two pruning steps
    global_pruning: bool = False  # rank channels across all layers instead of the same ratio per layer
    max_layer_ratio: float = 1.0  # no layer loses more than this share of its channels
    ignore_layers: tuple[str, ...] = ()  # layers (and everything coupled to them) left unpruned
    layer_ratios: dict[str, float] = field(default_factory=dict)  # per-layer ratio overriding prune-ratio
    sparsity: str = "none"  # bn-l1 | group-lasso: regularised training of the teacher's copy before pruning
    sparsity_epochs: int = 0
    sparsity_strength: float = 1e-4
    teacher_epochs: int = 10
    distill_epochs: int = 8
    batch_size: int = 128
    learning_rate: float = 3e-3
    temperature: float = 4.0
    alpha: float = 0.7
    distill_loss: str = "kd"  # kd (soft targets + labels) | hard (labels only: plain fine-tuning) | kd+feature
    feature_layers: str | None = None  # kd+feature: module names, or student=teacher pairs; None: stage outputs
    feature_weight: float = 1.0  # weight of the feature-matching term
    student: str | None = None  # a model spec for the student (trained from scratch); None: the pruned teacher
    student_width: float | None = None  # the student is the teacher's factory at this width (needs `width=`)
    optimizer: str = "adamw"  # or sgd; both with a one-cycle cosine schedule and warm-up
    warmup: float = 0.25  # share of the distillation steps spent warming the learning rate up
    label_smoothing: float = 0.1
    augment_shift: int = 0  # random shift (pad + crop) in px for image data that augments (0: flips only)
    validation_split: float = 0.0  # share of the training split held out to pick the best epoch (0: last epoch)
    early_stopping: int = 0  # stop distillation after N epochs without a better validation score (0: off)
    seed: int = 0
    calibration_samples: int = 256
    calibration_method: str = "minmax"
    max_int8_drop: float | None = None  # accuracy points int8 may lose before layers fall back to float
    qat_epochs: int = 0  # quantisation-aware fine-tune of the int8 TFLite model when PTQ loses more than that
    onnx_dynamic_batch: bool = False
    tflite_converter: str = "auto"  # litert-torch, falling back to onnx2tf when it fails and is installed
    threads: int | None = None
    bench_runs: int = 200
    bench_warmup: int = 100
    bench_rounds: int = 3
    bench_min_seconds: float = 0.5
    host: str | None = None
    remote_python: str | None = None
    trust_new_host: bool = False
    out: str | None = None
    cache_dir: str | None = None

    def build_dir(self) -> Path:
        return Path(self.out) if self.out else Path("build") / self.target

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(BuildConfig)}
CHOICES = {"calibration_method": ("minmax", "entropy", "percentile"), "prune_mode": ("structured", "unstructured"),
           "sparsity": ("none", "bn-l1", "group-lasso"),
           "tflite_converter": ("auto", "litert-torch", "onnx2tf"), "budget_percentile": ("p95", "p50")}
_OPTIONAL_FLOATS = ("max_int8_drop", "budget_ms")
CHOICES.update(distill_loss=("kd", "hard", "kd+feature"), optimizer=("adamw", "sgd"))
_OPTIONAL_FLOATS += ("student_width",)
# (low, high, low included, high included) for the distillation settings
_RANGES = {"student_width": (0.0, 1.0, False, True), "validation_split": (0.0, 1.0, True, False),
           "label_smoothing": (0.0, 1.0, True, False), "warmup": (0.0, 1.0, False, False),
           "feature_weight": (0.0, float("inf"), True, False)}
CONFIG_FILE = "edgeprune.toml"


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, FIELDS, n=1, cutoff=0.5)
    return f"; did you mean '{close[0].replace('_', '-')}'?" if close else f"; valid keys: {', '.join(sorted(FIELDS))}"


def _parse_shape(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, str):
        parts = re.split(r"[,x]", value.strip())
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise ConfigError(f"{where}: input-shape must look like C,H,W (e.g. 1,28,28), got {value!r}")
    try:
        shape = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: input-shape must be integers like 1,28,28, got {value!r}") from None
    if not shape or any(d <= 0 for d in shape):
        raise ConfigError(f"{where}: input-shape needs positive sizes like 1,28,28, got {value!r}")
    return shape


def _parse_names(value: Any, where: str) -> tuple[str, ...]:
    """Layer names: a list, or one comma-separated string (the command line's form)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{where}: 'ignore-layers' must be layer names like layer4,fc, got {value!r}")
    return tuple(i.strip() for i in items if i.strip())


def _parse_ratios(value: Any, where: str) -> dict[str, float]:
    """Per-layer ratios: a table {name = ratio}, or "name=ratio,name=ratio" (the command line's form)."""
    if isinstance(value, str):
        pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ConfigError(f"{where}: 'layer-ratios' must look like layer3=0.3,layer4=0.6, got {value!r}")
        value = {k.strip(): v.strip() for k, v in pairs}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: 'layer-ratios' must map layer names to ratios, got {value!r}")
    ratios = {}
    for layer, ratio in value.items():
        try:
            ratios[str(layer)] = float(ratio)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: 'layer-ratios' for '{layer}' must be a number, got {ratio!r}") from None
        if not 0.0 <= ratios[str(layer)] < 1.0:
            raise ConfigError(f"{where}: 'layer-ratios' for '{layer}' must be in [0, 1), got {ratio}")
    return ratios


def _coerce(name: str, value: Any, where: str) -> Any:
    """Check one value against its field; return it in the field's type."""
    if value is None:
        return None
    if name == "input_shape":
        return _parse_shape(value, where)
    if name == "ignore_layers":
        return _parse_names(value, where)
    if name == "layer_ratios":
        return _parse_ratios(value, where)
    default = FIELDS[name].default
    label = f"{where}: '{name.replace('_', '-')}'"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{label} must be true or false, got {value!r}")
        return value
    if isinstance(default, int) or name == "threads":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{label} must be an integer, got {value!r}")
        if value < (0 if name in ("seed", "distill_epochs", "bench_warmup", "qat_epochs", "sparsity_epochs",
                                  "prune_finetune_epochs", "early_stopping", "augment_shift") else 1):
            raise ConfigError(f"{label} must be positive, got {value}")
        return value
    if isinstance(default, float) or name in _OPTIONAL_FLOATS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{label} must be a number, got {value!r}")
        value = float(value)
        if name == "prune_ratio" and not 0.0 <= value < 1.0:
            raise ConfigError(f"{label} must be in [0, 1), got {value}")
        if name == "max_layer_ratio" and not 0.0 < value <= 1.0:
            raise ConfigError(f"{label} must be in (0, 1], got {value}")
        if name == "sparsity_strength" and value <= 0:
            raise ConfigError(f"{label} must be > 0, got {value}")
        if name == "alpha" and not 0.0 <= value <= 1.0:
            raise ConfigError(f"{label} must be in [0, 1], got {value}")
        if name in ("bench_min_seconds", "max_int8_drop") and value < 0:
            raise ConfigError(f"{label} must be >= 0, got {value}")
        if name in ("temperature", "learning_rate", "budget_ms") and value <= 0:
            raise ConfigError(f"{label} must be > 0, got {value}")
        if name in _RANGES:
            _check_range(value, label, *_RANGES[name])
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{label} must be a string, got {value!r}")
    if name in CHOICES and value not in CHOICES[name]:
        raise ConfigError(f"{label} must be one of {', '.join(CHOICES[name])}, got {value!r}")
    return value


def _check_range(value: float, label: str, low: float, high: float, low_in: bool, high_in: bool) -> None:
    if (value < low or (value == low and not low_in)) or (value > high or (value == high and not high_in)):
        interval = f"{'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"
        raise ConfigError(f"{label} must be in {interval}, got {value}")


def check_combinations(values: Mapping[str, Any], where: str) -> None:
    """Settings that only mean something together: refused rather than ignored."""
    get = lambda key: values.get(key, FIELDS[key].default)  # noqa: E731
    if get("student") is not None and get("student_width") is not None:
        raise ConfigError(f"{where}: give either 'student' or 'student-width', not both")
    if get("feature_layers") is not None and get("distill_loss") != "kd+feature":
        raise ConfigError(f"{where}: 'feature-layers' needs 'distill-loss = kd+feature' "
                          f"(it is {get('distill_loss')!r})")
    if get("budget_ms") is not None and "prune_ratio" in values:
        raise ConfigError(f"{where}: give either 'prune-ratio' or 'budget-ms' (the budget chooses the widths), not both")
    if get("budget_ms") is not None and (get("prune_mode") != "structured" or get("global_pruning")
                                         or values.get("layer_ratios") or get("prune_steps") > 1):
        raise ConfigError(f"{where}: 'budget-ms' chooses per-layer widths itself: it cannot be combined with "
                          "'prune-mode = unstructured', 'global-pruning', 'layer-ratios' or 'prune-steps' > 1")
    if get("early_stopping") and not get("validation_split"):
        raise ConfigError(f"{where}: 'early-stopping' needs a 'validation-split' (e.g. 0.1) to score epochs on")


def validate(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Normalise keys (hyphens allowed) and check every value; unknown keys are errors."""
    clean: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = raw_key.replace("-", "_")
        if key not in FIELDS:
            raise ConfigError(f"{where}: unknown key '{raw_key}'{_suggest(key)}")
        clean[key] = _coerce(key, value, where)
    return clean


def read_config_file(path: Path) -> dict[str, Any]:
    """Read edgeprune.toml (top-level keys) or pyproject.toml ([tool.edgeprune])."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    if path.name == "pyproject.toml":
        document = document.get("tool", {}).get("edgeprune", {})
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a table of settings")
    return validate(document, str(path))


def discover_config_file(directory: Path) -> Path | None:
    """edgeprune.toml in the working directory, else a pyproject.toml with [tool.edgeprune]."""
    candidate = directory / CONFIG_FILE
    if candidate.is_file():
        return candidate
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        try:
            with open(pyproject, "rb") as handle:
                if "edgeprune" in tomllib.load(handle).get("tool", {}):
                    return pyproject
        except tomllib.TOMLDecodeError:
            return None
    return None


def load_config(
    config_file: str | None = None, overrides: Mapping[str, Any] | None = None, cwd: Path | None = None
) -> BuildConfig:
    """Defaults < config file < flags (only flags the user gave are in `overrides`)."""
    values: dict[str, Any] = {}
    path = Path(config_file) if config_file else discover_config_file(cwd or Path.cwd())
    if path is not None:
        values.update(read_config_file(path))
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    values.update(validate(given, "command line"))
    check_combinations(values, "settings")
    return BuildConfig(**values)
