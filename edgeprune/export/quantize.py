"""ONNX Runtime static int8 quantization (QDQ, per-channel weights; MinMax, entropy or percentile calibration)."""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from edgeprune.errors import StageError
from edgeprune.fileio import atomic_path

_ACTIVATION_TYPES = ("uint8", "int8")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


def quantize_onnx_int8(
    fp32_path: Path,
    out_path: Path,
    calibration: np.ndarray,
    *,
    activations: str = "uint8",
    method: str = "minmax",
    keep_float: Sequence[str] = (),
    reduce_range: bool = False,
) -> None:
    """Quantize the fp32 ONNX model at `fp32_path` into `out_path`.

    QDQ keeps the graph portable across execution providers; unsigned activations ("U8S8") are the default
    because ORT's x86 int8 kernels are fast only with them (see FINDINGS); weights are signed and
    per-channel, which keeps depthwise and pruned convs accurate. Calibrate on real samples: random
    inputs give a misleading range. `method` sets how activation ranges come from the calibration samples
    (MinMax: the observed extremes; entropy: the KL-optimal clip of the histogram; percentile: the 99.999th
    percentile of |x|): clipping outliers helps when a few extreme values would waste the int8 range.
    `keep_float` names nodes of the fp32 graph that stay in float (mixed precision, export/fallback.py).
    `reduce_range` quantizes weights to 7 bits, for x86 CPUs without VNNI whose U8S8 kernels saturate.
    """
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if activations not in _ACTIVATION_TYPES:
        raise StageError(
            f"int8 quantization of {fp32_path.name}: activations must be one of {_ACTIVATION_TYPES}, "
            f"got {activations!r}"
        )
    if method not in CALIBRATION_METHODS:
        raise StageError(
            f"int8 quantization of {fp32_path.name}: calibration method must be one of "
            f"{', '.join(CALIBRATION_METHODS)}, got {method!r}"
        )
    data = np.asarray(calibration, dtype=np.float32)
    if data.ndim < 2 or len(data) == 0:
        raise StageError(f"int8 quantization of {fp32_path.name}: calibration data is empty or has no batch axis")

    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    try:
        fp32 = onnx.load(str(fp32_path))
        initializers = {t.name for t in fp32.graph.initializer}
        inputs = [i.name for i in fp32.graph.input if i.name not in initializers]
        if len(inputs) != 1:
            raise StageError(f"int8 quantization of {fp32_path.name}: expected one graph input, found {len(inputs)}")
        reader = _SampleReader(inputs[0], data)
        act_type = QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8
        methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                   "percentile": CalibrationMethod.Percentile}
        with tempfile.TemporaryDirectory(prefix="edgeprune-quant-") as workdir:
            source = _preprocess(fp32_path, Path(workdir) / "pre.onnx")
            missing = sorted(set(keep_float) - {node.name for node in onnx.load(str(source)).graph.node})
            if missing:
                raise StageError(f"int8 quantization of {fp32_path.name}: no node named {missing[0]!r} to keep in float")
            # Histogram calibrators print progress to stdout, which must stay clean for `--json`.
            with atomic_path(out_path) as tmp, contextlib.redirect_stdout(io.StringIO()):
                quantize_static(
                    str(source),
                    str(tmp),
                    calibration_data_reader=reader,
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=act_type,
                    weight_type=QuantType.QInt8,
                    calibrate_method=methods[method],
                    nodes_to_exclude=list(keep_float),
                    reduce_range=reduce_range,
                )
                onnx.checker.check_model(str(tmp))
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001 - one clear line for any quantizer failure
        text = (str(exc).strip().splitlines() or [""])[0]
        raise StageError(f"int8 quantization of {fp32_path.name} failed: {type(exc).__name__}: {text}") from exc


def _preprocess(src: Path, dst: Path) -> Path:
    """Run ORT's recommended pre-processing (shape inference + graph optimisation); fall back to `src`.

    It is offline and usually fuses BN/folds constants before calibration, but it is an optimisation,
    not a requirement, so a failure here must not fail the export.
    """
    try:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        quant_pre_process(str(src), str(dst))
        return dst if dst.exists() else src
    except Exception:  # noqa: BLE001 - optional step
        return src


class _SampleReader:
    """Feeds calibration samples one at a time (the exported graph has a static batch of 1)."""

    def __init__(self, input_name: str, data: np.ndarray) -> None:
        self._name = input_name
        self._data = data
        self._iter: Iterator[dict[str, Any]] = self._samples()

    def _samples(self) -> Iterator[dict[str, Any]]:
        for sample in self._data:
            yield {self._name: np.ascontiguousarray(sample[None, ...])}

    def get_next(self) -> dict[str, Any] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = self._samples()
