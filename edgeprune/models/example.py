"""The bundled reference teacher: a small residual CNN sized for 2-core CPU training.

Built from standard layers only (Conv2d, BatchNorm2d, ReLU, Linear, AdaptiveAvgPool2d, residual adds)
so a structural pruner and the ONNX/TFLite exporters see nothing unusual. CPU time follows MACs (and, at
this size, the memory traffic of BN/ReLU on large maps), so the stem is strided and the full 3x3
convolutions run at 7x7 and 4x4.

Layout for a 28x28 input (width=1.0): 110,474 parameters, 3.85 M MACs. Widths are multiples of 16 so that
pruning half the channels still lands on multiples of 8 (the NEON-friendly width on a Cortex-A72).

    stem     conv3x3 C->32, stride 2 + BN + ReLU               14x14
    block1   dw3x3(32) BN ReLU, pw1x1 32->32 BN, +x, ReLU      14x14
    down2    conv3x3 32->48, stride 2 + BN + ReLU              7x7
    block2   conv3x3 48->48 BN ReLU, conv3x3 BN, +x, ReLU      7x7
    down3    conv3x3 48->96, stride 2 + BN + ReLU              4x4
    block3   dw3x3(96) BN ReLU, pw1x1 96->96 BN, +x, ReLU      4x4
    head     global average pool, flatten, linear 96->classes

Recipe (distill/trainer.py defaults, 10 epochs, flips): 92.86% (seed 0) and 92.78% (seed 1) on the
Fashion-MNIST test split (1 thread each, run side by side), ~21 s/epoch on 2 cores alone
(benchmarks/teacher_recipe.py). Any input of at least 8x8 works (the strided stages pad, so 8x8 ends at 1x1).
"""
from __future__ import annotations

import torch
from torch import nn

BASE_WIDTHS = (32, 48, 96)


def _round8(value: float) -> int:
    return max(8, int(round(value / 8.0)) * 8)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout)]


class SeparableBlock(nn.Module):
    """Depthwise 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN, plus identity, then ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn(channels, channels, 3, groups=channels), nn.ReLU(),
            *_conv_bn(channels, channels, 1),
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + x)


class BasicBlock(nn.Module):
    """Two full 3x3 convolutions with BN, plus identity, then ReLU (used at low resolution only)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn(channels, channels, 3), nn.ReLU(),
            *_conv_bn(channels, channels, 3),
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + x)


class ExampleNet(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")
        c1, c2, c3 = (_round8(w * width) for w in BASE_WIDTHS)
        self.widths = (c1, c2, c3)
        self.features = nn.Sequential(
            *_conv_bn(in_channels, c1, 3, stride=2), nn.ReLU(),
            SeparableBlock(c1),
            *_conv_bn(c1, c2, 3, stride=2), nn.ReLU(),
            BasicBlock(c2),
            *_conv_bn(c2, c3, 3, stride=2), nn.ReLU(),
            SeparableBlock(c3),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def example_net(in_channels: int = 1, num_classes: int = 10, width: float = 1.0) -> ExampleNet:
    """The bundled reference teacher (`--model example`); `width` scales every channel count (multiples of 8)."""
    return ExampleNet(in_channels=in_channels, num_classes=num_classes, width=width)
