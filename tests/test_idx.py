"""IDX files: headers checked, data read back exactly."""

import gzip

import numpy as np
import pytest

from jaxmnist.data.idx import read_idx
from jaxmnist.errors import DataError


def write_idx(path, magic, array):
    header = np.asarray([magic, *array.shape], ">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + np.asarray(array, np.uint8).tobytes())


@pytest.mark.parametrize("magic,shape,message", [
    (2049, (60000, 28, 28), "magic 2049"),
    (2051, (59999, 28, 28), "shape (59999, 28, 28)"),
    (2051, (60000, 32, 32), "shape (60000, 32, 32)"),
])
def test_idx_header_is_checked(tmp_path, magic, shape, message):
    path = tmp_path / "x.gz"
    header = np.asarray([magic, *shape], ">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header)
    with pytest.raises(DataError, match=message.replace("(", r"\(")
                       .replace(")", r"\)")):
        read_idx(path, 2051, 60000)


def test_idx_short_data_is_refused(tmp_path):
    path = tmp_path / "labels.gz"
    with gzip.open(path, "wb") as f:
        f.write(np.asarray([2049, 10], ">u4").tobytes() + bytes(9))
    with pytest.raises(DataError, match="holds 9 bytes of data, expected 10"):
        read_idx(path, 2049, 10)


def test_idx_round_trip(tmp_path):
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28) % 256
    write_idx(tmp_path / "i.gz", 2051, images)
    np.testing.assert_array_equal(read_idx(tmp_path / "i.gz", 2051, 3),
                                  images.astype(np.uint8))
