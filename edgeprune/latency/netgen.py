"""Random small networks for calibration: operators measured in context, not alone.

A single layer measured alone pays what a layer inside a network does not (the input copy, cold caches, the
invoke), and a fit on single layers alone puts those costs into the per-operator terms, over-predicting networks
of many small operators. So the calibration also measures whole networks, drawn at random from the building
blocks of edge CNNs (plain and strided 3x3 convs, inverted residuals with 3x3/5x5 depthwise and optional
squeeze-excitation, basic residual blocks, fire modules with concatenation, max/average pooling, ReLU/ReLU6/
hard-swish, global pooling or flatten heads) at the widths and resolutions of small edge models, a second
family at those of mobile ImageNet-style models (64-96 px, widths to 512: up to about 50 M MACs and 20 MB of
weights), and a third of the blocks of RegNet, ShuffleNetV2 and EfficientNet (grouped bottlenecks, channel split
and shuffle, SiLU, sigmoid gates) at 32-64 px with widths to 768 (0.1-74 MB of fp32 weights, the range where the
weights outgrow the cache), and a fourth of ImageNet-style models at 32-48 px inputs, whose last stages run on 1-2
pixel maps: matrix-vector products bound by reading their weights. A seed fixes each network, so a calibration can
be rebuilt and compared.
(Imports torch: import this module lazily.)
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import nn

@dataclass(frozen=True)
class Family:
    inputs: tuple[tuple[int, int], ...]  # (channels, size)
    widths: tuple[int, ...]
    stem_widths: int  # the stem's width is one of the first this many widths
    stages: tuple[int, int]
    blocks: tuple[str, ...] = ("conv", "inverted", "inverted", "basic", "fire")
    activations: tuple[type, ...] = (nn.ReLU, nn.ReLU6, nn.Hardswish)
    gate: type = nn.Hardsigmoid  # of squeeze-excitation
    growth: tuple[float, float] = (1.0, 2.2)  # each stage's width over the last's
    smallest: int = 4  # a stage halves the map while it is larger than this


FAMILIES = {
    "small": Family(((1, 28), (3, 32), (3, 48), (3, 64)), (8, 12, 16, 20, 24, 32, 40, 48, 56, 64, 72, 96, 128), 7,
                    (2, 4)),
    "large": Family(((3, 64), (3, 96)), (16, 24, 32, 40, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512), 4, (3, 5)),
    # the blocks of RegNet, ShuffleNetV2 and EfficientNet (grouped bottlenecks, channel split and shuffle, SiLU and
    # sigmoid gates) at widths whose weights span the cache (0.1-74 MB in fp32)
    "modern": Family(((3, 32), (3, 48), (3, 64)), (24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 640, 768), 4,
                     (3, 5), ("grouped", "grouped", "shuffle", "inverted", "basic"), (nn.ReLU, nn.SiLU), nn.Sigmoid,
                     (1.2, 2.2)),
    # zoo models at small inputs (ResNet, MnasNet, ShuffleNetV2 at 32 px) end on 1-2 px maps, where a conv is a
    # matrix-vector product; with the other families stopping at 3-4 px, int8 models of that kind were predicted
    # 30-45 % fast on an Intel Xeon (rounds 14-15 of latency_predictor.md)
    "pyramid": Family(((3, 32), (3, 40), (3, 48)), (16, 24, 32, 48, 64, 96, 128, 160, 256, 320, 512, 640), 4,
                      (4, 5), ("conv", "basic", "inverted", "inverted", "shuffle", "grouped"),
                      (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU), nn.Hardsigmoid, (1.3, 2.2), smallest=1),
}


@dataclass(frozen=True)
class NetCase:
    """One random calibration network, fixed by its seed and family."""

    seed: int
    family: str = "small"

    @property
    def name(self) -> str:
        return f"net-{self.seed:03d}" if self.family == "small" else f"net-{self.family}-{self.seed:03d}"

    @property
    def input_shape(self) -> tuple[int, ...]:
        inputs = FAMILIES[self.family].inputs
        channels, size = inputs[random.Random(self.seed).randrange(len(inputs))]
        return (channels, size, size)

    def build(self) -> nn.Module:
        rng = random.Random(self.seed)
        rng.randrange(len(FAMILIES[self.family].inputs))  # the input shape's draw
        torch.manual_seed(self.seed)
        return _network(rng, self.input_shape, FAMILIES[self.family]).eval()


def networks(count: int, first_seed: int = 0, family: str = "small") -> list[NetCase]:
    return [NetCase(seed, family) for seed in range(first_seed, first_seed + count)]


def _network(rng: random.Random, shape: tuple[int, ...], family: Family) -> nn.Module:
    channels, size = shape[0], shape[1]
    act = rng.choice(family.activations)
    width = rng.choice(family.widths[:family.stem_widths])
    stride = 2 if size >= 48 or rng.random() < 0.5 else 1
    layers: list[nn.Module] = [_conv_bn(channels, width, 3, stride), act()]
    size = -(-size // stride)
    if size >= 24 and rng.random() < 0.3:
        layers.append(rng.choice((nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(2))))
        size = -(-size // 2)
    for stage in range(rng.randint(*family.stages)):
        out = min(family.widths[-1], max(8, int(width * rng.uniform(*family.growth))))
        out = out // 8 * 8 if rng.random() < 0.6 else out  # on and off the runtimes' channel tiles
        for block in range(rng.randint(1, 3)):
            stride = 2 if block == 0 and size > family.smallest else 1
            kind = rng.choice(family.blocks)
            layers.append(_block(kind, rng, width, out, stride, act, family.gate))
            width, size = out, -(-size // stride)
    if rng.random() < 0.7 or size > 7:
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        features = width
    else:
        layers.append(nn.Flatten())
        features = width * size * size
    if rng.random() < 0.3:
        hidden = rng.choice((64, 128, 256))
        layers += [nn.Linear(features, hidden), act()]
        features = hidden
    layers.append(nn.Linear(features, 10))
    return nn.Sequential(*layers)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout))


def _block(kind: str, rng: random.Random, cin: int, cout: int, stride: int, act: type, gate: type) -> nn.Module:
    if kind == "conv":
        return nn.Sequential(_conv_bn(cin, cout, 3, stride), act())
    if kind == "basic":
        return _Residual(nn.Sequential(_conv_bn(cin, cout, 3, stride), act(), _conv_bn(cout, cout, 3)),
                         None if stride == 1 and cin == cout else _conv_bn(cin, cout, 1, stride), act())
    if kind == "fire":
        squeeze = max(8, cin // 4)
        return nn.Sequential(*( [nn.MaxPool2d(2)] if stride == 2 else []), _conv_bn(cin, squeeze, 1), act(),
                             _Fire(squeeze, cout // 2, cout - cout // 2, act))
    if kind == "grouped":
        group_width = rng.choice([g for g in (8, 16, 24, 32, 48) if cout % g == 0 and g < cout] or [cout])
        body = [_conv_bn(cin, cout, 1), act(), _conv_bn(cout, cout, 3, stride, groups=cout // group_width), act()]
        if rng.random() < 0.5:
            body.append(_SqueezeExcite(cout, max(8, cin // 4), gate))
        body.append(_conv_bn(cout, cout, 1))
        return _Residual(nn.Sequential(*body), None if stride == 1 and cin == cout else _conv_bn(cin, cout, 1, stride),
                         act())
    if kind == "shuffle":
        return _ShuffleUnit(cin, cout, stride, act)
    hidden = cin * rng.choice((1, 3, 4, 6))
    kernel = rng.choice((3, 3, 5))
    body: list[nn.Module] = [] if hidden == cin else [_conv_bn(cin, hidden, 1), act()]
    body += [_conv_bn(hidden, hidden, kernel, stride, groups=hidden), act()]
    if rng.random() < 0.3:
        body.append(_SqueezeExcite(hidden, max(8, hidden // 4), gate))
    body.append(_conv_bn(hidden, cout, 1))
    return _Residual(nn.Sequential(*body), None, None) if stride == 1 and cin == cout else nn.Sequential(*body)


class _Residual(nn.Module):
    def __init__(self, body: nn.Module, shortcut: nn.Module | None, act: nn.Module | None) -> None:
        super().__init__()
        self.body, self.shortcut, self.act = body, shortcut or nn.Identity(), act or nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class _Fire(nn.Module):
    """SqueezeNet's expand stage: 1x1 and 3x3 branches, concatenated."""

    def __init__(self, cin: int, left: int, right: int, act: type) -> None:
        super().__init__()
        self.left = nn.Sequential(_conv_bn(cin, left, 1), act())
        self.right = nn.Sequential(_conv_bn(cin, right, 3), act())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.left(x), self.right(x)], dim=1)


class _SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze: int, gate: type) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, squeeze, 1), nn.ReLU(),
                                  nn.Conv2d(squeeze, channels, 1), gate())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class _ShuffleUnit(nn.Module):
    """ShuffleNetV2's unit: half the channels pass through (or, when downsampling or widening, a depthwise branch
    takes them), the other half runs 1x1 - depthwise 3x3 - 1x1, and the halves are concatenated and shuffled."""

    def __init__(self, cin: int, cout: int, stride: int, act: type) -> None:
        super().__init__()
        self.split = stride == 1 and cin == cout and cin % 2 == 0
        left = cout // 2
        right_in = cin // 2 if self.split else cin
        self.left = None if self.split else nn.Sequential(_conv_bn(cin, cin, 3, stride, groups=cin),
                                                           _conv_bn(cin, left, 1), act())
        self.right = nn.Sequential(_conv_bn(right_in, cout - left, 1), act(),
                                   _conv_bn(cout - left, cout - left, 3, stride, groups=cout - left),
                                   _conv_bn(cout - left, cout - left, 1), act())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split:
            kept, x = x.chunk(2, dim=1)
        else:
            kept = self.left(x)
        y = torch.cat([kept, self.right(x)], dim=1)
        n, c, h, w = y.shape
        return y if c % 2 else y.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
