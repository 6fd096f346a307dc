"""Shared fixtures. Strict dtype promotion catches silent float64/int mixes."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import numpy as np
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")

ROOT = Path(__file__).resolve().parents[1]


def synthetic_dataset(n_train=256, n_val=64, n_test=64, dim=784, classes=10,
                      seed=0):
    """A learnable toy problem: noisy copies of one random image per class."""
    import jaxmnist as jm

    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 256, size=(classes, dim), dtype=np.uint8)

    def split(n):
        y = rng.integers(0, classes, size=n).astype(np.int32)
        noise = rng.integers(0, 256, size=(n, dim), dtype=np.uint8)
        x = np.where(rng.random((n, dim)) < 0.5, prototypes[y], noise)
        return x.astype(np.uint8), y

    return jm.Dataset(*split(n_train), *split(n_val), *split(n_test))


@pytest.fixture(scope="session")
def tiny_data():
    """784-wide synthetic data, small enough for second-long tests."""
    return synthetic_dataset()


def shared_data_dir(name: str) -> Path | None:
    """../shared/data/<name> (or $JAXMNIST_SHARED_DATA/<name>) if complete."""
    from jaxmnist.data import IDX_FILES

    base = Path(os.environ.get("JAXMNIST_SHARED_DATA",
                               ROOT.parent / "shared" / "data"))
    path = base / name
    return path if all((path / f).is_file() for f in IDX_FILES) else None


@pytest.fixture(scope="session")
def shared_data():
    """The folder holding mnist/ and fashion_mnist/, or skip with the reason."""
    if shared_data_dir("mnist") is None or shared_data_dir(
            "fashion_mnist") is None:
        pytest.skip("real MNIST / Fashion-MNIST not found in ../shared/data")
    return shared_data_dir("mnist").parent


@pytest.fixture(scope="session")
def mnist_dirs(tmp_path_factory):
    """(manual_dir, data_dir) for real MNIST, or skip with the reason."""
    manual = shared_data_dir("mnist")
    if manual is None:
        pytest.skip("real MNIST not found in ../shared/data/mnist")
    return str(manual), str(tmp_path_factory.mktemp("tfds"))
