"""Data specs -> a DataBundle of model-ready arrays.

Specs: `fashion-mnist` (Debian's IDX files or --data-dir), `digits` (scikit-learn), `npz:PATH`,
`folder:PATH` (one sub-folder per class of images), `module:function` (returns train and test datasets).
Arrays are float32 in the model's input layout (N, C, H, W), already normalised; labels int64.
"""
from __future__ import annotations

from .bundle import DataBundle
from .loaders import load_data

__all__ = ["DataBundle", "load_data"]
