"""Torch -> ONNX export: a static batch-1 shape (or a dynamic batch axis on request), one self-contained file."""
from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from edgeprune.errors import StageError
from edgeprune.fileio import atomic_path

if TYPE_CHECKING:
    import torch

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(
    model: "torch.nn.Module", example: "torch.Tensor", path: Path, *, opset: int = 17, dynamic_batch: bool = False
) -> None:
    """Write `model` as ONNX at `path`.

    Static shapes by default because downstream converters and int8 calibration are simpler and faster with
    them; `dynamic_batch` names axis 0 "batch" for servers that batch requests.
    the TorchScript exporter (dynamo=False) because it is fast and exact here and keeps weights inline.
    The caller's model is not touched (a copy is put in eval mode).
    """
    import onnx
    import torch

    path = Path(path)
    net = copy.deepcopy(model).eval()
    # nn.MultiheadAttention's eval fast path is one fused op the TorchScript exporter has no ONNX form for
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter is deprecated upstream but chosen on purpose (see docstring).
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            torch.onnx.export(
                net,
                (example,),
                str(tmp),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                dynamo=False,
                do_constant_folding=True,
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None,
            )
            proto = onnx.load(str(tmp))
            if proto.graph.initializer and any(
                t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer
            ):
                raise StageError(f"ONNX export of {path.name}: weights were written as external data")
            onnx.checker.check_model(proto, full_check=True)
    except StageError:
        raise
    except Exception as exc:  # noqa: BLE001 - turn any exporter failure into one clear line
        raise StageError(f"ONNX export of {path.name} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
