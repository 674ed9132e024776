import numpy as np
import pytest

from edgeprune.data import load_data
from edgeprune.errors import ConfigError, DataError, InputFileError


def test_fashion_mnist_from_the_debian_package():
    data = load_data("fashion-mnist")
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.num_classes == 10 and len(data.class_names) == 10
    # normalised with the training split's own statistics
    assert abs(float(data.x_train.mean())) < 0.01 and abs(float(data.x_train.std()) - 1) < 0.01


def test_missing_fashion_mnist_says_how_to_install(tmp_path):
    with pytest.raises(DataError) as info:
        load_data("fashion-mnist", data_dir=str(tmp_path))
    assert "apt-get install dataset-fashion-mnist" in str(info.value) and "--data-dir" in str(info.value)


def test_digits_and_calibration_subset():
    data = load_data("digits")
    assert data.input_shape == (1, 8, 8) and not data.augment
    calib = data.calibration(100, seed=1)
    assert calib.shape == (100, 1, 8, 8)
    assert np.array_equal(calib, data.calibration(100, seed=1))


def test_npz_round_trip(digits_npz):
    data = load_data(f"npz:{digits_npz}")
    assert data.input_shape == (1, 16, 16) and data.num_classes == 10 and len(data.x_test) == 397


@pytest.mark.parametrize("arrays,needle", [
    ({"x_train": np.zeros((4, 1, 4, 4), np.float32), "y_train": np.zeros(4, np.int64)}, "missing array(s) x_test, y_test"),
    ({"x_train": np.zeros((4, 1, 4, 4), np.float64), "y_train": np.zeros(4, np.int64),
      "x_test": np.zeros((2, 1, 4, 4), np.float32), "y_test": np.zeros(2, np.int64)}, "'x_train' must be float32"),
    ({"x_train": np.zeros((4, 1, 4, 4), np.float32), "y_train": np.zeros(4, np.float32),
      "x_test": np.zeros((2, 1, 4, 4), np.float32), "y_test": np.zeros(2, np.int64)}, "'y_train' must hold integer"),
    ({"x_train": np.zeros((4, 1, 4, 4), np.float32), "y_train": np.zeros(3, np.int64),
      "x_test": np.zeros((2, 1, 4, 4), np.float32), "y_test": np.zeros(2, np.int64)}, "one label per sample"),
    ({"x_train": np.zeros((4, 1, 4, 4), np.float32), "y_train": np.zeros(4, np.int64),
      "x_test": np.zeros((2, 1, 5, 5), np.float32), "y_test": np.zeros(2, np.int64)}, "disagree on the input shape"),
])
def test_bad_npz_names_file_and_array(tmp_path, arrays, needle):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as info:
        load_data(f"npz:{path}")
    assert str(path) in str(info.value) and needle in str(info.value)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1, np.int64),
             x_test=np.zeros((1, 1), np.float32), y_test=np.zeros(1, np.int64))
    with pytest.raises(DataError, match="without unpickling"):
        load_data(f"npz:{path}")


def test_missing_and_corrupt_npz(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_data(f"npz:{tmp_path / 'nope.npz'}")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputFileError, match="not a readable .npz"):
        load_data(f"npz:{corrupt}")


def test_folder_of_images(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)).save(tmp_path / label / f"{i}.png")
    data = load_data(f"folder:{tmp_path}")
    assert data.class_names == ("cat", "dog") and data.input_shape == (1, 12, 12)
    assert len(data.x_train) + len(data.x_test) == 10


def test_unknown_spec():
    with pytest.raises(ConfigError, match="unknown data spec"):
        load_data("imagenet")
