"""The in-memory Dataset: validation held out by a fixed seed, checks."""

import jax
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


def splits(x, y):
    """The six arrays of a Dataset from one set of images and labels."""
    return x[:60], y[:60], x[60:80], y[60:80], x[80:], y[80:]


CONSTRUCTORS = {
    "Dataset": lambda x, y: jm.Dataset(*splits(x, y)),
    "make_dataset": lambda x, y: jm.make_dataset(x, y, x[:10], y[:10],
                                                 val_size=20),
}


@pytest.mark.parametrize("build", CONSTRUCTORS.values(), ids=CONSTRUCTORS)
def test_float_images_in_unit_range_mean_the_same_pixels(build):
    """Pixels divided by 255 are the same data as the uint8 pixels (the
    model reads uint8 p as p / 255), in both constructors."""
    x, y = arrays()
    as_ints, as_floats = build(x, y), build(x / 255.0, y)
    assert as_ints.train_images.dtype == np.uint8
    assert as_floats.train_images.dtype == np.float64
    for a, b in zip(as_ints[::2], as_floats[::2]):
        np.testing.assert_array_equal(a / 255.0, b)


@pytest.mark.parametrize("build", CONSTRUCTORS.values(), ids=CONSTRUCTORS)
def test_integer_images_become_flat_uint8_and_labels_int32(build):
    x, y = arrays()
    d = build(x.astype(np.int64), y.astype(np.float64))  # whole floats
    assert d.train_images.dtype == np.uint8
    assert d.train_images.shape[1:] == (784,)
    assert d.val_labels.dtype == np.int32
    np.testing.assert_array_equal(d.train_images, build(x, y).train_images)


def with_value(x, index, value):
    x = x.copy()
    x.flat[index] = value
    return x


BAD_IMAGES = [
    (lambda x: x * 1.0, ValueError,
     r"train_images are floats, so each pixel must be in \[0, 1\] "
     r"\(0..255 divided by 255\), got \d+\.0 at image 0, pixel \d+"),
    (lambda x: with_value(x.astype(int), 784 * 3 + 5, 300), ValueError,
     r"train_images are integers, so each pixel must be in 0..255, got 300 "
     r"at image 3, pixel 5"),
    (lambda x: with_value(x.astype(np.int16), 7, -1), ValueError,
     r"must be in 0..255, got -1 at image 0, pixel 7"),
    (lambda x: with_value(x / 255.0, 9, np.nan), ValueError,
     r"must be in \[0, 1\] \(0..255 divided by 255\), got nan at image 0, "
     r"pixel 9"),
    (lambda x: x > 100, TypeError,
     r"train_images must be integers in 0..255 or floats in \[0, 1\], got "
     r"dtype bool"),
    (lambda x: x[:, None], ValueError,
     r"train_images must have shape \[n, pixels\] or \[n, height, width\], "
     r"got \(\d+, 1, 28, 28\)"),
]


BAD_LABELS = [
    (lambda y: with_value(y, 7, 10), ValueError,
     "train_labels must be integers in 0..9, got 10 at index 7"),
    (lambda y: with_value(y, 4, -3), ValueError,
     "train_labels must be integers in 0..9, got -3 at index 4"),
    (lambda y: with_value(y.astype(np.float32), 2, 2.5), ValueError,
     "train_labels must be integers in 0..9, got 2.5 at index 2"),
    (lambda y: y.astype(str), TypeError,
     "train_labels must be integers in 0..9, got dtype <U"),
    (lambda y: y[:, None], ValueError,
     r"train_labels must have shape \[\d+\] \(one per image\), got "
     r"\(\d+, 1\)"),
]


#: (spoil (images, labels), error, message): each bad case above, applied
#: to the images or to the labels.
BAD_ARRAYS = (
    [(lambda x, y, bad=bad: (bad(x), y), error, message)
     for bad, error, message in BAD_IMAGES]
    + [(lambda x, y, bad=bad: (x, bad(y)), error, message)
       for bad, error, message in BAD_LABELS])


@pytest.mark.parametrize("build", CONSTRUCTORS.values(), ids=CONSTRUCTORS)
@pytest.mark.parametrize("spoil,error,message", BAD_ARRAYS)
def test_bad_images_or_labels_are_refused_by_both(build, spoil, error,
                                                  message):
    with pytest.raises(error, match=message):
        build(*spoil(*arrays()))


def test_replace_checks_and_unchecked_does_not():
    x, y = arrays()
    d = jm.Dataset(*splits(x, y))
    with pytest.raises(ValueError, match="val_labels must be integers in "
                       "0..9, got 10 at index 0"):
        d._replace(val_labels=d.val_labels + 10)
    nan = np.full((20, 784), np.nan)
    raw = jm.Dataset.unchecked(*d[:2], nan, *d[3:])
    assert raw.val_images is nan
    # JAX rebuilds the pytree unchecked (here with non-array leaves)
    assert jax.tree.map(lambda a: None, d) == jm.Dataset.unchecked(*[None] * 6)
