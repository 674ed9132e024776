"""Quantisation-aware training for the int8 TFLite model: a short fine-tune with int8 fake-quantisation in the
graph, for when post-training quantisation loses more accuracy than allowed (`--max-int8-drop` with
`--qat-epochs N`).

The student is captured with torch.export, its BatchNorms are folded into the convolutions, fake-quantizers are
inserted by litert-torch's PT2E quantizer (per-channel symmetric int8 weights, int8 activations), and the
graph is fine-tuned against the fp32 student's own logits (self-distillation: the target is what the float
model computes) before litert-torch lowers it to a fully int8 flatbuffer, exactly like the PTQ path.

Folding BN first is a deliberate simplification (frozen BN statistics, as in late-stage QAT) and also avoids
litert-torch 0.10's QAT conv+BN annotators, which fail with torch >= 2.13 ("Expected `mod` to be an instance
of `torch.nn.Module`, got <class 'function'>").
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeprune.errors import StageError

if TYPE_CHECKING:
    import torch


def export_tflite_int8_qat(model: "torch.nn.Module", example: "torch.Tensor", path: Path, data: Any, *,
                           epochs: int, batch_size: int, learning_rate: float = 1e-4, seed: int = 0,
                           progress: Any = None) -> dict[str, Any]:
    """Fine-tune a fake-quantized copy of `model` on `data` (a DataBundle) for `epochs`, write the int8 TFLite
    model to `path`, and return the training record (history, wall time)."""
    import torch

    from ..distill.trainer import TrainSettings, train
    from .tflite import _converter_errors, _quiet, _write, export_for_quantization

    path = Path(path)
    if epochs < 1:
        raise StageError(f"quantisation-aware training of {path.name}: epochs must be >= 1, got {epochs}")
    teacher = copy.deepcopy(model).eval()
    with _converter_errors(path, "quantisation-aware int8 TFLite export"), _quiet():
        import litert_torch
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e import allow_exported_model_train_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e
        from torchao.quantization.pt2e.utils import _fuse_conv_bn_

        class _FoldedBnQuantizer(PT2EQuantizer):
            STATIC_QAT_ONLY_OPS: list[str] = []  # conv+BN patterns: BN is folded before annotation

        batch = torch.export.Dim("batch", min=1, max=1 << 16)
        sample = torch.from_numpy(data.x_train[:2].copy())
        graph = export_for_quantization(copy.deepcopy(model).eval(), sample, dynamic_shapes=({0: batch},))
        _fuse_conv_bn_(graph)
        quantizer = _FoldedBnQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_qat=True))
        prepared = allow_exported_model_train_eval(prepare_qat_pt2e(graph, quantizer))
        settings = TrainSettings(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                                 alpha=1.0, label_smoothing=0.0, channels_last=False)
        record = train(prepared, data, settings, teacher=teacher, progress=progress)
        prepared.eval()
        with torch.no_grad():
            quantized = convert_pt2e(prepared, fold_quantize=False)
            torch.nn.Module.train(quantized, False)
            edge = litert_torch.convert(quantized, (example,), quant_config=QuantConfig(pt2e_quantizer=quantizer))
        _write(edge, path)
    return record
