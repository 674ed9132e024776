"""Calibration: measure small models on the device, fit the latency model's coefficients, keep them.

`edgeprune calibrate --target NAME [--host HOST]` builds a grid of micro-models (conv 3x3, grouped, pointwise,
depthwise, linear, residual add, pooling over widths and resolutions; some stacked three deep so that a per-operator
cost can be told from the per-invoke one) and random small networks (netgen: operators in context), exports each as
ONNX and TFLite in fp32 and int8, times all artifacts in one runner process taking turns (here, or on the device
over SSH; see CHUNK), and fits one `LatencyModel` per runtime and dtype. The result is a JSON file per target and
device, with the runtime versions, the raw measurements and the fit's residuals; predictions made with it say so.
`--network SPEC` adds the user's own architecture at several pruning ratios (ModelCase) to the networks fitted.
"""
from __future__ import annotations

import datetime
import platform
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import ConfigError, InputFileError
from ..fileio import write_json_atomic
from .costmodel import LatencyModel, fit
from .ops import torch_ops

if TYPE_CHECKING:
    import torch

    from ..bench.fleet import Device
    from ..targets import TargetProfile
    from .netgen import NetCase

SCHEMA = 5  # 2: the "activation" kind, fit on turn medians; 3: micro-kernel tiles, the cache ramp; 4: grouped, sigmoid;
# 5: the cache ramp over the footprint (weights and activations)
ARTIFACT_FILES = {("onnxruntime", "fp32"): "model.onnx", ("onnxruntime", "int8"): "model.int8.onnx",
                  ("tflite", "fp32"): "model.tflite", ("tflite", "int8"): "model.int8.tflite"}
CALIBRATION_SAMPLES = 16  # random inputs for int8 ranges: only the operators' shapes matter for latency
# On a shared machine speed drifts in phases of seconds to minutes (seen here: turn medians of every artifact at once
# alternate between 0.82x and 1.0-1.2x, and the median over 90 s moved 18-38 % between two runs). So each runtime's
# artifacts are timed in one process (`bench.local.cycled_per_runtime`), taking turns of CHUNK runs for `seconds` (at
# least MIN_TURNS turns each), and the fit uses by default each artifact's median of its turn medians: the figure a
# p50 budget is checked against (round 6 of benchmarks/results/latency_predictor.md: on this VM it predicted held-out
# p50s better than a p10 fit predicted p10s). `statistic="p10"` fits the 10th percentile instead: the speed when
# nothing interferes, which repeats better on a noisy machine and is within a few % of the median on a quiet device.
CHUNK, MIN_TURNS = 15, 30
STATISTICS = {"p10": "the 10th percentile", "p50": "the median"}
STATISTIC = "p50"


def fitted(statistic: str) -> str:
    """What a calibration's coefficients were fitted to, for its document and every prediction's basis."""
    return (f"{STATISTICS[statistic]} of its turns' medians (each runtime's artifacts timed in one "
            f"process, in turns of {CHUNK} runs)")
NETWORKS, QUICK_NETWORKS = 40, 2  # random whole networks measured besides the single layers (netgen)
LARGE_NETWORKS = 16  # and random networks of mobile ImageNet-model sizes (none in the quick grid)
MODERN_NETWORKS = 40  # and of RegNet/ShuffleNetV2/EfficientNet blocks, 0.1-74 MB of fp32 weights
PYRAMID_NETWORKS = 24  # and of ImageNet-style models at 32-48 px, down to 1-2 px maps (round 16 of
# latency_predictor.md: more TFLite int8 held-out models within +-10 % with them, fewer fp32 ones)
# A network counts this many times a single layer in the fit: the model predicts networks, and the single layers are
# there to pin down each kind's shape. 3 was chosen on held-out sets e-g on an AMD EPYC (round 9 of
# latency_predictor.md: within +-10 %, 38 -> 40 of 56 in fp32 and 44 -> 49 in int8 against weighting all alike). On an
# Intel Xeon single layers timed alone misled TFLite fp32: sets l and m refitted to the p10 after the fact, 15 of 80
# within +-10 % at 3, 47 at 100 (int8 52 and 55). On round 15's fresh set n (four runs) fp32's median error against the
# p10 went from 10-17 to 4-12 %, and int8 from 11-13 to 13-16 of 20 within +-10 %; 100 since then.
NETWORK_WEIGHT = 100.0


@dataclass(frozen=True)
class MicroCase:
    """One micro-benchmark: `depth` copies of one layer on a (C, H, W) or (features,) input."""

    kind: str  # conv | grouped | pointwise | depthwise | linear | residual | pooled | globalpool
    in_channels: int
    out_channels: int
    size: int = 0  # H = W (0 for linear)
    depth: int = 1
    stride: int = 1  # conv, grouped and depthwise
    group_width: int = 0  # input channels per group of a grouped conv
    kernel: int = 3  # conv: the kernel's side (ResNet's stem is 7x7)

    @property
    def name(self) -> str:
        shape = f"{self.in_channels}x{self.size}x{self.size}" if self.size else f"{self.in_channels}"
        stride = f"-s{self.stride}" if self.stride > 1 else ""
        groups = f"-g{self.in_channels // self.group_width}" if self.group_width else ""
        kernel = f"-k{self.kernel}" if self.kernel != 3 else ""
        return f"{self.kind}-{shape}-to-{self.out_channels}{kernel}{groups}{stride}-x{self.depth}"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.size, self.size) if self.size else (self.in_channels,)

    def build(self) -> "torch.nn.Module":
        import torch
        from torch import nn

        c, o, size, stride, k = self.in_channels, self.out_channels, self.size, self.stride, self.kernel

        # An add or a pool alone is not what a network runs: the converter folds a chain of constant adds into one
        # ADD, and the int8 flow leaves a model without a conv in float (round 9: the old "add" and "avgpool" cases
        # ran one float ADD, and a float pool between transposes, in their int8 files). After a 1x1 conv they run as
        # in a network. Both of the add's inputs are conv outputs: an add to the model's NCHW input makes
        # litert-torch transpose the other one.
        def pointwise() -> nn.Module:
            return nn.Sequential(nn.Conv2d(c, c, 1), nn.ReLU())

        class Residual(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv = pointwise()

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x + self.conv(x)

        layer = {
            "conv": lambda: nn.Sequential(nn.Conv2d(c, o, k, stride=stride, padding=k // 2), nn.ReLU()),
            "grouped": lambda: nn.Sequential(nn.Conv2d(c, o, 3, stride=stride, padding=1,
                                                       groups=c // self.group_width), nn.ReLU()),
            "pointwise": lambda: nn.Sequential(nn.Conv2d(c, o, 1), nn.ReLU()),
            "depthwise": lambda: nn.Sequential(nn.Conv2d(c, c, 3, stride=stride, padding=1, groups=c), nn.ReLU()),
            "linear": lambda: nn.Linear(c, o),
            "residual": Residual,
            "pooled": lambda: nn.Sequential(pointwise(), nn.AvgPool2d(2)),
            "globalpool": lambda: nn.AdaptiveAvgPool2d(1),
        }[self.kind]
        torch.manual_seed(0)
        first = [pointwise()] if self.kind == "residual" else []
        return nn.Sequential(*first, *(layer() for _ in range(self.depth))).eval()


@dataclass(frozen=True)
class ModelCase:
    """One of the user's own architectures (a model spec, as `--model` takes it) at an input shape, pruned uniformly by
    `ratio`: calibrating on the architecture a build will prune lets the fit learn what its blocks cost on the device
    (round 21, held-out models of families measured this way: TFLite fp32 13 -> 16 of 20 within +-10 % in both runs,
    int8 8 -> 11 and 10 -> 9)."""

    spec: str
    input_shape: tuple[int, ...]
    ratio: float = 0.0
    round_to: int = 8
    num_classes: int = 10

    @property
    def name(self) -> str:
        shape = "x".join(map(str, self.input_shape))
        return f"model-{_slug(self.spec)}-{shape}-r{self.ratio:g}"

    def build(self) -> "torch.nn.Module":
        import torch

        from ..models import build_model
        from ..pruning import prune

        torch.manual_seed(0)
        model = build_model(self.spec, self.input_shape[0], self.num_classes)
        if self.ratio:
            model = prune(model, torch.zeros((1, *self.input_shape)), ratio=self.ratio, round_to=self.round_to).model
        return model.eval()


if TYPE_CHECKING:
    Case = MicroCase | NetCase | ModelCase  # what a calibration measures


def model_cases(specs: Sequence[str], input_shape: tuple[int, ...], ratios: Sequence[float],
                round_to: int) -> list[ModelCase]:
    """Each spec at each pruning ratio (`edgeprune calibrate --network`). Each spec is built and run once now, so
    that a bad spec or input shape fails before the long export, naming the spec."""
    from ..models import build_model, check_runs

    if not ratios:
        raise ConfigError("--network-ratios: give at least one ratio, e.g. 0,0.25,0.5")
    bad = [r for r in ratios if not 0.0 <= r < 1.0]
    if bad:
        raise ConfigError(f"--network-ratios: {bad[0]:g} is not a share of channels to remove in [0, 1)")
    for spec in dict.fromkeys(specs):
        check_runs(build_model(spec, input_shape[0], ModelCase.num_classes), tuple(input_shape), ModelCase.num_classes,
                   spec)
    return [ModelCase(spec, tuple(input_shape), float(ratio), round_to) for spec in specs for ratio in ratios]


def _cases(kind: str, shapes: Sequence[tuple[int, ...]], deep: Sequence[int] = ()) -> list[MicroCase]:
    """(in, out, size[, stride]) per case; the cases at the indices in `deep` are three layers deep."""
    return [MicroCase(kind, shape[0], shape[1], shape[2], 3 if i in deep else 1, *shape[3:])
            for i, shape in enumerate(shapes)]


def grid(quick: bool = False) -> list[MicroCase]:
    """The micro-benchmarks: widths off and on multiples of 8 and 16 (so the channel tile can be found), strides 1
    and 2, resolutions of small edge models. `quick` is a handful of cases for smoke tests (a coarse fit)."""
    if quick:
        return [MicroCase("conv", 16, 16, 14), MicroCase("conv", 24, 40, 7, stride=2), MicroCase("conv", 1, 16, 28),
                MicroCase("pointwise", 32, 32, 14, 3), MicroCase("depthwise", 32, 32, 14), MicroCase("linear", 128, 10),
                MicroCase("residual", 16, 16, 14), MicroCase("globalpool", 64, 64, 7)]
    return [
        *_cases("conv", [(8, 8, 28), (16, 16, 28), (12, 20, 14), (24, 24, 14), (32, 32, 14), (40, 40, 14),
                         (48, 48, 7), (56, 72, 7), (64, 64, 7), (96, 96, 7), (32, 48, 7), (48, 96, 4),
                         (16, 32, 28, 2), (32, 48, 14, 2), (48, 96, 8, 2), (24, 40, 28, 2), (64, 128, 8, 2)],
                deep=(3, 8)),
        *_cases("conv", [(1, 32, 28), (3, 16, 56), (1, 16, 28, 2), (1, 32, 28, 2), (3, 32, 32, 2), (3, 24, 64, 2),
                         (1, 8, 14), (3, 16, 32)]),  # stems: few input channels
        # 5x5 and 7x7 stems (ResNet's is 7x7, stride 2): with only 3x3 ones in the grid the fp32 fit priced a stem by
        # its memory alone, the same at any kernel, and a 7x7 one ran 3.3-4.4x as long as predicted (after round 11)
        MicroCase("conv", 3, 64, 64, stride=2, kernel=7), MicroCase("conv", 3, 32, 96, stride=2, kernel=7),
        MicroCase("conv", 3, 48, 48, stride=2, kernel=7), MicroCase("conv", 3, 24, 64, stride=2, kernel=5),
        *_cases("pointwise", [(16, 16, 28), (32, 32, 14), (24, 40, 14), (48, 48, 14), (64, 64, 7), (96, 96, 7),
                              (128, 128, 7), (72, 24, 14), (160, 160, 4), (36, 100, 7), (16, 96, 16), (96, 24, 16)],
                deep=(1, 5)),
        *_cases("depthwise", [(16, 16, 28), (32, 32, 28), (24, 24, 14), (48, 48, 14), (40, 40, 14), (96, 96, 7),
                              (144, 144, 7), (72, 72, 7), (256, 256, 4), (32, 32, 28, 2), (96, 96, 16, 2),
                              (144, 144, 8, 2)], deep=(1, 5)),
        *_cases("linear", [(64, 10, 0), (96, 10, 0), (128, 128, 0), (256, 64, 0), (512, 512, 0), (1024, 256, 0),
                           (1280, 10, 0)]),
        # weights of 1-4 MB (ResNet's late stages). Heavier single layers and stacks (5-100 MB, round 3) are left to
        # the networks: a repeated layer on a 1-2 px map streams its weights faster than a network of the same size,
        # and with them in the fit the networks over 6 MB were under-predicted (cross-validated within +-10 %: 45 %
        # of them with, 75 % without)
        *_cases("conv", [(256, 256, 4)]),
        *_cases("pointwise", [(512, 1024, 4)]),
        # convolutions down to one output pixel (ResNet's last stage at small inputs): matrix-vector products
        MicroCase("conv", 128, 128, 1), MicroCase("conv", 64, 128, 2, stride=2), MicroCase("pointwise", 256, 512, 1),
        # and with 2-4 MB of fp32 weights, where zoo models at 32 px keep most of theirs: with the grid's largest
        # at 1 MB, a 2.4 MB one was predicted 40 % slow in fp32 (round 7 of latency_predictor.md)
        MicroCase("conv", 256, 256, 1), MicroCase("conv", 192, 384, 2, stride=2), MicroCase("pointwise", 640, 1280, 1),
        *_cases("linear", [(768, 768, 0), (2304, 256, 0), (1024, 960, 0)]),
        # grouped 3x3 convs, 2-16 channels per group (pruned ResNeXt, RegNet): with none in the grid, the networks
        # alone set their cost, and a pruned resnext50 was under-predicted by 23 % in int8 (set g)
        MicroCase("grouped", 64, 64, 12, group_width=2), MicroCase("grouped", 128, 128, 6, group_width=4),
        MicroCase("grouped", 96, 96, 8, group_width=8), MicroCase("grouped", 256, 256, 4, group_width=16),
        MicroCase("grouped", 64, 64, 14, stride=2, group_width=8),
        # and as pruning leaves them: 2-8 channels in each of 16-55 groups, on 1-8 px maps (pruned regnet_y_400mf
        # and resnext50 ran slower in int8 than in fp32 and were predicted 40-60 % fast, round 17)
        MicroCase("grouped", 48, 48, 8, group_width=3), MicroCase("grouped", 96, 96, 4, 3, group_width=3),
        MicroCase("grouped", 104, 104, 4, group_width=4), MicroCase("grouped", 64, 64, 2, group_width=2),
        MicroCase("grouped", 192, 192, 2, 3, group_width=6), MicroCase("grouped", 440, 440, 2, group_width=8),
        MicroCase("grouped", 192, 192, 1, group_width=6),
        *_cases("residual", [(16, 16, 28), (32, 32, 14), (96, 96, 7), (64, 64, 28), (24, 24, 16)], deep=(1,)),
        *_cases("pooled", [(32, 32, 28), (64, 64, 14)]),
        *_cases("globalpool", [(96, 96, 7), (256, 256, 7), (32, 32, 14), (576, 576, 2)]),
    ]


def export_case(case: "Case", folder: Path, profile: "TargetProfile",
                keys: Sequence[tuple[str, str]]) -> dict:
    """Write the case's artifacts for (runtime, dtype) `keys` into `folder`; {key: path}."""
    import numpy as np
    import torch

    from ..export.onnx import export_onnx
    from ..export.quantize import quantize_onnx_int8
    from ..export.tflite import export_tflite_fp32, export_tflite_int8

    model = case.build()
    example = torch.randn((1, *case.input_shape), generator=torch.Generator().manual_seed(0))
    samples = np.random.default_rng(0).standard_normal((CALIBRATION_SAMPLES, *case.input_shape)).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: folder / ARTIFACT_FILES[key] for key in keys}
    if any(runtime == "onnxruntime" for runtime, _ in keys):
        export_onnx(model, example, folder / "model.onnx", opset=profile.onnx_opset)
    if ("onnxruntime", "int8") in keys:
        quantize_onnx_int8(folder / "model.onnx", paths["onnxruntime", "int8"], samples,
                           activations=profile.int8_activations, reduce_range=profile.int8_reduce_range)
    if ("tflite", "fp32") in keys:
        export_tflite_fp32(model, example, paths["tflite", "fp32"])
    if ("tflite", "int8") in keys:
        export_tflite_int8(model, example, paths["tflite", "int8"], samples)
    return paths


def cases(quick: bool = False, models: Sequence[ModelCase] = ()) -> list["Case"]:
    """What a calibration measures: the micro-benchmark grid, random whole networks (see netgen) and the user's own
    architectures (`models`)."""
    from .netgen import networks

    return [*grid(quick), *networks(QUICK_NETWORKS if quick else NETWORKS),
            *networks(0 if quick else LARGE_NETWORKS, family="large"),
            *networks(0 if quick else MODERN_NETWORKS, family="modern"),
            *networks(0 if quick else PYRAMID_NETWORKS, family="pyramid"), *models]


def calibrate(profile: "TargetProfile", *, threads: int, device: "Device | None" = None, quick: bool = False,
              keys: Sequence[tuple[str, str]] = tuple(ARTIFACT_FILES), trust_new_host: bool = False,
              progress: Callable[[str], None] = lambda line: None, seconds: float = 60.0,
              cpus: tuple[int, ...] | None = None, work: Path | None = None,
              statistic: str = STATISTIC, models: Sequence[ModelCase] = ()) -> dict[str, Any]:
    """Measure the grid, the networks and `models`, and fit one latency model per (runtime, dtype) to each artifact's
    `statistic` of turn medians (p10 or p50); returns the calibration document. `work` keeps the exported artifacts
    (and reuses those already there)."""
    if statistic not in STATISTICS:
        raise ConfigError(f"calibration statistic {statistic!r}: expected one of {', '.join(STATISTICS)}")
    from ..bench.fleet import cycle_on_device
    from ..bench.local import bench_cycled

    options = measuring_options(threads, seconds, cpus)
    with tempfile.TemporaryDirectory(prefix="edgeprune-calibrate-") as tmp:
        artifacts = export_cases(cases(quick, models), Path(work or tmp), profile, keys, progress)
        progress(f"measuring {len(artifacts)} artifacts in turns for {seconds:g} s ({threads} threads)"
                 + (f" on {device.name}" if device else " on this machine"))
        if device is not None:
            results = cycle_on_device(device, list(artifacts), trust_new_host=trust_new_host, **options)
        else:
            results = bench_cycled(list(artifacts), **options)
    return document(profile, device, artifacts, results, options=options, quick=quick, statistic=statistic)


def measuring_options(threads: int, seconds: float, cpus: tuple[int, ...] | None) -> dict[str, Any]:
    """How a calibration times its artifacts (the runner's options)."""
    return dict(threads=threads, warmup=10, chunk=CHUNK, seconds=seconds, min_chunks=MIN_TURNS, cpus=cpus)


def export_cases(measured: Sequence["Case"], root: Path, profile: "TargetProfile",
                 keys: Sequence[tuple[str, str]], progress: Callable[[str], None] = lambda line: None,
                 ) -> dict[Path, tuple["Case", tuple[str, str]]]:
    """Export each case into root/NAME (reusing the artifacts already there); {artifact: (case, key)}."""
    artifacts: dict[Path, tuple["Case", tuple[str, str]]] = {}
    for i, case in enumerate(measured, 1):
        folder = root / case.name
        paths = {key: folder / ARTIFACT_FILES[key] for key in keys}
        if not all(path.is_file() for path in paths.values()):
            progress(f"exporting calibration model {i}/{len(measured)}: {case.name}")
            paths = export_case(case, folder, profile, keys)
        artifacts.update({path: (case, key) for key, path in paths.items()})
    return artifacts


def document(profile: "TargetProfile", device: "Device | None",
             artifacts: dict[Path, tuple["Case", tuple[str, str]]], results: dict[Path, dict[str, Any]],
             *, options: dict[str, Any], quick: bool = False, statistic: str = STATISTIC) -> dict[str, Any]:
    """The calibration document: one latency model per (runtime, dtype) fitted to the artifacts' measurements."""
    first = results[next(iter(artifacts))]
    where, threads = first["where"], options["threads"]
    keys = sorted({key for _, key in artifacts.values()})
    samples: list[dict[str, Any]] = []
    by_key: dict[tuple[str, str], list[tuple[list, float, float]]] = {key: [] for key in keys}
    versions: dict[str, str] = {}
    ops = {case.name: torch_ops(case.build(), case.input_shape) for case, _ in artifacts.values()}
    for path, (case, key) in artifacts.items():
        result = results[path]
        versions[key[0]] = f"{result['runtime']} {result['runtime_version']}"
        weight = 1.0 if isinstance(case, MicroCase) else NETWORK_WEIGHT
        by_key[key].append((ops[case.name], result[f"{statistic}_ms"] * 1e3, weight))
        samples.append({"case": case.name, "runtime": key[0], "dtype": key[1],
                        "p50_us": round(result["p50_ms"] * 1e3, 3), "p10_us": round(result["p10_ms"] * 1e3, 3),
                        "turns": result["turns"]})
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    own = [case for case in dict.fromkeys(case for case, _ in artifacts.values()) if isinstance(case, ModelCase)]
    specs = list(dict.fromkeys(case.spec for case in own))
    more = f" and {len(specs) - 3} more" if len(specs) > 3 else ""
    mentioned = f" ({len(own)} of them {', '.join(specs[:3])}{more})" if own else ""
    models = {}
    for (runtime, dtype), points in by_key.items():
        basis = (f"calibrated on {where} with {versions[runtime]} at {threads} threads ({created[:10]}, "
                 f"{len(points)} micro-benchmarks and networks{mentioned}{', quick grid' if quick else ''}, a network "
                 f"counting "
                 f"{NETWORK_WEIGHT:g} times; fitted to the {statistic})")
        models[f"{runtime}-{dtype}"] = fit([(ops, us) for ops, us, _ in points], weights=[w for _, _, w in points],
                                           runtime=runtime, dtype=dtype, threads=threads, basis=basis).to_json()
    return {"schema": SCHEMA, "target": profile.name, "device": device_label(profile, device), "where": where,
            "threads": threads, "created": created, "runtime_versions": versions, "grid": "quick" if quick else "full",
            "models": models, "samples": samples,
            "architectures": [{"spec": c.spec, "input_shape": list(c.input_shape), "ratio": c.ratio,
                               "round_to": c.round_to} for c in own],
            "protocol": {**options, "inputs": "random normal", "statistic": statistic, "fitted": fitted(statistic),
                         "timed_seconds": first["timed_seconds"]}}


def device_label(profile: "TargetProfile", device: "Device | None") -> str:
    """Who a calibration belongs to: the SSH host, or this machine's CPU model (VMs change hostnames)."""
    if device is not None:
        return device.host
    return profile.cpu if profile.name == "host" else f"{platform.node()}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()[:80] or "device"


def calibration_dir(profile: "TargetProfile") -> Path:
    """$EDGEPRUNE_CALIBRATION_DIR, else a calibration/ folder next to the profile file (the host profile, which
    has no file, uses the one next to the packaged profiles)."""
    import os

    from ..targets import targets_dir

    if os.environ.get("EDGEPRUNE_CALIBRATION_DIR"):
        return Path(os.environ["EDGEPRUNE_CALIBRATION_DIR"])
    source = Path(profile.source)
    return (source.parent if source.suffix == ".toml" else targets_dir()) / "calibration"


def calibration_path(profile: "TargetProfile", device: "Device | None") -> Path:
    return calibration_dir(profile) / f"{profile.name}--{_slug(device_label(profile, device))}.json"


def save(document: dict[str, Any], path: Path) -> None:
    write_json_atomic(path, document)


def load(path: Path) -> dict[str, Any]:
    import json

    try:
        document = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read the calibration ({exc})") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA or "models" not in document:
        raise InputFileError(f"{path}: not an edgeprune calibration of schema {SCHEMA}; run `edgeprune calibrate`")
    return document


def find_calibration(profile: "TargetProfile", device: "Device | None" = None) -> Path | None:
    """The stored calibration for this device; without a device, for a board target, its newest one of any
    device (predictions name the device it was measured on)."""
    if device is not None or profile.name == "host":
        path = calibration_path(profile, device)
        return path if path.is_file() else None
    found = sorted(calibration_dir(profile).glob(f"{profile.name}--*.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def latency_model(profile: "TargetProfile", runtime: str, dtype: str, threads: int,
                  device: "Device | None" = None) -> LatencyModel:
    """The calibrated model for this target, device, runtime and dtype when one is stored (at the same thread
    count), else the uncalibrated one from the profile's facts."""
    from .costmodel import uncalibrated

    if (runtime, dtype) not in ARTIFACT_FILES:
        raise ConfigError(f"no latency model for runtime {runtime!r} and dtype {dtype!r}")
    path = find_calibration(profile, device)
    if path is not None:
        entry = load(path)["models"].get(f"{runtime}-{dtype}")
        if entry is not None and int(entry["threads"]) == threads:
            return LatencyModel.from_json(entry)
    return uncalibrated(profile, runtime, dtype, threads)
