"""A user's image becomes an MNIST-style 28x28 digit, also from a photo."""

import jax
import numpy as np
import pytest
from PIL import Image

import jaxmnist as jm
from jaxmnist.data.images import find_ink, load_digit, to_mnist

# Synthetic phone photos of MNIST test digits. The parameters were fixed as
# realistic values before the pipeline was tested against them:
SIZES = (64, 160, 400)  # the photo's short side in pixels, in turn
ASPECT = (1.0, 1.33)  # long side / short side; portrait or landscape
TILE = (0.45, 0.60)  # the 28x28 digit tile's side / the short side
PAPER = (0.75, 0.95)  # paper brightness where the light is strongest
GRADIENT = (0.20, 0.40)  # fraction of it lost across the photo (any angle)
INK = 0.15  # ink reflectance relative to the paper's
NOISE = 0.03  # Gaussian sensor noise, std of full scale (about 8/255)
OFFSET = 0.20  # digit centre moved up to this fraction of each side
ROTATION = 10.0  # degrees, uniform in +-ROTATION
PHOTOS = 300  # the first 300 MNIST test digits, one photo each


def paper(h: int, w: int, rng) -> np.ndarray:
    """Light paper under a lamp to one side: brightness falls linearly by
    GRADIENT across the image, in a random direction."""
    yy, xx = np.mgrid[0:h, 0:w]
    theta = rng.uniform(0, 2 * np.pi)
    along = (xx - w / 2) * np.cos(theta) + (yy - h / 2) * np.sin(theta)
    along = (along - along.min()) / max(along.max() - along.min(), 1)
    return rng.uniform(*PAPER) * (1 - rng.uniform(*GRADIENT) * along)


def photo(digit: np.ndarray, size: int, rng) -> np.ndarray:
    """An MNIST digit drawn dark on lit paper, scaled, rotated, off-centre,
    with sensor noise: a grayscale image in [0, 1]."""
    h, w = size, int(round(size * rng.uniform(*ASPECT)))
    if rng.random() < 0.5:
        h, w = w, h
    tile = int(round(min(h, w) * rng.uniform(*TILE)))
    d = Image.fromarray(np.asarray(digit, np.float32).reshape(28, 28) / 255)
    d = np.asarray(d.resize((tile, tile), Image.Resampling.BILINEAR).rotate(
        rng.uniform(-ROTATION, ROTATION), Image.Resampling.BILINEAR,
        expand=True))
    top = int(round(h / 2 + rng.uniform(-OFFSET, OFFSET) * h
                    - d.shape[0] / 2))
    left = int(round(w / 2 + rng.uniform(-OFFSET, OFFSET) * w
                     - d.shape[1] / 2))
    ink = np.zeros((h + 2 * tile, w + 2 * tile))  # room to clip at the edges
    ink[tile + top:tile + top + d.shape[0],
        tile + left:tile + left + d.shape[1]] = d
    ink = np.clip(ink[tile:tile + h, tile:tile + w], 0, 1)
    img = paper(h, w, rng) * (1 - (1 - INK) * ink)
    return np.clip(img + rng.normal(0, NOISE, (h, w)), 0, 1)


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


def test_an_off_centre_digit_under_a_lighting_gradient_fills_the_box():
    # the reported case: subtracting the border median left the gradient,
    # the crop spanned the whole photo and the digit came out tiny
    rng = np.random.default_rng(0)
    img = paper(300, 400, rng)
    yy, xx = np.mgrid[0:300, 0:400]
    ring = np.abs(np.hypot(yy - 80, (xx - 300) * 1.5) - 40) < 7  # a "0"
    img = np.clip(img * np.where(ring, INK, 1.0)
                  + rng.normal(0, NOISE, img.shape), 0, 1)
    out = to_mnist(img).reshape(28, 28)
    rows = np.flatnonzero(out.max(1) > 64)
    cols = np.flatnonzero(out.max(0) > 64)
    assert 18 <= rows[-1] - rows[0] + 1 <= 21, rows
    assert 10 <= cols[-1] - cols[0] + 1 <= 16, cols  # the ring is 2:3
    assert out[13:15, 13:15].max() < 64  # its hole is not filled
    assert (out > 0).mean() < 0.4  # the background is black, not grey


@pytest.mark.parametrize("kind", ["gradient", "noise", "blank", "black"])
def test_an_image_without_a_digit_is_all_zero(kind):
    rng = np.random.default_rng(1)
    img = {"gradient": paper(240, 320, rng),
           "noise": np.clip(paper(240, 320, rng)
                            + rng.normal(0, NOISE, (240, 320)), 0, 1),
           "blank": np.ones((30, 30)), "black": np.zeros((50, 40))}[kind]
    assert find_ink(img) is None
    assert not to_mnist(img).any()


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


@pytest.fixture(scope="module")
def mnist_model(mnist_dirs):
    """Adam, 2 epochs on the real MNIST: (params, test images, labels)."""
    data = jm.load_dataset("mnist", *mnist_dirs)
    train = jm.make_train(jm.TrainConfig(optimizer="adam", epochs=2))
    result = jax.jit(train)(jax.random.key(0), jm.make_hparams("relu", 1e-3),
                            data)
    return (result.params, np.asarray(data.test_images[:PHOTOS]),
            np.asarray(data.test_labels[:PHOTOS]))


@pytest.mark.integration
def test_photos_of_digits_are_read_like_the_digits(mnist_model, tmp_path):
    params, digits, labels = mnist_model
    rng = np.random.default_rng(0)
    paths = []
    for i, digit in enumerate(digits):
        img = photo(digit, SIZES[i % len(SIZES)], rng)
        paths.append(tmp_path / f"photo{i}.png")
        Image.fromarray(np.rint(img * 255).astype(np.uint8)).save(paths[-1])
    batch = np.stack([load_digit(p) for p in paths])
    predict = lambda x: np.asarray(jm.class_probabilities(
        params, "relu", x)).argmax(1)
    hits = int((predict(batch) == labels).sum())
    clean = int((predict(digits) == labels).sum())
    print(f"photos: {hits}/{PHOTOS} right; the same digits' 28x28 arrays: "
          f"{clean}/{PHOTOS}")
    assert hits >= 0.9 * PHOTOS, (hits, clean)
    assert hits >= clean - 0.05 * PHOTOS, (hits, clean)
