"""Torch -> TFLite through litert-torch: fp32, full int8 (int8 I/O) through the torchao pt2e flow, and the
weight-only variants (fp16 weights, dynamic-range int8) made from the fp32 flatbuffer by ai-edge-quantizer."""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from edgeprune.errors import StageError
from edgeprune.fileio import atomic_path

if TYPE_CHECKING:
    import torch

_PROGRESS_ENV = "LITERT_TORCH_SHOW_PROGRESS"
# torchao warns about optional CUDA kernels it cannot load on CPU; torch's pytree warns about an Enum
# registration inside torchao. Both are harmless here and would be printed on every build.
_NOISY_LOGGERS = ("torchao", "torch.utils._pytree")


def export_tflite_fp32(model: "torch.nn.Module", example: "torch.Tensor", path: Path) -> None:
    """Write `model` as an fp32 TFLite flatbuffer (NCHW input, as in torch) at `path`.

    The caller's model is not touched: litert-torch traces a copy in eval mode.
    """
    import torch

    path = Path(path)
    net = copy.deepcopy(model).eval()
    with _converter_errors(path, "fp32 TFLite export"), _quiet():
        import litert_torch

        with torch.no_grad():
            edge = litert_torch.convert(net, (example,))
        _write(edge, path)


def export_tflite_int8(
    model: "torch.nn.Module", example: "torch.Tensor", path: Path, calibration: np.ndarray
) -> None:
    """Write `model` as a fully int8 TFLite model (int8 input and output tensors) at `path`.

    pt2e static quantization (per-channel symmetric weights, histogram-calibrated int8 activations) is
    what litert-torch lowers to a pure int8 graph, which integer-only NPUs/DSPs need. Calibration feeds
    the samples of `calibration` (N x C x H x W float32) one at a time, matching the batch-1 example.
    The caller's model is not touched (a deep copy is quantized).
    """
    import torch

    path = Path(path)
    data = np.asarray(calibration, dtype=np.float32)
    if data.ndim < 2 or len(data) == 0:
        raise StageError(f"int8 TFLite export of {path.name}: calibration data is empty or has no batch axis")
    net = copy.deepcopy(model).eval()
    with _converter_errors(path, "int8 TFLite export"), _quiet():
        import litert_torch
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        with torch.no_grad():
            graph = export_for_quantization(net, example)
            prepared = prepare_pt2e(graph, quantizer)
            for sample in data:
                prepared(torch.from_numpy(np.ascontiguousarray(sample[None, ...])).to(example.dtype))
            quantized = convert_pt2e(prepared, fold_quantize=False)
            # Exported from an eval-mode copy, so BN/dropout are already in eval form. Exported graph modules
            # refuse .eval(), so only clear the flag litert-torch checks (it warns "converted in training mode").
            torch.nn.Module.train(quantized, False)
            edge = litert_torch.convert(
                quantized, (example,), quant_config=QuantConfig(pt2e_quantizer=quantizer)
            )
        _write(edge, path)


def export_for_quantization(net: "torch.nn.Module", example: "torch.Tensor",
                            dynamic_shapes: Any = None) -> "torch.fx.GraphModule":
    """The graph the PT2E quantizer annotates. Strict (dynamo) export records which Python call made each node;
    litert-torch's add, mul and cat annotators match on that record. Without it, residual adds stay float between
    DEQUANTIZE and QUANTIZE: in-place ones (`out += identity`, torchvision's ResNets) and those fed by another
    block's output (MobileNetV2). Models dynamo cannot trace fall back to non-strict export (ops.py then reports
    any float ops)."""
    import torch

    try:
        return torch.export.export(net, (example,), dynamic_shapes=dynamic_shapes, strict=True).module()
    except Exception:  # noqa: BLE001 - dynamo's many failure types; non-strict export raises the real error if any
        return torch.export.export(net, (example,), dynamic_shapes=dynamic_shapes, strict=False).module()


WEIGHT_VARIANTS = ("fp16", "dynamic-int8")


def litert_version() -> str:
    from importlib.metadata import version

    return f"litert-torch {version('litert-torch')}"


def quantize_tflite_weights(fp32_path: Path, out_path: Path, variant: str) -> None:
    """Write a weight-quantized copy of the fp32 TFLite model at `fp32_path`; no calibration data needed.

    "fp16": float16 weights dequantized at load, fp32 compute: half the size, near-fp32 outputs, and GPUs
    and Armv8.2 cores can run it in fp16. "dynamic-int8": int8 per-channel weights, activations quantized on
    the fly by hybrid kernels: a quarter of the size, float in and out. Both keep every op a builtin.
    """
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if variant not in WEIGHT_VARIANTS:
        raise StageError(f"TFLite weight quantization of {fp32_path.name}: variant must be one of "
                         f"{', '.join(WEIGHT_VARIANTS)}, got {variant!r}")
    with _converter_errors(out_path, f"{variant} TFLite export"), _quiet():
        from ai_edge_quantizer import quantizer, recipe
        from ai_edge_quantizer.algorithm_manager import AlgorithmName
        from ai_edge_quantizer.qtyping import TFLOperationName

        if variant == "fp16":
            job = quantizer.Quantizer(fp32_path.read_bytes())
            job.add_weight_only_config(regex=".*", operation_name=TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                       algorithm_key=AlgorithmName.FLOAT_CASTING)
        else:
            job = quantizer.Quantizer(fp32_path.read_bytes(), recipe.dynamic_wi8_afp32())
        content = job.quantize(enable_progress_report=False).quantized_model
        with atomic_path(out_path) as tmp:
            tmp.write_bytes(bytes(content))


def _write(edge: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        edge.export(str(tmp))


@contextlib.contextmanager
def _converter_errors(path: Path, what: str) -> Iterator[None]:
    """Turn any converter failure into one StageError line naming the artifact."""
    try:
        yield
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001
        text = (str(exc).strip().splitlines() or [""])[0]
        raise StageError(f"{what} of {path.name} failed: {type(exc).__name__}: {text}") from exc


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide litert-torch's per-stage progress lines and known-noise warnings, unless the user asked for them.

    Progress is read from the environment at each step, so it is switched off only for this block and
    restored afterwards; an explicit LITERT_TORCH_SHOW_PROGRESS set by the user wins.
    """
    previous = os.environ.get(_PROGRESS_ENV)
    if previous is None:
        os.environ[_PROGRESS_ENV] = "n"
    levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*erase_node.*")
            yield
    finally:
        if previous is None:
            os.environ.pop(_PROGRESS_ENV, None)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
