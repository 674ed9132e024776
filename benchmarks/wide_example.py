"""The bundled example at three times its width: a teacher for `benchmarks/budget.py --model` whose int8 latency
spans more than the run-to-run noise of a fast host.

On an AMX Xeon the example's int8 TFLite latency is mostly fixed cost (0.071 ms unpruned, 0.066 ms at the narrowest
widths allowed), so budgets placed between the two sit inside the noise. Three times as wide it has about nine
times the MACs, while the narrowest widths allowed stay the same.

    python benchmarks/budget.py --model benchmarks/wide_example.py:wide_example
"""
from __future__ import annotations

from edgeprune.models.example import ExampleNet, example_net

WIDTH = 3.0


def wide_example(in_channels: int = 1, num_classes: int = 10) -> ExampleNet:
    return example_net(in_channels=in_channels, num_classes=num_classes, width=WIDTH)
