"""The in-memory Dataset: validation held out by a fixed seed, checks."""

import numpy as np
import pytest

import jaxmnist as jm
from jaxmnist.data import check_dataset


def arrays(n=100):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10


def test_make_dataset_holds_out_validation():
    x, y = arrays()
    d1 = jm.make_dataset(x, y, x[:10], y[:10], val_size=20)
    d2 = jm.make_dataset(x, y, x[:10], y[:10], val_size=20)
    assert d1.train_images.shape == (80, 784)
    assert d1.val_images.shape == (20, 784)
    assert d1.train_labels.dtype == np.int32
    np.testing.assert_array_equal(d1.val_labels, d2.val_labels)  # fixed seed
    train_rows = {r.tobytes() for r in d1.train_images}
    assert not any(r.tobytes() in train_rows for r in d1.val_images)


def test_train_subset_keeps_the_first_n():
    x, y = arrays()
    full = jm.make_dataset(x, y, x[:10], y[:10], val_size=20)
    sub = jm.make_dataset(x, y, x[:10], y[:10], val_size=20, train_subset=30)
    assert sub.num_train == 30
    np.testing.assert_array_equal(sub.train_images, full.train_images[:30])
    with pytest.raises(ValueError, match="train_subset 81 is outside 1..80"):
        jm.make_dataset(x, y, x[:10], y[:10], val_size=20, train_subset=81)


def test_bad_val_size():
    x, y = arrays()
    with pytest.raises(ValueError, match=r"val_size must be in \[0, 100\)"):
        jm.make_dataset(x, y, x, y, val_size=100)


def test_check_dataset_names_the_bad_split(tiny_data):
    check_dataset(tiny_data, 784)
    with pytest.raises(ValueError, match="val_images must have shape"):
        check_dataset(
            tiny_data._replace(val_images=tiny_data.val_images[:, :5]), 784)
    with pytest.raises(TypeError, match="must be a jaxmnist.Dataset"):
        check_dataset(tuple(tiny_data), 784)
