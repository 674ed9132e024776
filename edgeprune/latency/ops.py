"""The operators a model runs, as the latency model sees them: kind, MACs, tensor sizes, channels.

`torch_ops(model, input_shape)` records one batch-1 forward pass at the ATen level (a TorchDispatchMode), so
functional code (``x + y``, ``torch.flatten``) is seen as well as modules, and names each operator after the
innermost PyTorch module running it. ReLU/ReLU6/clamp, and a batch norm right after a convolution or linear
layer, are `fused`: both TFLite converters and ONNX Runtime fold them into the layer (or the add) before them, so
they cost nothing apart. A batch norm anywhere else (DenseNet's, after a concatenation) is a multiply of its own.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

KINDS = ("conv", "stem", "pointwise", "depthwise", "grouped", "linear", "eltwise", "activation", "sigmoid", "pool",
         "copy")
COMPUTE_KINDS = ("conv", "stem", "pointwise", "depthwise", "grouped", "linear")
PERMUTE_COPIES = 3  # what a permuted feature map costs in an NHWC runtime (see torch_ops)
STEM_CHANNELS = 4  # a full conv reading at most this many channels (an image's first layer) runs other kernels


@dataclass(frozen=True)
class Op:
    """One operator of a batch-1 inference. Sizes are element counts (the dtype is the runtime's)."""

    name: str  # PyTorch module name ("" for the model itself), or the artifact's operator name
    kind: str  # one of KINDS
    macs: int = 0
    in_elements: int = 0  # activations read (all non-weight inputs)
    out_elements: int = 0
    weight_elements: int = 0
    in_channels: int = 0
    out_channels: int = 0
    kernel: int = 1  # kernel taps (kh * kw) of a convolution
    groups: int = 1  # of a convolution

    def tiled_macs(self, rows: int = 1, channels: int = 1, depth: int = 1, depthwise: int | None = None) -> float:
        """The MACs a GEMM micro-kernel computes (XNNPACK's mr x nr tiles, kr-deep): output pixels rounded up to
        `rows` (a single pixel runs a one-row kernel), output channels to `channels`, input channels per kernel
        tap to `depth`. A grouped convolution is one GEMM per group, each group's channels rounded up on its own
        (RegNet's groups of 8 channels cost as 16 in a 16-wide tile). Depthwise convolutions tile their channels
        only, to `depthwise` (their own kernels' channel tile; default `channels`)."""
        if not self.macs or not self.out_channels:
            return float(self.macs)
        if self.kind == "depthwise":
            return self.macs * _up(self.out_channels, depthwise or channels) / self.out_channels
        pixels = self.out_elements // self.out_channels
        reduced = self.macs / (self.out_elements * self.kernel)  # input channels per tap (per group)
        return float((pixels if pixels <= 1 else _up(pixels, rows)) * self.groups
                     * _up(self.out_channels / self.groups, channels) * _up(reduced, depth) * self.kernel)

    def bytes(self, element_bytes: int) -> int:
        return (self.in_elements + self.out_elements + self.weight_elements) * element_bytes


def _up(value: float, tile: int) -> float:
    return math.ceil(value / tile) * tile if tile > 1 else value


def _numel(value: Any) -> int:
    import torch

    if isinstance(value, torch.Tensor):
        return value.numel()
    if isinstance(value, (list, tuple)):
        return sum(_numel(v) for v in value)
    return 0


def _first(value: Any) -> "torch.Tensor":
    return value[0] if isinstance(value, (list, tuple)) else value


@functools.lru_cache(maxsize=1)
def _aten_names() -> dict[str, set[Any]]:
    import torch

    aten = torch.ops.aten

    def family(*packets: Any) -> set[Any]:
        return {overload for packet in packets for overload in (getattr(packet, n) for n in packet.overloads())}

    return {
        "fused": family(aten.relu, aten.relu_, aten.hardtanh, aten.hardtanh_, aten.clamp, aten.clamp_,
                        aten.clamp_min, aten.clamp_min_, aten.dropout, aten.native_dropout),
        "batch_norm": family(aten._native_batch_norm_legit_no_training, aten.native_batch_norm),
        "eltwise": family(aten.add, aten.add_, aten.mul, aten.mul_, aten.sub, aten.div),
        # non-linear activations a runtime cannot fold into the layer before: in int8 they run as lookup tables or
        # requantizing kernels, at a cost per element unlike an add's (calibrated here, TFLite int8: ~25x an add)
        "activation": family(aten.hardswish, aten.hardswish_, aten.gelu, aten.hardsigmoid, aten.hardsigmoid_,
                             aten.leaky_relu, aten.leaky_relu_, aten.elu),
        # the logistic family costs per element nothing like hard-swish (calibrated here: a quarter of it in TFLite
        # int8, 20x it in fp32, where exp dominates), so it is a kind of its own; with both in one kind,
        # efficientnet_b1 int8 was over-predicted by 57 %
        "sigmoid": family(aten.sigmoid, aten.sigmoid_, aten.silu, aten.silu_, aten.tanh, aten.tanh_),
        "pool": family(aten.max_pool2d_with_indices, aten.max_pool2d, aten.avg_pool2d, aten.mean,
                       aten._adaptive_avg_pool2d, aten.adaptive_max_pool2d, aten.amax),
        "copy": family(aten.cat, aten.constant_pad_nd, aten._softmax, aten.clone),
        "permute_copy": family(aten.clone),
        # a view in torch, a copy into each part in NHWC runtimes (ShuffleNet's channel split)
        "split": family(aten.split, aten.split_with_sizes, aten.unbind),
        "view": family(aten.view, aten._unsafe_view, aten.reshape),
        "conv": family(aten.convolution),
        "matmul": family(aten.addmm, aten.mm, aten.bmm),
    }


def conv_kind(groups: int, in_channels: int, in_per_group: int, kernel: int, pixels: int) -> str:
    """depthwise (one input channel per group), grouped (several: one small GEMM per group), linear (one output
    pixel: a matrix-vector product, bound by reading its weights, as in squeeze-excitation gates and ResNet's last
    stage at small inputs), pointwise (1x1), stem (few input channels: XNNPACK and TFLite lower it differently,
    litert-torch even as a depthwise conv with a channel multiplier) or conv."""
    if groups > 1:
        return "depthwise" if groups == in_channels and in_per_group == 1 else "grouped"
    if pixels == 1:
        return "linear"
    if kernel == 1:
        return "pointwise"
    if in_channels <= STEM_CHANNELS:
        return "stem"
    return "conv"


def _conv_op(name: str, args: tuple, out: "torch.Tensor") -> Op:
    x, weight, groups = args[0], args[1], int(args[8])
    out_ch, in_per_group = int(weight.shape[0]), int(weight.shape[1])
    kernel = math.prod(weight.shape[2:])
    kind = conv_kind(groups, int(x.shape[1]), in_per_group, kernel, math.prod(out.shape[2:]))
    macs = out.numel() * in_per_group * kernel
    return Op(name, kind, macs, x.numel(), out.numel(), weight.numel(), int(x.shape[1]), out_ch, kernel, groups)


def _matmul_op(name: str, func: Any, args: tuple, out: "torch.Tensor") -> Op:
    import torch

    x, w = (args[1], args[2]) if func in (torch.ops.aten.addmm.default,) else (args[0], args[1])
    macs = out.numel() * int(x.shape[-1])
    return Op(name, "linear", macs, x.numel(), out.numel(), w.numel(), int(x.shape[-1]), int(out.shape[-1]))


def torch_ops(model: "torch.nn.Module", input_shape: tuple[int, ...]) -> list[Op]:
    """The operators of one batch-1 forward pass of `model` on a zero input, in execution order, each named after
    the innermost module that ran it. The model is run as is (put it in eval mode first)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from ..models.module_stack import module_stack

    families = _aten_names()
    size = math.prod(input_shape)
    # the input is copied into the runtime (and transposed to NHWC, or quantized) before the first operator
    ops: list[Op] = [Op("(input)", "copy", 0, size, size, 0, int(input_shape[0]), int(input_shape[0]))]
    parameters = {id(p) for p in model.parameters()} | {id(b) for b in model.buffers()}
    layer_outputs: dict[int, torch.Tensor] = {}  # kept alive so that their ids stay unique

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            name = stack[-1]
            if func in families["conv"]:
                ops.append(_conv_op(name, args, out))
                layer_outputs[id(out)] = out
            elif func in families["matmul"]:
                ops.append(_matmul_op(name, func, args, out))
                layer_outputs[id(out)] = out
            elif func in families["fused"]:
                pass
            elif func in families["batch_norm"]:
                x = args[0]
                if id(x) not in layer_outputs:  # nothing to fold it into: a per-channel multiply-add
                    ops.append(Op(name, "eltwise", 0, x.numel(), x.numel(), 0, int(x.shape[1]), int(x.shape[1])))
            elif func in families["view"]:
                source = args[0]
                # flattening a feature map is a transpose in the NHWC layout TFLite and XNNPACK run in
                if source.dim() == 4 and _first(out).dim() < 4 and math.prod(source.shape[2:]) > 1:
                    ops.append(Op(name, "copy", 0, source.numel(), source.numel()))
            elif func in families["permute_copy"] and args[0].dim() >= 4 and not args[0].is_contiguous():
                # a permuted feature map made contiguous (ShuffleNet's channel shuffle): litert-torch writes it in
                # NHWC as a transpose to NCHW, the permutation and a transpose back, three copies of the tensor
                # (set g's shufflenet_v2_x1_0: 48 TRANSPOSEs for 16 shuffles; with one copy, 13-18 % under)
                x = args[0]
                ops.extend(Op(name, "copy", 0, x.numel(), x.numel()) for _ in range(PERMUTE_COPIES))
            elif func in families["split"]:
                source, parts = args[0], [p for p in out if p.numel()]
                if source.dim() == 4 and len(parts) > 1:
                    ops.append(Op(name, "copy", 0, source.numel(), _numel(parts), 0, int(source.shape[1]),
                                  int(parts[0].shape[1])))
            else:
                kind = next((k for k in ("eltwise", "activation", "sigmoid", "pool", "copy") if func in families[k]),
                            None)
                if kind is not None:
                    inputs = [a for a in args if isinstance(a, torch.Tensor) and id(a) not in parameters]
                    result = _first(out)
                    channels = int(result.shape[1]) if result.dim() > 1 else int(result.numel())
                    ops.append(Op(name, kind, 0, _numel(inputs) + _numel([a for a in args if isinstance(a, list)]),
                                  result.numel(), 0, channels, channels))
            return out

    with module_stack(model) as stack, torch.no_grad(), Recorder():
        model(torch.zeros((1, *input_shape)))
    return ops
