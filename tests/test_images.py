"""A user's image becomes an MNIST-style 28x28 digit."""

import numpy as np
import pytest
from PIL import Image

from jaxmnist.data.images import load_digit, to_mnist


def test_to_mnist_normalises_any_digit_image():
    img = np.ones((100, 60))  # black "1" on white paper, off-centre
    img[10:90, 5:15] = 0.0
    out = to_mnist(img).reshape(28, 28).astype(float)
    assert out.max() > 200 and out[0].max() == 0  # white on black, margin
    yy, xx = np.indices(out.shape)
    assert abs((yy * out).sum() / out.sum() - 13.5) <= 1
    assert abs((xx * out).sum() / out.sum() - 13.5) <= 1
    ys = np.nonzero(out.max(1) > 0)[0]
    assert 18 <= ys.max() - ys.min() + 1 <= 22  # fitted to a 20-pixel box


def test_a_blank_image_is_all_zero():
    assert not to_mnist(np.ones((30, 30))).any()


def test_unreadable_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_digit(tmp_path / "nope.png")
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="is not a readable image"):
        load_digit(bad)


def test_load_digit_reads_a_png(tmp_path):
    img = np.zeros((28, 28), np.uint8)
    img[4:24, 12:16] = 255
    Image.fromarray(img).save(tmp_path / "one.png")
    out = load_digit(tmp_path / "one.png")
    assert out.shape == (784,) and out.dtype == np.uint8 and out.max() > 200
