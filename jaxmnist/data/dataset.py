"""The in-memory dataset: a NamedTuple of six arrays, built from any arrays.

:func:`jaxmnist.data.load_dataset` returns one from the official files; tests
build small synthetic ones with :func:`make_dataset`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxmnist.types import Array


class Dataset(NamedTuple):
    """Images are ``[n, 784]`` uint8 (0..255), labels ``[n]`` int32.

    ``val_*`` is held out of the official training split for tuning and
    early-stopping decisions; ``test_*`` is only for final reporting.
    """
    train_images: Array
    train_labels: Array
    val_images: Array
    val_labels: Array
    test_images: Array
    test_labels: Array

    @property
    def num_train(self) -> int:
        return int(self.train_images.shape[0])


def split_validation(images: np.ndarray, labels: np.ndarray, val_size: int,
                     seed: int = 0) -> tuple[np.ndarray, ...]:
    """Split (images, labels) into train and a held-out validation part.

    The validation indices are a fixed-seed random subset, so the split is
    the same on every machine and every run.
    """
    n = len(labels)
    if not 0 <= val_size < n:
        raise ValueError(f"val_size must be in [0, {n}), got {val_size}")
    order = np.random.default_rng(seed).permutation(n)
    val, train = np.sort(order[:val_size]), np.sort(order[val_size:])
    return images[train], labels[train], images[val], labels[val]


def make_dataset(train_images, train_labels, test_images, test_labels,
                 val_size: int = 5000, seed: int = 0,
                 train_subset: int | None = None) -> Dataset:
    """A :class:`Dataset` from raw arrays (images ``[n, 28, 28]`` or
    ``[n, 784]``).

    ``val_size`` images of the training arrays are held out as validation;
    ``train_subset`` then keeps only the first N of the remaining training
    images (for quick runs).
    """
    def flat(x):
        x = np.asarray(x)
        return x.reshape(len(x), -1).astype(np.uint8)

    tr_x, tr_y, va_x, va_y = split_validation(
        flat(train_images), np.asarray(train_labels), val_size, seed)
    if train_subset is not None:
        if not 0 < train_subset <= len(tr_y):
            raise ValueError(
                f"train_subset {train_subset} is outside 1..{len(tr_y)} "
                f"(the training images left after holding out {val_size} "
                f"for validation)")
        tr_x, tr_y = tr_x[:train_subset], tr_y[:train_subset]
    i32 = lambda y: np.asarray(y).astype(np.int32)
    return Dataset(tr_x, i32(tr_y), va_x, i32(va_y),
                   flat(test_images), i32(test_labels))


def check_dataset(data: Dataset, input_size: int) -> None:
    """Raise a one-line ValueError if ``data`` has the wrong shapes or dtypes.

    Works on traced arrays too (it only reads shapes and dtypes), so
    ``train`` fails at trace time with a clear message.
    """
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a jaxmnist.Dataset, got "
                        f"{type(data).__name__}")
    for split in ("train", "val", "test"):
        x = getattr(data, f"{split}_images")
        y = getattr(data, f"{split}_labels")
        if x.ndim != 2 or x.shape[1] != input_size:
            raise ValueError(f"{split}_images must have shape [n, {input_size}]"
                             f", got {tuple(x.shape)}")
        if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"{split}_images must be uint8 (or float), got "
                             f"{x.dtype}")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{split}_labels must have shape [{x.shape[0]}], "
                             f"got {tuple(y.shape)}")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{split}_labels must be integers, got {y.dtype}")
