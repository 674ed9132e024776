"""The in-memory form every stage reads data in."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DataBundle:
    """Model-ready arrays plus what a device program needs to feed the model the same way."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    class_names: tuple[str, ...] = ()
    x_calib: np.ndarray | None = None
    augment: bool = True  # shift/flip augmentation makes sense for this data
    fingerprint: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def calibration(self, count: int, seed: int = 0) -> np.ndarray:
        """Real samples for int8 calibration: x_calib if given, else a fixed random subset of training data."""
        source = self.x_calib if self.x_calib is not None else self.x_train
        if len(source) <= count:
            return source
        index = np.random.default_rng(seed).choice(len(source), size=count, replace=False)
        return source[np.sort(index)]
