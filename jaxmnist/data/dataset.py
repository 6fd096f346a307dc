"""The in-memory dataset: a NamedTuple of six arrays, checked when built.

:func:`jaxmnist.data.load_dataset` returns one from the official files; tests
build small synthetic ones with :func:`make_dataset` or :class:`Dataset`.
Both apply one rule to every split (see :class:`Dataset`), so bad pixels or
labels are refused on the host, before any tracing, with one line naming
the split, the value and what is valid.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from jaxmnist.types import Array

#: The labels a dataset may hold: the ten classes of MNIST and Fashion-MNIST.
NUM_CLASSES = 10
SPLITS = ("train", "val", "test")


class _Splits(NamedTuple):
    train_images: Array
    train_labels: Array
    val_images: Array
    val_labels: Array
    test_images: Array
    test_labels: Array


class Dataset(_Splits):
    """Three splits of images ``[n, pixels]`` and labels ``[n]`` (int32).

    ``val_*`` is held out of the official training split for tuning and
    early-stopping decisions; ``test_*`` is only for final reporting.

    Building one (``Dataset(...)``, ``_replace``, :func:`make_dataset`)
    checks and converts every split by one rule:

    - images ``[n, pixels]``, or ``[n, height, width]`` (flattened to
      ``[n, height * width]``);
    - integer images must hold pixels in 0..255 and are stored as uint8;
      float images must lie in [0, 1] (pixels divided by 255) and are kept
      as they are. The model reads uint8 ``p`` as ``p / 255``, so the two
      scales mean the same; floats in 0..255 (not divided) are refused;
    - labels integers in 0..9 (whole-valued floats are accepted), stored as
      int32; fractional, negative or larger labels are refused.

    A bad split raises one ``ValueError`` (a value or shape) or
    ``TypeError`` (a dtype) naming it, the first bad value and what is
    valid. Arrays traced inside ``jax.jit`` are checked for shape and dtype
    only. JAX rebuilds the pytree without the checks (its leaves may be
    tracers or ``in_axes`` specs), and so does :meth:`unchecked`.
    """
    __slots__ = ()

    def __new__(cls, train_images, train_labels, val_images, val_labels,
                test_images, test_labels):
        given = (train_images, train_labels, val_images, val_labels,
                 test_images, test_labels)
        arrays = []
        for split, x, y in zip(SPLITS, given[::2], given[1::2]):
            x = checked_images(f"{split}_images", x)
            arrays += [x, checked_labels(f"{split}_labels", y, x.shape[0])]
        return tuple.__new__(cls, arrays)

    @classmethod
    def _make(cls, iterable) -> Dataset:
        """The checked dataset of six arrays (``_replace`` builds with it)."""
        return cls(*iterable)

    @classmethod
    def unchecked(cls, *arrays) -> Dataset:
        """The six arrays as given, without the checks: for arrays already
        checked, and for tests that feed the training deliberately bad data
        (NaN pixels) to exercise its own guards."""
        if len(arrays) != len(cls._fields):
            raise TypeError(f"Dataset.unchecked takes {len(cls._fields)} "
                            f"arrays, got {len(arrays)}")
        return tuple.__new__(cls, arrays)

    @property
    def num_train(self) -> int:
        return int(self.train_images.shape[0])


jax.tree_util.register_pytree_with_keys(
    Dataset,
    lambda d: (tuple((jax.tree_util.GetAttrKey(f), x)
                     for f, x in zip(d._fields, d)), None),
    lambda _, arrays: Dataset.unchecked(*arrays),
    lambda d: (tuple(d), None))


def checked_images(name: str, images) -> Array:
    """``images`` as ``[n, pixels]``: uint8 if integer, floats unchanged;
    ValueError/TypeError naming ``name`` unless they follow
    :class:`Dataset`'s rule."""
    x = _as_array(images)
    if x.ndim == 3:
        x = x.reshape(x.shape[0], -1)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"{name} must have shape [n, pixels] or [n, height,"
                         f" width], got {tuple(np.shape(images))}")
    if _is_integer(x.dtype):
        if x.dtype != np.uint8:
            _refuse_outside(x, 0, 255, f"{name} are integers, so each pixel "
                            f"must be in 0..255")
            x = x.astype(np.uint8)
        return x
    if jnp.issubdtype(x.dtype, jnp.floating):
        _refuse_outside(x, 0.0, 1.0, f"{name} are floats, so each pixel must "
                        f"be in [0, 1] (0..255 divided by 255)")
        return x
    raise TypeError(f"{name} must be integers in 0..255 or floats in [0, 1],"
                    f" got dtype {x.dtype}")


def checked_labels(name: str, labels, n: int) -> Array:
    """``labels`` as int32 ``[n]``; ValueError/TypeError naming ``name``
    unless each is a whole number in 0..NUM_CLASSES-1."""
    y = _as_array(labels)
    if tuple(y.shape) != (n,):
        raise ValueError(f"{name} must have shape [{n}] (one per image), got "
                         f"{tuple(y.shape)}")
    valid = f"{name} must be integers in 0..{NUM_CLASSES - 1}"
    if not (_is_integer(y.dtype) or jnp.issubdtype(y.dtype, jnp.floating)):
        raise TypeError(f"{valid}, got dtype {y.dtype}")
    _refuse_outside(y, 0, NUM_CLASSES - 1, valid, whole=not _is_integer(
        y.dtype))
    return y if y.dtype == np.int32 else y.astype(np.int32)


def _as_array(x) -> Array:
    """A NumPy or JAX array (JAX arrays and tracers stay where they are)."""
    return x if isinstance(x, jax.Array) else np.asarray(x)


def _is_integer(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.integer)  # bool is not


def _refuse_outside(x: Array, lo, hi, valid: str, whole: bool = False
                    ) -> None:
    """ValueError ``"{valid}, got V at index I"`` for the first value of
    concrete ``x`` outside [lo, hi] (NaN included), or not whole when
    ``whole``; traced arrays pass (their values are not known)."""
    if isinstance(x, Tracer) or x.size == 0:
        return
    if float(x.min()) >= lo and float(x.max()) <= hi and not (
            whole and bool(np.any(np.asarray(x) % 1))):
        return
    flat = np.asarray(x).reshape(len(x), -1)
    bad = ~((flat >= lo) & (flat <= hi))
    if whole:
        bad |= flat != np.floor(flat)
    row, col = np.argwhere(bad)[0]
    where = f"index {row}" if x.ndim == 1 else f"image {row}, pixel {col}"
    raise ValueError(f"{valid}, got {flat[row, col].item()!r} at {where}")


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
    ``[n, 784]``), checked and converted by :class:`Dataset`'s rule:
    integer pixels in 0..255 become uint8, float pixels must lie in [0, 1]
    and are kept as floats, labels must be integers in 0..9.

    ``val_size`` images of the training arrays are held out as validation;
    ``train_subset`` then keeps only the first N of the remaining training
    images (for quick runs).
    """
    images = checked_images("train_images", train_images)
    labels = checked_labels("train_labels", train_labels, images.shape[0])
    test_x = checked_images("test_images", test_images)
    test_y = checked_labels("test_labels", test_labels, test_x.shape[0])
    tr_x, tr_y, va_x, va_y = split_validation(
        np.asarray(images), np.asarray(labels), val_size, seed)
    if train_subset is not None:
        if not 0 < train_subset <= len(tr_y):
            raise ValueError(
                f"train_subset {train_subset} is outside 1..{len(tr_y)} "
                f"(the training images left after holding out {val_size} "
                f"for validation)")
        tr_x, tr_y = tr_x[:train_subset], tr_y[:train_subset]
    return Dataset.unchecked(tr_x, tr_y, va_x, va_y, np.asarray(test_x),
                             np.asarray(test_y))


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
