"""IDX files, the format of MNIST and Fashion-MNIST, read with gzip and numpy
(what tfds's own MNIST builder does inside), header checked."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from jaxmnist.errors import DataError

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049  # ubyte data with 3 / 1 dimensions


def read_idx(path: str | os.PathLike, magic: int, count: int) -> np.ndarray:
    """The uint8 array of a gzipped IDX file, its header checked: magic
    number, ``count`` items and, for images, 28 x 28 pixels.

    Raises:
      DataError: the header is not what an MNIST-format file has.
    """
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header = np.frombuffer(raw, ">u4", count=1 + ndim)
    shape = tuple(int(s) for s in header[1:])
    want = (count, 28, 28) if ndim == 3 else (count,)
    if int(header[0]) != magic or shape != want:
        raise DataError(f"{str(path)!r} is not an MNIST-format IDX file "
                        f"(magic {int(header[0])}, shape {shape}; expected "
                        f"{magic}, {want})")
    data = np.frombuffer(raw, np.uint8, offset=4 * (1 + ndim))
    if data.size != int(np.prod(want)):
        raise DataError(f"{str(path)!r} holds {data.size} bytes of data, "
                        f"expected {int(np.prod(want))}")
    return data.reshape(want)


def read_arrays(paths: dict[str, Path], train_size: int, test_size: int
                ) -> dict[str, np.ndarray]:
    """The train and test splits from the four files, in the files' order:
    images ``[n, 784]`` uint8, labels ``[n]`` int32."""
    out = {}
    for split, prefix, n in (("train", "train", train_size),
                             ("test", "t10k", test_size)):
        images = read_idx(paths[f"{prefix}-images-idx3-ubyte.gz"],
                          IMAGE_MAGIC, n)
        labels = read_idx(paths[f"{prefix}-labels-idx1-ubyte.gz"],
                          LABEL_MAGIC, n)
        out[f"{split}_images"] = images.reshape(n, 784)
        out[f"{split}_labels"] = labels.astype(np.int32)
    return out
