"""The second Torch -> TFLite path: Torch -> ONNX -> onnx2tf (TensorFlow) -> TFLite, fp32 and full int8.

Used when litert-torch fails on a model (`tflite_converter = "auto"`, the default) or when chosen
(`--tflite-converter onnx2tf`). Optional: `pip install 'edgeprune[onnx2tf]'` (TensorFlow, about 2 GB).

onnx2tf 1.28.8 has traps, all handled here so that it never touches the network or the caller's files:
- for 4-D inputs whose last axis is 3 it downloads a sample image file, even in fp32: the input is kept NCHW
  (as in torch, so the last axis is W) and the sample file is placed in its working directory anyway;
- it rewrites its input ONNX in place and writes many files (saved_model, fp16, int16 variants): it works on
  a copy in a private temp directory and only the requested flatbuffer is moved out, atomically;
- an int8 failure is only a warning: a missing output is turned into an error;
- the socket layer refuses connections while it runs, so any other download attempt fails loudly.
"""
from __future__ import annotations

import contextlib
import copy
import io
import os
import shutil
import socket
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from edgeprune.errors import StageError
from edgeprune.fileio import atomic_path

if TYPE_CHECKING:
    import torch

_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"  # what onnx2tf would download
INSTALL_HINT = "pip install 'edgeprune[onnx2tf]'"


def available() -> bool:
    try:
        import onnx2tf  # noqa: F401
    except Exception:  # noqa: BLE001 - missing, or TensorFlow broken: either way not usable
        return False
    return True


def version() -> str:
    from importlib.metadata import version as dist_version

    return f"onnx2tf {dist_version('onnx2tf')} (tensorflow {dist_version('tensorflow')})"


def export_tflite_via_onnx(model: "torch.nn.Module", example: "torch.Tensor", path: Path,
                           calibration: np.ndarray | None = None) -> None:
    """fp32 TFLite of `model` at `path`; with `calibration` (N x C x H x W real samples), full int8 with int8
    input and output and per-channel weights. The input stays NCHW, like litert-torch's export."""
    from .onnx import INPUT_NAME, export_onnx

    path = Path(path)
    what = "int8 TFLite export (onnx2tf)" if calibration is not None else "fp32 TFLite export (onnx2tf)"
    if not available():
        raise StageError(f"{what} of {path.name}: onnx2tf is not installed; {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix=".edgeprune-onnx2tf-", dir=path.parent) as tmp:
        work = Path(tmp)
        export_onnx(copy.deepcopy(model), example, work / "model.onnx")
        options: dict[str, Any] = {}
        if calibration is not None:
            data = np.ascontiguousarray(calibration, dtype=np.float32)
            if data.ndim != 4 or len(data) == 0:
                raise StageError(f"{what} of {path.name}: calibration must be N x C x H x W samples")
            np.save(work / "calibration.npy", data)
            channels = (1, data.shape[1], 1, 1)  # the samples are already normalised: onnx2tf's (x - 0) / 1
            options = {"output_integer_quantized_tflite": True, "quant_type": "per-channel",
                       "input_quant_dtype": "int8", "output_quant_dtype": "int8",
                       "custom_input_op_name_np_data_path": [[INPUT_NAME, str(work / "calibration.npy"),
                                                              np.zeros(channels, np.float32),
                                                              np.ones(channels, np.float32)]]}
        np.save(work / _SAMPLE_FILE, np.zeros((20, 128, 128, 3), np.float32))
        try:
            with _in_directory(work), _no_network(), _quiet():
                import onnx2tf

                onnx2tf.convert(input_onnx_file_path=str(work / "model.onnx"), output_folder_path=str(work / "out"),
                                non_verbose=True, not_use_onnxsim=True,
                                keep_ncw_or_nchw_or_ncdhw_input_names=[INPUT_NAME], **options)
        except Exception as exc:  # noqa: BLE001 - one line for any converter failure
            text = (str(exc).strip().splitlines() or [""])[0]
            raise StageError(f"{what} of {path.name} failed: {type(exc).__name__}: {text}") from exc
        produced = work / "out" / ("model_full_integer_quant.tflite" if calibration is not None else "model_float32.tflite")
        if not produced.is_file():
            raise StageError(f"{what} of {path.name} failed: onnx2tf wrote no {produced.name}")
        with atomic_path(path) as target:
            shutil.move(str(produced), str(target))


@contextlib.contextmanager
def _in_directory(directory: Path) -> Iterator[None]:
    """onnx2tf looks for its sample file in the working directory."""
    previous = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def _no_network() -> Iterator[None]:
    """Refuse every outgoing connection while onnx2tf runs: a build must never download anything."""
    original = socket.socket.connect

    def refuse(self: socket.socket, address: Any) -> None:
        raise ConnectionRefusedError(f"edgeprune blocks network access during conversion (tried {address})")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """onnx2tf and TensorFlow print progress to stdout, which must stay clean for `--json`, and warn about
    their own deprecations, which are not the user's concern."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
