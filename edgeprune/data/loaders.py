"""One loader per data spec kind; each validates what it reads and names the file on error."""
from __future__ import annotations

import gzip
import hashlib
import importlib
import os
import struct
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError, DataError, InputFileError
from .bundle import DataBundle

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat",
                         "sandal", "shirt", "sneaker", "bag", "ankle boot")
FASHION_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}
# Fashion-MNIST pixel statistics over the training split (computed from the data; see tests).
FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): the format Fashion-MNIST ships in."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot read IDX file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: IDX header says {dims} but holds {data.size} bytes")
    return data.reshape(dims)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def load_fashion_mnist(data_dir: str | None) -> DataBundle:
    directory = Path(data_dir) if data_dir else FASHION_MNIST_DIR
    arrays = {}
    for key, stem in FASHION_MNIST_FILES.items():
        path = _find_idx(directory, stem)
        if path is None:
            raise DataError(
                f"Fashion-MNIST file {directory / (stem + '.gz')} not found: install it with "
                f"'apt-get install dataset-fashion-mnist' or point --data-dir at a folder holding the IDX files"
            )
        arrays[key] = _read_idx(path)

    def images(a: np.ndarray) -> np.ndarray:
        x = a.astype(np.float32)[:, None, :, :] / 255.0
        return (x - FASHION_MNIST_MEAN) / FASHION_MNIST_STD

    return DataBundle(
        name="fashion-mnist",
        x_train=images(arrays["x_train"]), y_train=arrays["y_train"].astype(np.int64),
        x_test=images(arrays["x_test"]), y_test=arrays["y_test"].astype(np.int64),
        num_classes=10, mean=(FASHION_MNIST_MEAN,), std=(FASHION_MNIST_STD,),
        class_names=FASHION_MNIST_CLASSES, augment=True,
        fingerprint={"spec": "fashion-mnist", "dir": str(directory),
                     "sha256": _digest(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"])},
    )


def load_digits_data() -> DataBundle:
    """scikit-learn's 8x8 digits (ships inside the package): a fixed stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    mean, std = float(x.mean()), float(x.std())
    x = (x - mean) / std
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return DataBundle(
        name="digits", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, num_classes=10,
        mean=(mean,), std=(std,), class_names=tuple(str(i) for i in range(10)), augment=False,
        fingerprint={"spec": "digits", "sha256": _digest(x_train, y_train, x_test, y_test)},
    )


NPZ_REQUIRED = ("x_train", "y_train", "x_test", "y_test")


def _check_arrays(where: str, x_train, y_train, x_test, y_test, x_calib=None) -> None:
    for name, x in (("x_train", x_train), ("x_test", x_test), ("x_calib", x_calib)):
        if x is None:
            continue
        if x.dtype != np.float32:
            raise DataError(f"{where}: '{name}' must be float32 in the model's input layout, got {x.dtype}")
        if x.ndim < 2:
            raise DataError(f"{where}: '{name}' must have a batch axis and an input shape, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise DataError(f"{where}: '{name}' holds NaN or infinite values")
    for name, y, x in (("y_train", y_train, x_train), ("y_test", y_test, x_test)):
        if y.dtype.kind not in "iu":
            raise DataError(f"{where}: '{name}' must hold integer class ids (int64), got {y.dtype}")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{where}: '{name}' must be 1-D with one label per sample of '{'x' + name[1:]}'")
        if len(y) and y.min() < 0:
            raise DataError(f"{where}: '{name}' holds negative class ids")
    shapes = {x.shape[1:] for x in (x_train, x_test, x_calib) if x is not None}
    if len(shapes) != 1:
        raise DataError(f"{where}: x arrays disagree on the input shape: {sorted(shapes)}")
    if len(x_train) == 0 or len(x_test) == 0:
        raise DataError(f"{where}: x_train and x_test must not be empty")


def load_npz(path_text: str) -> DataBundle:
    path = Path(path_text)
    if not path.is_file():
        raise InputFileError(f"{path}: data file not found (expected an .npz with {', '.join(NPZ_REQUIRED)})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in NPZ_REQUIRED if k not in archive.files]
            if missing:
                raise DataError(f"{path}: missing array(s) {', '.join(missing)}; an npz needs "
                                f"{', '.join(NPZ_REQUIRED)} (optional x_calib), found {', '.join(archive.files) or 'none'}")
            arrays = {k: archive[k] for k in archive.files if k in NPZ_REQUIRED + ("x_calib",)}
    except DataError:
        raise
    except ValueError as exc:  # object arrays need pickle: refused
        raise DataError(f"{path}: cannot read without unpickling ({exc}); store plain numeric arrays") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{path}: not a readable .npz file ({exc})") from None
    _check_arrays(str(path), **arrays)
    y_all = np.concatenate([arrays["y_train"], arrays["y_test"]])
    return DataBundle(
        name=f"npz:{path.name}", x_train=arrays["x_train"], y_train=arrays["y_train"].astype(np.int64),
        x_test=arrays["x_test"], y_test=arrays["y_test"].astype(np.int64), num_classes=int(y_all.max()) + 1,
        x_calib=arrays.get("x_calib"), augment=False,
        fingerprint={"spec": f"npz:{path}", "sha256": _digest(*arrays.values())},
    )


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def load_folder(path_text: str, seed: int = 0) -> DataBundle:
    """One sub-folder per class; images resized to the first image's size; fixed 80/20 split."""
    from PIL import Image

    root = Path(path_text)
    if not root.is_dir():
        raise InputFileError(f"{root}: image folder not found (expected one sub-folder per class)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DataError(f"{root}: needs at least two class sub-folders, found {len(classes)}")
    images, labels, size, mode = [], [], None, None
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{root / name}: class folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        for file in files:
            try:
                with Image.open(file) as img:
                    mode = mode or ("L" if img.mode in ("L", "1", "P") else "RGB")
                    img = img.convert(mode)
                    size = size or img.size
                    images.append(np.asarray(img.resize(size), dtype=np.float32) / 255.0)
            except OSError as exc:
                raise InputFileError(f"{file}: not a readable image ({exc})") from None
            labels.append(label)
    x = np.stack(images)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    mean = tuple(float(m) for m in x.mean(axis=(0, 2, 3)))
    std = tuple(float(s) + 1e-6 for s in x.std(axis=(0, 2, 3)))
    x = ((x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]).astype(np.float32)
    y = np.array(labels, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    test = order[: max(1, len(x) // 5)]
    train = order[max(1, len(x) // 5):]
    return DataBundle(
        name=f"folder:{root.name}", x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test],
        num_classes=len(classes), mean=mean, std=std, class_names=tuple(classes), augment=True,
        fingerprint={"spec": f"folder:{root}", "sha256": _digest(x, y)},
    )


def load_module_function(spec: str) -> DataBundle:
    """`package.module:function` or `file.py:function` returning (x_train, y_train, x_test, y_test) arrays."""
    from ..models.loading import import_from_spec

    function: Callable = import_from_spec(spec, what="data function")
    try:
        result = function()
    except Exception as exc:  # user code: report its failure in one line
        raise DataError(f"{spec}: data function raised {type(exc).__name__}: {exc}") from None
    if not (isinstance(result, (tuple, list)) and len(result) == 4):
        raise DataError(f"{spec}: data function must return (x_train, y_train, x_test, y_test) numpy arrays")
    x_train, y_train, x_test, y_test = (np.asarray(a) for a in result)
    _check_arrays(spec, x_train, y_train, x_test, y_test)
    return DataBundle(
        name=spec, x_train=x_train, y_train=y_train.astype(np.int64), x_test=x_test, y_test=y_test.astype(np.int64),
        num_classes=int(max(y_train.max(), y_test.max())) + 1, augment=False,
        fingerprint={"spec": spec, "sha256": _digest(x_train, y_train, x_test, y_test)},
    )


def load_data(spec: str, data_dir: str | None = None, seed: int = 0) -> DataBundle:
    """Resolve a data spec; unknown kinds name the valid ones."""
    if spec == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    if spec == "digits":
        return load_digits_data()
    if spec.startswith("npz:"):
        return load_npz(spec[4:])
    if spec.startswith("folder:"):
        return load_folder(spec[7:], seed=seed)
    if ":" in spec:
        return load_module_function(spec)
    raise ConfigError(
        f"unknown data spec '{spec}': use fashion-mnist, digits, npz:PATH, folder:PATH or module:function"
    )
